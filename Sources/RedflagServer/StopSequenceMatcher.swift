/// Finds OpenAI `stop` strings in streamed text: text that could still be the start of a stop string is
/// held back, so nothing at or after a stop string is ever emitted.
public struct StopSequenceMatcher: Sendable {
    public let stops: [String]
    /// Text received but not yet emitted (a suffix that is a prefix of some stop string).
    private var pending = ""
    /// Set once a stop string was found; later input is ignored.
    public private(set) var stopped = false

    public init(stops: [String]) { self.stops = stops.filter { !$0.isEmpty } }

    /// Adds `piece`; returns the text now safe to emit.
    public mutating func push(_ piece: String) -> String {
        guard !stopped else { return "" }
        if stops.isEmpty { return piece }
        pending += piece
        // The earliest complete stop string ends the text.
        var cut: String.Index?
        for s in stops {
            if let r = pending.range(of: s), cut.map({ r.lowerBound < $0 }) ?? true { cut = r.lowerBound }
        }
        if let c = cut {
            stopped = true
            let out = String(pending[..<c])
            pending = ""
            return out
        }
        // Hold back the longest suffix that is a proper prefix of a stop string.
        var hold = 0
        for s in stops {
            var k = min(s.count - 1, pending.count)
            while k > hold {
                if pending.hasSuffix(s.prefix(k)) { hold = k; break }
                k -= 1
            }
        }
        let split = pending.index(pending.endIndex, offsetBy: -hold)
        let out = String(pending[..<split])
        pending = String(pending[split...])
        return out
    }

    /// Text held back at the end of the generation (no stop string followed it).
    public mutating func flush() -> String {
        defer { pending = "" }
        return stopped ? "" : pending
    }
}
