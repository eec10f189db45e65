import Foundation

/// One parsed HTTP/1.x request: request line, header fields in order, and the body (`Content-Length` bytes).
public struct HTTPRequest: Sendable, Equatable {
    /// The method token as sent (`GET`, `POST`, …; case-sensitive per RFC 9110).
    public var method: String
    /// The request target as sent (origin-form: path and optional query).
    public var target: String
    /// `target` up to the first `?`.
    public var path: String
    /// `target` after the first `?`, if any.
    public var query: String?
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    public var minorVersion: Int
    /// Header fields in arrival order; names as sent, values with surrounding whitespace removed.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(method: String, target: String, minorVersion: Int = 1, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.method = method
        self.target = target
        if let q = target.firstIndex(of: "?") {
            path = String(target[..<q])
            query = String(target[target.index(after: q)...])
        } else {
            path = target
            query = nil
        }
        self.minorVersion = minorVersion
        self.headers = headers
        self.body = body
    }

    /// The first value of header `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        let n = name.lowercased()
        return headers.first { $0.name.lowercased() == n }?.value
    }

    /// Every value of header `name` (case-insensitive), in order.
    public func headerValues(_ name: String) -> [String] {
        let n = name.lowercased()
        return headers.filter { $0.name.lowercased() == n }.map(\.value)
    }

    /// Whether the connection stays open after the response: HTTP/1.1 unless `Connection: close`,
    /// HTTP/1.0 only with `Connection: keep-alive`.
    public var keepAlive: Bool {
        let tokens = headerValues("Connection").flatMap { $0.lowercased().split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
        if minorVersion >= 1 { return !tokens.contains("close") }
        return tokens.contains("keep-alive")
    }

    public static func == (a: HTTPRequest, b: HTTPRequest) -> Bool {
        a.method == b.method && a.target == b.target && a.minorVersion == b.minorVersion && a.body == b.body
            && a.headers.map(\.name) == b.headers.map(\.name) && a.headers.map(\.value) == b.headers.map(\.value)
    }
}
