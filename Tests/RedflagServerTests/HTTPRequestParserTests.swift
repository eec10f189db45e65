import Foundation
import RedflagServer
import RedflagTestSupport
import XCTest

/// `HTTPRequestParser`: whole requests, partial input, every rejection and its status, hostile bytes.
final class HTTPRequestParserTests: XCTestCase {
    let parser = HTTPRequestParser(limits: .init(maxHeaderBytes: 1024, maxHeaderCount: 8, maxBodyBytes: 100))

    func parse(_ s: String) throws -> HTTPRequestParser.Result { try parser.parse(Array(s.utf8)) }

    func status(_ s: String) -> Int? {
        do { _ = try parse(s); return nil } catch let e as HTTPParseError { return e.status } catch { return -1 }
    }

    func testCompleteRequestWithBodyAndPipelinedRest() throws {
        let raw = "POST /v1/completions?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nX-Y:  v w \r\n\r\nhelloGET /health HTTP/1.1\r\n\r\n"
        guard case let .complete(r, consumed) = try parse(raw) else { return XCTFail("incomplete") }
        XCTAssertEqual(r.method, "POST")
        XCTAssertEqual(r.path, "/v1/completions")
        XCTAssertEqual(r.query, "x=1")
        XCTAssertEqual(r.minorVersion, 1)
        XCTAssertEqual(r.header("x-y"), "v w")
        XCTAssertEqual(r.header("content-length"), "5")
        XCTAssertEqual(String(decoding: r.body, as: UTF8.self), "hello")
        XCTAssertTrue(r.keepAlive)
        let rest = Array(raw.utf8)[consumed...]
        guard case let .complete(next, n2) = try parser.parse(Array(rest)) else { return XCTFail("second request incomplete") }
        XCTAssertEqual(next.method, "GET")
        XCTAssertEqual(next.path, "/health")
        XCTAssertEqual(n2, rest.count)
    }

    func testEveryPrefixIsIncomplete() throws {
        let raw = Array("POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}".utf8)
        for n in 0..<raw.count { XCTAssertEqual(try parser.parse(Array(raw[0..<n])), .incomplete, "prefix \(n)") }
        guard case .complete = try parser.parse(raw) else { return XCTFail() }
    }

    func testBareLFAndLeadingEmptyLinesAndHTTP10() throws {
        guard case let .complete(r, _) = try parse("\r\n\nGET / HTTP/1.0\nConnection: keep-alive\n\n") else { return XCTFail() }
        XCTAssertEqual(r.minorVersion, 0)
        XCTAssertTrue(r.keepAlive)
        guard case let .complete(r2, _) = try parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n") else { return XCTFail() }
        XCTAssertFalse(r2.keepAlive)
    }

    func testRejectionsMapToStatuses() {
        XCTAssertEqual(status("GET /\r\n\r\n"), 400)                                   // two parts
        XCTAssertEqual(status("GET  / HTTP/1.1\r\n\r\n"), 400)                         // double space
        XCTAssertEqual(status("G(T / HTTP/1.1\r\n\r\n"), 400)                          // bad method
        XCTAssertEqual(status("GET http://x/ HTTP/1.1\r\n\r\n"), 400)                  // not origin-form
        XCTAssertEqual(status("GET / HTTP/2.0\r\n\r\n"), 505)
        XCTAssertEqual(status("GET / FOO\r\n\r\n"), 400)
        XCTAssertEqual(status("GET / HTTP/1.1\r\nNo colon\r\n\r\n"), 400)
        XCTAssertEqual(status("GET / HTTP/1.1\r\nA : b\r\n\r\n"), 400)                 // space before colon
        XCTAssertEqual(status("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n"), 400)       // obs-fold
        XCTAssertEqual(status("GET / HTTP/1.1\r\nA: b\u{01}c\r\n\r\n"), 400)           // control character
        XCTAssertEqual(status("POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n"), 400)
        XCTAssertEqual(status("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400)
        XCTAssertEqual(status("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"), 400)
        XCTAssertEqual(status("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n"), 400)
        XCTAssertEqual(status("POST / HTTP/1.1\r\n\r\n"), 411)
        XCTAssertEqual(status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), 411)
        XCTAssertEqual(status("POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n"), 413)
        XCTAssertEqual(status("GET / HTTP/1.1\r\n" + (0..<9).map { "H\($0): v\r\n" }.joined() + "\r\n"), 431)
        XCTAssertEqual(status("GET / HTTP/1.1\r\nBig: " + String(repeating: "a", count: 2000)), 431)   // no end yet, too long
        XCTAssertEqual(status("GET / HTTP/1.1\r\nBig: " + String(repeating: "a", count: 2000) + "\r\n\r\n"), 431)
        XCTAssertNil(status("POST / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\nx"))      // equal list values are one length
    }

    /// Random mutations of valid requests and random bytes: the parser returns or throws, never traps.
    func testHostileBytesNeverTrap() {
        var rng = TestRNG(seed: 7)
        let seeds = ["POST /v1/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n{\"a\":1234}",
                     "GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"].map { Array($0.utf8) }
        for i in 0..<20_000 {
            var b = seeds[i % 2]
            if i % 5 == 0 {
                b = (0..<rng.below(200)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            } else {
                for _ in 0...rng.below(4) {
                    switch rng.below(3) {
                    case 0: b[rng.below(b.count)] = UInt8(truncatingIfNeeded: rng.next())
                    case 1: b.insert(UInt8(truncatingIfNeeded: rng.next()), at: rng.below(b.count + 1))
                    default: if b.count > 1 { b.remove(at: rng.below(b.count)) }
                    }
                }
            }
            _ = try? parser.parse(b)
        }
    }
}
