#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Errors of the listening socket.
public enum SocketError: Error, Equatable, CustomStringConvertible {
    case resolve(host: String, message: String)
    case bind(address: String, errno: Int32)
    case listen(errno: Int32)

    public var description: String {
        switch self {
        case let .resolve(host, message): return "cannot resolve host '\(host)': \(message)"
        case let .bind(address, e): return "cannot listen on \(address): \(String(cString: strerror(e)))"
        case let .listen(e): return "listen failed: \(String(cString: strerror(e)))"
        }
    }
}

/// POSIX socket calls the server uses, in one place.
enum Socket {
    #if os(Linux)
    static let streamType = Int32(SOCK_STREAM.rawValue)
    static let noSignal = Int32(MSG_NOSIGNAL)
    /// The peer shut down its writing side (Linux).
    static let readHangUp: Int16 = 0x2000   // POLLRDHUP (needs _GNU_SOURCE, so not imported)
    #else
    static let streamType = SOCK_STREAM
    static let noSignal: Int32 = 0
    static let readHangUp: Int16 = 0
    #endif

    /// A listening TCP socket on `host:port` (`port` 0: any free port); returns the descriptor and the bound port.
    static func listen(host: String, port: Int, backlog: Int32 = 128) throws -> (fd: Int32, port: Int) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = streamType
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else { throw SocketError.resolve(host: host, message: String(cString: gai_strerror(rc))) }
        defer { freeaddrinfo(list) }
        var lastErrno: Int32 = 0
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            ai = a.pointee.ai_next
            let fd = socket(a.pointee.ai_family, streamType, 0)
            if fd < 0 { lastErrno = errno; continue }
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            if bind(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) != 0 { lastErrno = errno; close(fd); continue }
            if Glibc.listen(fd, backlog) != 0 { let e = errno; close(fd); throw SocketError.listen(errno: e) }
            return (fd, boundPort(fd))
        }
        throw SocketError.bind(address: "\(host):\(port)", errno: lastErrno)
    }

    static func boundPort(_ fd: Int32) -> Int {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        let family = Int32(storage.ss_family)
        return withUnsafePointer(to: &storage) { p -> Int in
            if family == AF_INET6 {
                return p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
            }
            return p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
        }
    }

    /// Waits up to `milliseconds` for `events` on `fd`; returns the events that occurred (0 on timeout).
    static func poll(_ fd: Int32, events: Int16, milliseconds: Int32) -> Int16 {
        var p = pollfd(fd: fd, events: events, revents: 0)
        while true {
            let rc = Glibc.poll(&p, 1, milliseconds)
            if rc < 0 && errno == EINTR { continue }
            return rc > 0 ? p.revents : 0
        }
    }

    /// Sets TCP_NODELAY and a send timeout (a client that stops reading cannot block a generation forever).
    static func configureAccepted(_ fd: Int32, sendTimeout: Double) {
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var tv = timeval(tv_sec: Int(sendTimeout), tv_usec: Int((sendTimeout - sendTimeout.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }
}
