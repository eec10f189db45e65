import Foundation

/// An error answered in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}` with an HTTP status.
public struct APIError: Error, Equatable, CustomStringConvertible {
    public var status: Int
    public var message: String
    /// OpenAI's error type: `invalid_request_error`, `authentication_error`, `server_error`, …
    public var type: String
    public var param: String?
    public var code: String?
    /// Extra header fields (`Retry-After`, `Allow`, `WWW-Authenticate`).
    public var headers: [(name: String, value: String)] = []

    public init(status: Int, message: String, type: String = "invalid_request_error", param: String? = nil, code: String? = nil,
                headers: [(name: String, value: String)] = []) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers
    }

    public var description: String { "\(status) \(type): \(message)" }

    /// The error object (without the HTTP status).
    public var json: [String: Any] {
        ["error": ["message": message, "type": type, "param": param ?? NSNull(), "code": code ?? NSNull()] as [String: Any]]
    }

    /// The whole response.
    public var response: HTTPResponse { .json(status, JSONText.bytes(json), headers: headers) }

    public static func == (a: APIError, b: APIError) -> Bool {
        a.status == b.status && a.message == b.message && a.type == b.type && a.param == b.param && a.code == b.code
    }

    static func badRequest(_ e: OpenAIRequestError) -> APIError {
        APIError(status: 400, message: e.description, param: e.param, code: { switch e {
        case .invalidJSON, .notAnObject: return "invalid_json"
        case .unknownField: return "unknown_field"
        case .missingField: return "missing_field"
        case .wrongType, .invalidValue: return "invalid_value"
        } }())
    }

    static func http(_ e: HTTPParseError) -> APIError {
        APIError(status: e.status, message: e.description, code: "invalid_http")
    }
}

/// Compact JSON text of property-list-like values (`[String: Any]`, arrays, strings, numbers, `NSNull`).
enum JSONText {
    static func string(_ value: Any) -> String { String(decoding: bytes(value), as: UTF8.self) }

    static func bytes(_ value: Any) -> [UInt8] {
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]) else {
            return Array(#"{"error":{"message":"response encoding failed","type":"server_error","param":null,"code":null}}"#.utf8)
        }
        return [UInt8](data)
    }
}
