import Foundation

/// Counters since the server started (reported by `GET /health`).
public struct ServerStatsSnapshot: Sendable, Equatable {
    public var requests = 0
    /// Generations that ran (finished, halted, stopped or cancelled).
    public var generations = 0
    public var promptTokens = 0
    public var generatedTokens = 0
    /// Generations cut short because the client went away.
    public var cancelled = 0
    /// Generations in which a flag fired (any policy).
    public var flagged = 0
    /// Requests answered 503 because the queue was full.
    public var rejectedQueueFull = 0
    /// Queued requests dropped because their client went away.
    public var droppedFromQueue = 0
    public var openConnections = 0
    /// Connections refused (503) over `maxConnections`.
    public var rejectedConnections = 0

    var json: [String: Any] {
        ["requests": requests, "generations": generations, "prompt_tokens": promptTokens, "generated_tokens": generatedTokens,
         "cancelled": cancelled, "flagged": flagged, "rejected_queue_full": rejectedQueueFull,
         "dropped_from_queue": droppedFromQueue, "open_connections": openConnections, "rejected_connections": rejectedConnections]
    }
}

/// Thread-safe counters.
final class ServerStats: @unchecked Sendable {
    private let lock = NSLock()
    private var value = ServerStatsSnapshot()

    func update(_ body: (inout ServerStatsSnapshot) -> Void) {
        lock.lock()
        body(&value)
        lock.unlock()
    }

    var snapshot: ServerStatsSnapshot {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
}
