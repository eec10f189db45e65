#if !canImport(Logging)
import Foundation

/// The subset of swift-log's `Logger` the server uses, for toolchains without swift-log (its releases need
/// swift-tools 6.2; see Package.swift). Writes swift-log's `StreamLogHandler` line format to standard error:
/// `2026-11-29T19:14:14+0000 info redflag.server: message`.
public struct Logger: Sendable {
    public enum Level: String, Sendable, CaseIterable, Comparable {
        case trace, debug, info, notice, warning, error, critical

        public static func < (a: Level, b: Level) -> Bool {
            allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
        }
    }

    public let label: String
    /// Messages below this level are dropped.
    public var logLevel: Level = .info

    public init(label: String) { self.label = label }

    private static let lock = NSLock()

    public func log(level: Level, _ message: @autoclosure () -> String) {
        guard level >= logLevel else { return }
        var t = time(nil)
        var parts = tm()
        localtime_r(&t, &parts)
        var buf = [CChar](repeating: 0, count: 64)      // CChar: Int8 on x86-64, UInt8 on aarch64 Linux
        _ = strftime(&buf, buf.count, "%Y-%m-%dT%H:%M:%S%z", &parts)
        let stamp = buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        let line = "\(stamp) \(level.rawValue) \(label): \(message())\n"
        Self.lock.lock()
        FileHandle.standardError.write(Data(line.utf8))
        Self.lock.unlock()
    }

    public func trace(_ message: @autoclosure () -> String) { log(level: .trace, message()) }
    public func debug(_ message: @autoclosure () -> String) { log(level: .debug, message()) }
    public func info(_ message: @autoclosure () -> String) { log(level: .info, message()) }
    public func notice(_ message: @autoclosure () -> String) { log(level: .notice, message()) }
    public func warning(_ message: @autoclosure () -> String) { log(level: .warning, message()) }
    public func error(_ message: @autoclosure () -> String) { log(level: .error, message()) }
    public func critical(_ message: @autoclosure () -> String) { log(level: .critical, message()) }
}
#endif
