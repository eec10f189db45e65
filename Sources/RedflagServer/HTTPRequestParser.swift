import Foundation

/// Parses one HTTP/1.x request from the start of a byte buffer: request line, header fields, and a
/// `Content-Length` body. Pure and total: any input gives `.incomplete`, `.complete` or an `HTTPParseError`
/// (never a trap), so it is safe on hostile bytes and fuzzable.
///
/// Accepted: `METHOD SP target SP HTTP/1.0|1.1` with an origin-form target (`/…`) or `*`; CRLF or bare LF line
/// ends; leading empty lines before the request line (RFC 9112 §2.2). Rejected: obs-fold, whitespace before
/// the colon, control characters in values, `Transfer-Encoding` (chunked) request bodies, conflicting
/// `Content-Length`s, and anything over the limits.
public struct HTTPRequestParser: Sendable {
    /// Bounds on what one request may occupy.
    public struct Limits: Sendable, Equatable {
        /// Request line plus header fields, in bytes (terminators included).
        public var maxHeaderBytes: Int
        /// Header fields per request.
        public var maxHeaderCount: Int
        /// Body bytes (the `Content-Length` value).
        public var maxBodyBytes: Int

        public init(maxHeaderBytes: Int = 16 << 10, maxHeaderCount: Int = 64, maxBodyBytes: Int = 1 << 20) {
            self.maxHeaderBytes = maxHeaderBytes
            self.maxHeaderCount = maxHeaderCount
            self.maxBodyBytes = maxBodyBytes
        }
    }

    /// The outcome of looking at the bytes received so far.
    public enum Result: Equatable {
        /// More bytes are needed (the limits are not exceeded yet).
        case incomplete
        /// A whole request, and how many bytes of the buffer it used (the rest belongs to the next request).
        case complete(HTTPRequest, consumed: Int)
    }

    public var limits: Limits
    /// Methods that must carry `Content-Length` (411 otherwise).
    public var methodsWithBody: Set<String> = ["POST", "PUT", "PATCH"]

    public init(limits: Limits = Limits()) { self.limits = limits }

    /// Parses the request at the start of `bytes`.
    public func parse(_ bytes: [UInt8]) throws -> Result {
        guard let (head, headerEnd, bodyLength) = try parseHead(bytes) else { return .incomplete }
        guard bytes.count - headerEnd >= bodyLength else { return .incomplete }
        var request = head
        request.body = Array(bytes[headerEnd..<(headerEnd + bodyLength)])
        return .complete(request, consumed: headerEnd + bodyLength)
    }

    /// The request line and header fields (body empty) once they are complete, with the offset where the body
    /// starts and its length; nil while the head is incomplete. Lets a server answer `Expect: 100-continue`.
    public func parseHead(_ bytes: [UInt8]) throws -> (request: HTTPRequest, bodyOffset: Int, bodyLength: Int)? {
        let cr: UInt8 = 13, lf: UInt8 = 10
        var start = 0
        while start < bytes.count && (bytes[start] == cr || bytes[start] == lf) {
            start += 1
            if start > limits.maxHeaderBytes { throw HTTPParseError.headersTooLarge(limit: limits.maxHeaderBytes) }
        }
        // The header block ends at the first empty line: "\n\n" or "\n\r\n".
        var blockEnd = -1, headerEnd = -1
        var i = start
        let scanLimit = min(bytes.count, start + limits.maxHeaderBytes + 2)
        while i < scanLimit {
            if bytes[i] == lf {
                if i + 1 < bytes.count && bytes[i + 1] == lf { blockEnd = i; headerEnd = i + 2; break }
                if i + 2 < bytes.count && bytes[i + 1] == cr && bytes[i + 2] == lf { blockEnd = i; headerEnd = i + 3; break }
            }
            i += 1
        }
        if headerEnd < 0 {
            if bytes.count - start > limits.maxHeaderBytes { throw HTTPParseError.headersTooLarge(limit: limits.maxHeaderBytes) }
            return nil
        }
        if headerEnd - start > limits.maxHeaderBytes { throw HTTPParseError.headersTooLarge(limit: limits.maxHeaderBytes) }

        // Lines of the block (the request line's or last field's own "\n" is at blockEnd).
        var lines: [ArraySlice<UInt8>] = []
        var lineStart = start
        for j in start...blockEnd where bytes[j] == lf {
            var line = bytes[lineStart..<j]
            if line.last == cr { line = line.dropLast() }
            if line.contains(cr) { throw HTTPParseError.malformedHeader("bare CR inside a line") }
            lines.append(line)
            lineStart = j + 1
        }
        guard let requestLine = lines.first else { throw HTTPParseError.malformedRequestLine("empty") }
        let (method, target, minor) = try Self.parseRequestLine(requestLine)

        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() {
            if headers.count == limits.maxHeaderCount { throw HTTPParseError.tooManyHeaders(limit: limits.maxHeaderCount) }
            headers.append(try Self.parseField(line))
        }
        let request = HTTPRequest(method: method, target: target, minorVersion: minor, headers: headers)

        if let te = request.header("Transfer-Encoding") { throw HTTPParseError.transferEncodingUnsupported(Self.printable(te)) }
        var length: Int?
        for value in request.headerValues("Content-Length") {
            for part in value.split(separator: ",", omittingEmptySubsequences: false) {
                let digits = part.trimmingCharacters(in: [" ", "\t"])
                guard !digits.isEmpty, digits.count <= 18, digits.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let n = Int(digits) else {
                    throw HTTPParseError.invalidContentLength("'\(Self.printable(value))' is not a decimal number of bytes")
                }
                if let l = length, l != n { throw HTTPParseError.invalidContentLength("conflicting values \(l) and \(n)") }
                length = n
            }
        }
        if length == nil && methodsWithBody.contains(method) { throw HTTPParseError.lengthRequired }
        let bodyLength = length ?? 0
        if bodyLength > limits.maxBodyBytes { throw HTTPParseError.bodyTooLarge(length: bodyLength, limit: limits.maxBodyBytes) }
        return (request, headerEnd, bodyLength)
    }

    /// `tchar` of RFC 9110 §5.6.2.
    static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(b)
        }
    }

    static func parseRequestLine(_ line: ArraySlice<UInt8>) throws -> (String, String, Int) {
        let parts = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            throw HTTPParseError.malformedRequestLine("expected 'METHOD TARGET HTTP/1.1', found \(parts.count) space-separated parts")
        }
        let (m, t, v) = (parts[0], parts[1], parts[2])
        guard !m.isEmpty, m.count <= 32, m.allSatisfy(isTokenByte) else { throw HTTPParseError.malformedRequestLine("invalid method") }
        guard !t.isEmpty, t.count <= 8192, t.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw HTTPParseError.malformedRequestLine("invalid request target")
        }
        let target = String(decoding: t, as: UTF8.self)
        guard target.hasPrefix("/") || target == "*" else {
            throw HTTPParseError.malformedRequestLine("request target must be a path starting with '/'")
        }
        let version = String(decoding: v, as: UTF8.self)
        switch version {
        case "HTTP/1.1": return (String(decoding: m, as: UTF8.self), target, 1)
        case "HTTP/1.0": return (String(decoding: m, as: UTF8.self), target, 0)
        default:
            if v.count == 8, version.hasPrefix("HTTP/"), v.allSatisfy({ $0 >= 0x21 && $0 < 0x7F }) {
                throw HTTPParseError.unsupportedVersion(version)
            }
            throw HTTPParseError.malformedRequestLine("invalid protocol version")
        }
    }

    static func parseField(_ line: ArraySlice<UInt8>) throws -> (name: String, value: String) {
        guard let first = line.first else { throw HTTPParseError.malformedHeader("empty line") }
        if first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
            throw HTTPParseError.malformedHeader("line folding (obs-fold) is not accepted")
        }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { throw HTTPParseError.malformedHeader("no ':' in a field line") }
        let name = line[line.startIndex..<colon]
        guard !name.isEmpty, name.allSatisfy(isTokenByte) else {
            throw HTTPParseError.malformedHeader("invalid field name (whitespace before ':' or a non-token character)")
        }
        var value = line[(colon + 1)...]
        while let b = value.first, b == 0x20 || b == 0x09 { value = value.dropFirst() }
        while let b = value.last, b == 0x20 || b == 0x09 { value = value.dropLast() }
        guard value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
            throw HTTPParseError.malformedHeader("control character in the value of '\(String(decoding: name, as: UTF8.self))'")
        }
        return (String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
    }

    /// A header value shortened and stripped of non-ASCII for an error message.
    static func printable(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.prefix(64).map { $0.isASCII ? $0 : "?" }))
    }
}
