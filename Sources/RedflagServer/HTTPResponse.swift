/// A complete HTTP/1.1 response with a `Content-Length` body, serialized by `bytes(keepAlive:)`.
public struct HTTPResponse: Sendable, Equatable {
    public var status: Int
    /// Extra header fields (`Content-Length`, `Connection` and `Server` are added by `bytes`).
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON response (`Content-Type: application/json`).
    public static func json(_ status: Int, _ body: [UInt8], headers: [(name: String, value: String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "application/json")] + headers, body: body)
    }

    /// Status line, header fields and body.
    public func bytes(keepAlive: Bool) -> [UInt8] {
        var head = "HTTP/1.1 \(status) \(Self.reason(status))\r\nServer: redflag\r\n"
        for h in headers { head += "\(h.name): \(h.value)\r\n" }
        head += "Content-Length: \(body.count)\r\nConnection: \(keepAlive ? "keep-alive" : "close")\r\n\r\n"
        return Array(head.utf8) + body
    }

    /// The head of a streamed response: `Transfer-Encoding: chunked` for HTTP/1.1 (the connection may be kept),
    /// no length and `Connection: close` for HTTP/1.0 (the body ends when the connection does).
    public static func streamHead(status: Int, headers: [(name: String, value: String)], chunked: Bool, keepAlive: Bool) -> [UInt8] {
        var head = "HTTP/1.1 \(status) \(reason(status))\r\nServer: redflag\r\n"
        for h in headers { head += "\(h.name): \(h.value)\r\n" }
        head += chunked ? "Transfer-Encoding: chunked\r\nConnection: \(keepAlive ? "keep-alive" : "close")\r\n\r\n" : "Connection: close\r\n\r\n"
        return Array(head.utf8)
    }

    /// The reason phrase of a status code.
    public static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 204: return "No Content"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 411: return "Length Required"
        case 413: return "Content Too Large"
        case 415: return "Unsupported Media Type"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 503: return "Service Unavailable"
        case 505: return "HTTP Version Not Supported"
        default: return "Status \(status)"
        }
    }

    public static func == (a: HTTPResponse, b: HTTPResponse) -> Bool {
        a.status == b.status && a.body == b.body
            && a.headers.map(\.name) == b.headers.map(\.name) && a.headers.map(\.value) == b.headers.map(\.value)
    }
}
