#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// One accepted client socket: buffered reads with deadlines, whole writes, and a hang-up probe.
final class Connection {
    enum ReadOutcome { case data, closed, timedOut, stopping }

    let fd: Int32
    /// Bytes received and not yet consumed by a parsed request.
    var buffer: [UInt8] = []
    private(set) var isClosed = false

    init(fd: Int32) { self.fd = fd }
    deinit { close() }

    /// Reads what arrives within `timeout` seconds, checking `shouldStop` every 200 ms.
    func read(timeout: Double, shouldStop: () -> Bool) -> ReadOutcome {
        let deadline = Date(timeIntervalSinceNow: timeout)
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            if shouldStop() { return .stopping }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return .timedOut }
            let ev = Socket.poll(fd, events: Int16(POLLIN), milliseconds: Int32(min(200, max(1, left * 1000))))
            if ev == 0 { continue }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { buffer += chunk[0..<n]; return .data }
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            return .closed
        }
    }

    /// Writes all of `bytes`; false when the peer is gone or the send timed out (SIGPIPE is suppressed).
    @discardableResult
    func write(_ bytes: [UInt8]) -> Bool {
        guard !isClosed else { return false }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Socket.noSignal) }
            if n > 0 { offset += n; continue }
            if n < 0 && errno == EINTR { continue }
            return false
        }
        return true
    }

    /// Whether the client hung up (or reset): `POLLHUP`/`POLLRDHUP`/`POLLERR`, or readable with 0 bytes.
    /// Pipelined request bytes waiting in the socket do not count as a hang-up.
    func peerClosed() -> Bool {
        if isClosed { return true }
        let ev = Socket.poll(fd, events: Int16(POLLIN) | Socket.readHangUp, milliseconds: 0)
        if ev & (Int16(POLLHUP) | Int16(POLLERR) | Socket.readHangUp) != 0 { return true }
        if ev & Int16(POLLIN) != 0 {
            var byte: UInt8 = 0
            let n = recv(fd, &byte, 1, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT))
            return n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)
        }
        return false
    }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        shutdown(fd, Int32(SHUT_RDWR))
        Glibc.close(fd)
    }
}
