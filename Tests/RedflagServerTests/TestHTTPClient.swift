#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A minimal HTTP/1.1 client over a blocking loopback socket, for driving the server in tests: raw writes,
/// response heads, `Content-Length` and chunked bodies, server-sent events.
final class TestHTTPClient {
    struct Response {
        var status: Int
        /// Lower-cased names.
        var headers: [String: String]
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
        var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]) ?? [:] }
        /// `error.message` of an OpenAI error body.
        var errorMessage: String { ((json["error"] as? [String: Any])?["message"] as? String) ?? "" }
    }

    struct ClientError: Error, CustomStringConvertible { let description: String }

    let fd: Int32
    private var buffer: [UInt8] = []

    init(port: Int, timeout: Double = 120) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { Glibc.close(fd); throw ClientError(description: "connect to port \(port) failed: errno \(errno)") }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { Glibc.close(fd) }

    /// Closes at once with a reset (SO_LINGER 0), as a client that gives up does.
    func abort() {
        var l = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        shutdown(fd, Int32(SHUT_RDWR))
    }

    func send(_ bytes: [UInt8]) throws {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, $0.count - off, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw ClientError(description: "send failed: errno \(errno)") }
            off += n
        }
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// Sends a request with `Content-Length` (when there is a body) and `Host`.
    func sendRequest(_ method: String, _ path: String, body: String? = nil, headers: [String: String] = [:]) throws {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        if let b = body { head += "Content-Type: application/json\r\nContent-Length: \(b.utf8.count)\r\n" }
        try send(head + "\r\n" + (body ?? ""))
    }

    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 { buffer += chunk[0..<n]; return true }
        if n == 0 { return false }
        throw ClientError(description: "recv failed: errno \(errno)")
    }

    private func readLine() throws -> String {
        while true {
            if let i = buffer.firstIndex(of: 10) {
                var line = Array(buffer[..<i])
                buffer.removeFirst(i + 1)
                if line.last == 13 { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            guard try fill() else { throw ClientError(description: "connection closed mid-line") }
        }
    }

    private func readExactly(_ n: Int) throws -> [UInt8] {
        while buffer.count < n { guard try fill() else { throw ClientError(description: "connection closed mid-body") } }
        defer { buffer.removeFirst(n) }
        return Array(buffer[..<n])
    }

    /// Status and headers of the next response.
    func readHead() throws -> (Int, [String: String]) {
        let statusLine = try readLine()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, let status = Int(parts[1]) else { throw ClientError(description: "bad status line '\(statusLine)'") }
        var headers: [String: String] = [:]
        while true {
            let line = try readLine()
            if line.isEmpty { break }
            guard let c = line.firstIndex(of: ":") else { throw ClientError(description: "bad header '\(line)'") }
            headers[line[..<c].lowercased()] = line[line.index(after: c)...].trimmingCharacters(in: .whitespaces)
        }
        return (status, headers)
    }

    /// The next chunk of a chunked body (nil after the last chunk).
    func readChunk() throws -> [UInt8]? {
        let sizeLine = try readLine()
        guard let size = Int(sizeLine.split(separator: ";")[0], radix: 16) else { throw ClientError(description: "bad chunk size '\(sizeLine)'") }
        if size == 0 { _ = try readLine(); return nil }
        let data = try readExactly(size)
        guard try readLine().isEmpty else { throw ClientError(description: "chunk not followed by CRLF") }
        return data
    }

    /// The next whole response.
    func readResponse() throws -> Response {
        let (status, headers) = try readHead()
        var body: [UInt8] = []
        if headers["transfer-encoding"]?.lowercased() == "chunked" {
            while let c = try readChunk() { body += c }
        } else if let l = headers["content-length"], let n = Int(l) {
            body = try readExactly(n)
        } else {
            while try fill() {}
            body = buffer
            buffer = []
        }
        return Response(status: status, headers: headers, body: body)
    }

    /// One request on a fresh connection.
    static func request(port: Int, _ method: String, _ path: String, body: String? = nil, headers: [String: String] = [:]) throws -> Response {
        let c = try TestHTTPClient(port: port)
        try c.sendRequest(method, path, body: body, headers: headers)
        return try c.readResponse()
    }

    /// The `data:` payloads of an event-stream body, in order.
    static func events(_ body: [UInt8]) -> [String] {
        String(decoding: body, as: UTF8.self).components(separatedBy: "\n\n").compactMap { block in
            let lines = block.split(separator: "\n").filter { $0.hasPrefix("data: ") }.map { String($0.dropFirst(6)) }
            return lines.isEmpty ? nil : lines.joined(separator: "\n")
        }
    }

    static func json(_ text: String) -> [String: Any] {
        ((try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]) ?? [:]
    }
}
