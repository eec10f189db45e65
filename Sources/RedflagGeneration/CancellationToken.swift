import Foundation

/// A thread-safe flag a caller sets to stop a generation at the next token.
public final class CancellationToken: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false
    public init() {}
    public func cancel() { lock.lock(); cancelled = true; lock.unlock() }
    public var isCancelled: Bool { lock.lock(); defer { lock.unlock() }; return cancelled }
    public func reset() { lock.lock(); cancelled = false; lock.unlock() }
}
