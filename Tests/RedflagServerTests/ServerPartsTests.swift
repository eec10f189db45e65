import Foundation
import RedflagServer
import XCTest

/// The small pure parts: stop strings, routes, SSE framing, the FIFO scheduler.
final class ServerPartsTests: XCTestCase {
    func testStopStringsHoldBackPrefixesAndCutAtTheFirstMatch() {
        var m = StopSequenceMatcher(stops: ["END", "\n\n"])
        XCTAssertEqual(m.push("Hello E"), "Hello ")   // "E" may start END
        XCTAssertEqual(m.push("N"), "")
        XCTAssertEqual(m.push("X more"), "ENX more")
        XCTAssertEqual(m.push(" text\n"), " text")
        XCTAssertEqual(m.push("\nafter"), "")
        XCTAssertTrue(m.stopped)
        XCTAssertEqual(m.push("ignored"), "")
        XCTAssertEqual(m.flush(), "")
        var n = StopSequenceMatcher(stops: ["abc"])
        XCTAssertEqual(n.push("xxab"), "xx")
        XCTAssertEqual(n.flush(), "ab")
        var none = StopSequenceMatcher(stops: [])
        XCTAssertEqual(none.push("a"), "a")
    }

    func testRoutes() {
        XCTAssertEqual(Route.resolve(method: "POST", path: "/v1/completions"), .completions)
        XCTAssertEqual(Route.resolve(method: "POST", path: "/v1/chat/completions/"), .chatCompletions)
        XCTAssertEqual(Route.resolve(method: "GET", path: "/v1/models"), .models)
        XCTAssertEqual(Route.resolve(method: "GET", path: "/health"), .health)
        XCTAssertEqual(Route.resolve(method: "GET", path: "/v1/completions"), .methodNotAllowed(allowed: ["POST"]))
        XCTAssertEqual(Route.resolve(method: "DELETE", path: "/health"), .methodNotAllowed(allowed: ["GET"]))
        XCTAssertEqual(Route.resolve(method: "GET", path: "/v2/x"), .notFound)
    }

    func testServerSentEventFraming() {
        XCTAssertEqual(String(decoding: ServerSentEvents.event("{\"a\":1}"), as: UTF8.self), "data: {\"a\":1}\n\n")
        XCTAssertEqual(String(decoding: ServerSentEvents.event("a\nb"), as: UTF8.self), "data: a\ndata: b\n\n")
        XCTAssertEqual(String(decoding: ServerSentEvents.chunk(Array(repeating: 65, count: 26)), as: UTF8.self),
                       "1a\r\n" + String(repeating: "A", count: 26) + "\r\n")
        XCTAssertEqual(ServerSentEvents.chunk([]), [])
        let r = HTTPResponse.json(404, Array("{}".utf8)).bytes(keepAlive: false)
        XCTAssertEqual(String(decoding: r, as: UTF8.self),
                       "HTTP/1.1 404 Not Found\r\nServer: redflag\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
    }

    func testSchedulerIsFIFOAndBounded() throws {
        let s = GenerationScheduler(capacity: 2)
        let first = try s.acquire()
        final class Order: @unchecked Sendable { var ids: [Int] = [] }
        let order = Order()
        let lock = NSLock()
        let group = DispatchGroup()
        for i in 0..<2 {
            group.enter()
            Thread {
                let slot = try! s.acquire()
                lock.lock(); order.ids.append(i); lock.unlock()
                s.release(slot)
                group.leave()
            }.start()
            while s.state.queued != i + 1 { usleep(1000) }    // enqueue in a known order
        }
        XCTAssertThrowsError(try s.acquire()) { XCTAssertEqual($0 as? GenerationScheduler.SchedulerError, .queueFull(capacity: 2)) }
        XCTAssertThrowsError(try GenerationScheduler(capacity: 0).acquireAfterHolding()) { _ in }
        s.release(first)
        group.wait()
        XCTAssertEqual(order.ids, [0, 1])
        XCTAssertEqual(s.state.running, false)
        // An abandoned waiter leaves the queue.
        let held = try s.acquire()
        XCTAssertThrowsError(try s.acquire(isAbandoned: { true })) { XCTAssertEqual($0 as? GenerationScheduler.SchedulerError, .abandoned) }
        XCTAssertEqual(s.state.queued, 0)
        s.release(held)
    }
}

extension GenerationScheduler {
    /// With capacity 0 the second caller is refused while the first holds the slot.
    fileprivate func acquireAfterHolding() throws {
        let slot = try acquire()
        defer { release(slot) }
        _ = try acquire()
    }
}
