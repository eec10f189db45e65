/// Why bytes are not an acceptable HTTP/1.x request; each case maps to the status the server answers with
/// (the connection is closed afterwards, since the stream position is no longer trustworthy).
public enum HTTPParseError: Error, Equatable, CustomStringConvertible {
    /// The request line is not `METHOD SP origin-form-target SP HTTP/1.x`.
    case malformedRequestLine(String)
    /// A header line has no colon, whitespace before the colon, an invalid name, control characters or obs-fold.
    case malformedHeader(String)
    /// The protocol is not HTTP/1.0 or HTTP/1.1.
    case unsupportedVersion(String)
    /// The request line and headers exceed the byte limit.
    case headersTooLarge(limit: Int)
    /// More header fields than allowed.
    case tooManyHeaders(limit: Int)
    /// `Content-Length` is not a decimal number, or several differ, or it comes with `Transfer-Encoding`.
    case invalidContentLength(String)
    /// A method that carries a body (POST, PUT, PATCH) without `Content-Length`.
    case lengthRequired
    /// `Transfer-Encoding` (e.g. chunked) request bodies are not accepted; send `Content-Length`.
    case transferEncodingUnsupported(String)
    /// `Content-Length` above the body limit.
    case bodyTooLarge(length: Int, limit: Int)

    /// The HTTP status for this error: 400, 411, 413, 431 or 505.
    public var status: Int {
        switch self {
        case .malformedRequestLine, .malformedHeader, .invalidContentLength: return 400
        case .unsupportedVersion: return 505
        case .headersTooLarge, .tooManyHeaders: return 431
        case .lengthRequired, .transferEncodingUnsupported: return 411
        case .bodyTooLarge: return 413
        }
    }

    public var description: String {
        switch self {
        case let .malformedRequestLine(s): return "malformed request line: \(s)"
        case let .malformedHeader(s): return "malformed header field: \(s)"
        case let .unsupportedVersion(v): return "unsupported protocol '\(v)': expected HTTP/1.0 or HTTP/1.1"
        case let .headersTooLarge(limit): return "request line and headers exceed \(limit) bytes"
        case let .tooManyHeaders(limit): return "more than \(limit) header fields"
        case let .invalidContentLength(s): return "invalid Content-Length: \(s)"
        case .lengthRequired: return "a request body needs a Content-Length header"
        case let .transferEncodingUnsupported(te):
            return "Transfer-Encoding '\(te)' is not supported for request bodies: send the body with Content-Length"
        case let .bodyTooLarge(length, limit): return "request body of \(length) bytes exceeds the limit of \(limit) bytes"
        }
    }
}
