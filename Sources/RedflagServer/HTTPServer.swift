#if canImport(Glibc)
import Glibc
#endif
import Foundation
#if canImport(Logging)
import Logging
#endif
import RedflagGeneration

/// `redflag serve`: a small HTTP/1.1 server on POSIX sockets with OpenAI-compatible endpoints.
///
/// - Threads: one accept thread, and one thread per connection (at most `maxConnections`; one more is
///   answered 503 and closed). A connection serves requests one after another (keep-alive, idle timeout
///   `keepAliveTimeout`); pipelined requests are answered in order.
/// - Scheduling: one model and **one sequential generation slot** (no batching). Requests wait for it in a
///   fair FIFO queue of at most `queueSize`; a request arriving when the queue is full gets 503 with
///   `Retry-After`. A queued request whose client disconnects leaves the queue without running.
/// - Cancellation: the generating thread probes its socket between tokens (and a streamed write that fails
///   counts too); when the client is gone the generation stops at the next token and the slot is freed.
/// - `stop()`: stops accepting, lets running requests finish for `shutdownGrace` seconds, then cancels them.
public final class HTTPServer: @unchecked Sendable {
    public let configuration: ServerConfiguration
    public let engine: CompletionEngine
    public let scheduler: GenerationScheduler
    let logger: Logger
    let stats = ServerStats()
    let parser: HTTPRequestParser

    private let lock = NSLock()
    private var listenFD: Int32 = -1
    private var stopping = false
    private var openConnections = 0
    /// Cancellation tokens of running generations (cancelled when the grace period of `stop()` runs out).
    private var running: [ObjectIdentifier: CancellationToken] = [:]
    /// Set when the grace period of `stop()` ran out: generations that start later are cancelled at once.
    private var cancelAll = false
    private let stopped = DispatchSemaphore(value: 0)
    /// The bound port (useful with `port: 0`); valid after `start()`.
    public private(set) var port = 0

    public init(configuration: ServerConfiguration, engine: CompletionEngine, logger: Logger = Logger(label: "redflag.server")) {
        self.configuration = configuration
        self.engine = engine
        self.logger = logger
        scheduler = GenerationScheduler(capacity: configuration.queueSize)
        parser = HTTPRequestParser(limits: configuration.parserLimits)
    }

    /// Counters since start.
    public var statistics: ServerStatsSnapshot { stats.snapshot }

    /// Binds, listens and starts the accept thread; returns once the port is open.
    public func start() throws {
        let (fd, bound) = try Socket.listen(host: configuration.host, port: configuration.port)
        listenFD = fd
        port = bound
        let t = Thread { [self] in acceptLoop() }
        t.name = "redflag-accept"
        t.start()
    }

    var isStopping: Bool { lock.lock(); defer { lock.unlock() }; return stopping }

    /// Graceful stop: no new connections; running requests get `shutdownGrace` seconds, then are cancelled.
    /// Returns when every connection has closed.
    public func stop() {
        lock.lock()
        let already = stopping
        stopping = true
        lock.unlock()
        if already { waitUntilStopped(); return }
        let deadline = Date(timeIntervalSinceNow: configuration.shutdownGrace)
        while Date() < deadline && connectionCount > 0 { usleep(20_000) }
        lock.lock()
        cancelAll = true
        for token in running.values { token.cancel() }
        lock.unlock()
        let hard = Date(timeIntervalSinceNow: 10)
        while Date() < hard && connectionCount > 0 { usleep(20_000) }
        stopped.signal()
    }

    /// Blocks until `stop()` has finished.
    public func waitUntilStopped() {
        stopped.wait()
        stopped.signal()
    }

    private var connectionCount: Int { lock.lock(); defer { lock.unlock() }; return openConnections }

    private func acceptLoop() {
        while !isStopping {
            if Socket.poll(listenFD, events: Int16(POLLIN), milliseconds: 200) == 0 { continue }
            let fd = accept(listenFD, nil, nil)
            if fd < 0 { continue }
            Socket.configureAccepted(fd, sendTimeout: configuration.requestTimeout)
            let conn = Connection(fd: fd)
            lock.lock()
            let admitted = openConnections < configuration.maxConnections && !stopping
            if admitted { openConnections += 1 }
            lock.unlock()
            guard admitted else {
                stats.update { $0.rejectedConnections += 1 }
                let e = APIError(status: 503, message: "too many open connections (\(configuration.maxConnections)); retry later",
                                 type: "server_error", code: "too_many_connections", headers: [("Retry-After", "1")])
                conn.write(e.response.bytes(keepAlive: false))
                conn.close()
                continue
            }
            stats.update { $0.openConnections += 1 }
            let t = Thread { [self] in
                serve(conn)
                conn.close()
                lock.lock()
                openConnections -= 1
                lock.unlock()
                stats.update { $0.openConnections -= 1 }
            }
            t.stackSize = 8 << 20     // generation runs on this thread
            t.start()
        }
        close(listenFD)
    }

    /// Requests of one connection, in order, until it closes, idles out, errs or the server stops.
    private func serve(_ conn: Connection) {
        while true {
            let request: HTTPRequest
            do {
                guard let r = try readRequest(conn) else { return }
                request = r
            } catch let e as HTTPParseError {
                let api = APIError.http(e)
                conn.write(api.response.bytes(keepAlive: false))
                logger.info("- - \(api.status) (\(e))")
                return
            } catch { return }
            let keepAlive = request.keepAlive && !isStopping
            let keep = handle(request, on: conn, keepAlive: keepAlive)
            if !keep || !keepAlive || conn.isClosed { return }
        }
    }

    /// The next whole request, or nil when the connection ended quietly (closed, idle timeout, stopping).
    private func readRequest(_ conn: Connection) throws -> HTTPRequest? {
        var sentContinue = false
        while true {
            if !conn.buffer.isEmpty {
                if case let .complete(request, consumed) = try parser.parse(conn.buffer) {
                    conn.buffer.removeFirst(consumed)
                    return request
                }
                // The head is in and acceptable (limits checked): let a client waiting on `Expect: 100-continue` send the body.
                if !sentContinue, let (head, _, _) = try parser.parseHead(conn.buffer),
                   head.minorVersion >= 1, head.header("Expect")?.lowercased() == "100-continue" {
                    sentContinue = true
                    conn.write(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
                }
            }
            let idle = conn.buffer.isEmpty
            switch conn.read(timeout: idle ? configuration.keepAliveTimeout : configuration.requestTimeout,
                             shouldStop: { idle && isStopping }) {
            case .data: continue
            case .closed, .stopping: return nil
            case .timedOut:
                if !idle {
                    let e = APIError(status: 408, message: "the request did not arrive within \(Int(configuration.requestTimeout)) s", code: "request_timeout")
                    conn.write(e.response.bytes(keepAlive: false))
                }
                return nil
            }
        }
    }

    func register(_ token: CancellationToken) {
        lock.lock()
        running[ObjectIdentifier(token)] = token
        if cancelAll { token.cancel() }
        lock.unlock()
    }

    func unregister(_ token: CancellationToken) {
        lock.lock()
        running[ObjectIdentifier(token)] = nil
        lock.unlock()
    }
}
