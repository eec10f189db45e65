import Foundation

/// One generation slot and a bounded, first-in-first-out queue in front of it.
///
/// The model runs one generation at a time (no batching): `acquire` returns at once when the slot is free and
/// nobody waits, otherwise the caller waits in arrival order. At most `capacity` callers wait; one more gets
/// `SchedulerError.queueFull` (the server answers 503 with `Retry-After`). A waiting caller whose client went
/// away (`isAbandoned`, polled every 50 ms) leaves the queue without ever running.
public final class GenerationScheduler: @unchecked Sendable {
    public enum SchedulerError: Error, Equatable {
        case queueFull(capacity: Int)
        /// The caller's `isAbandoned` returned true while it waited.
        case abandoned
    }

    /// Proof of holding the slot; pass it back to `release`.
    public struct Slot: Sendable { let ticket: UInt64 }

    /// Most callers that may wait (the one running is not counted).
    public let capacity: Int
    private let condition = NSCondition()
    private var waiting: [UInt64] = []
    private var running: UInt64?
    private var nextTicket: UInt64 = 0

    public init(capacity: Int) { self.capacity = max(0, capacity) }

    /// Waits for the slot in FIFO order.
    public func acquire(isAbandoned: () -> Bool = { false }) throws -> Slot {
        condition.lock()
        defer { condition.unlock() }
        nextTicket += 1
        let ticket = nextTicket
        if running == nil && waiting.isEmpty {
            running = ticket
            return Slot(ticket: ticket)
        }
        guard waiting.count < capacity else { throw SchedulerError.queueFull(capacity: capacity) }
        waiting.append(ticket)
        while running != nil || waiting.first != ticket {
            _ = condition.wait(until: Date(timeIntervalSinceNow: 0.05))
            if isAbandoned() {
                waiting.removeAll { $0 == ticket }
                condition.broadcast()
                throw SchedulerError.abandoned
            }
        }
        waiting.removeFirst()
        running = ticket
        return Slot(ticket: ticket)
    }

    /// Frees the slot for the next caller in line.
    public func release(_ slot: Slot) {
        condition.lock()
        if running == slot.ticket { running = nil }
        condition.broadcast()
        condition.unlock()
    }

    /// Whether a generation runs, and how many wait.
    public var state: (running: Bool, queued: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (running != nil, waiting.count)
    }
}
