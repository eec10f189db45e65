#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RedflagTestSupport
import XCTest

/// `redflag serve`: `--port 0` prints the chosen port, the server answers, a request is logged, SIGTERM stops it
/// cleanly; bad options are refused before loading.
final class ServeCommandTests: XCTestCase {
    override func setUpWithError() throws {
        guard TestPaths.modelExists else { throw XCTSkip(TestPaths.modelMissingMessage) }
    }

    /// `GET path` on a fresh loopback connection; the raw response text.
    func get(port: Int, _ path: String) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { throw XCTSkip("connect failed") }
        let req = Array("GET \(path) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8)
        _ = req.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    func testPortZeroPrintsThePortServesAndStopsOnSIGTERM() throws {
        let p = Process()
        p.executableURL = CLITests.binary
        p.arguments = ["serve", "--port", "0", "-t", "2", "--ctx", "256"]
        p.currentDirectoryURL = TestPaths.repoRoot
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        var line = ""
        let deadline = Date(timeIntervalSinceNow: 120)
        while !line.contains("\n") && Date() < deadline {
            let d = out.fileHandleForReading.availableData
            if d.isEmpty { break }
            line += String(decoding: d, as: UTF8.self)
        }
        guard let r = line.range(of: #"listening on http://127\.0\.0\.1:(\d+)"#, options: .regularExpression),
              let port = Int(line[r].split(separator: ":").last!) else {
            p.terminate()
            return XCTFail("no listening line: '\(line)'")
        }
        XCTAssertGreaterThan(port, 0)
        let health = try get(port: port, "/health")
        XCTAssertTrue(health.hasPrefix("HTTP/1.1 200 OK\r\n"), health)
        XCTAssertTrue(health.contains(#""status":"ok""#), health)
        kill(p.processIdentifier, SIGTERM)
        let log = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        let text = String(decoding: log, as: UTF8.self)
        XCTAssertTrue(text.contains("GET /health 200 tokens=0 ms="), text)
        XCTAssertTrue(text.contains("stopping (signal 15)"), text)
    }

    func testBadOptionsAreRefused() throws {
        let p = Process()
        p.executableURL = CLITests.binary
        p.arguments = ["serve", "--port", "70000"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = Pipe()
        try p.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertNotEqual(p.terminationStatus, 0)
        XCTAssertTrue(text.contains("--port '70000': expected 0...65535"), text)
    }
}
