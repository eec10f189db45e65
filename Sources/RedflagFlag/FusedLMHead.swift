import Foundation
import RedflagKernels

/// What the fused LM head learned about one position besides the logits.
public struct FlagReading: Sendable, Equatable {
    /// log Σ exp(logit) over the whole vocabulary (before masking the flag token).
    public var logSumExp: Float
    /// The flag token's logit (−∞ when no flag token is configured).
    public var flagLogit: Float
    /// p(<rf>) = exp(flagLogit − logSumExp).
    public var probability: Float { flagLogit == -.infinity ? 0 : Foundation.exp(flagLogit - logSumExp) }
}

/// The final projection with the red flag fused into it.
///
/// While the GEMV writes logits, each thread keeps a running maximum `m` and a running sum
/// `s = Σ exp(logit − m)` over the rows it owns (online log-sum-exp, updated per tile of `tileRows` logits
/// while they are still in L1). The per-thread pairs combine as `M = max mᵢ`, `S = Σ sᵢ·exp(mᵢ − M)`, so
/// `p(<rf>) = exp(l_rf − M − log S)` costs no second pass over the 262,144 logits. The flag logit is then
/// set to −∞ so no sampler can emit it.
public final class FusedLMHead: @unchecked Sendable {
    /// Logits per online-update tile.
    public static let tileRows = 256
    public static let maxThreads = 64

    public let weights: WeightMatrix
    /// The `<rf>` token id, or nil to compute plain logits.
    public var flagToken: Int32?
    private let partialMax: UnsafeMutablePointer<Float>   // (maxThreads)
    private let partialSum: UnsafeMutablePointer<Float>   // (maxThreads)
    private let rowScratch: UnsafeMutablePointer<Float>   // (maxThreads × columns) for the f32 path

    public init(weights: WeightMatrix, flagToken: Int32?) {
        self.weights = weights
        self.flagToken = flagToken
        partialMax = .allocate(capacity: Self.maxThreads)
        partialSum = .allocate(capacity: Self.maxThreads)
        rowScratch = .allocate(capacity: Self.maxThreads * weights.columns)
    }

    deinit {
        partialMax.deallocate()
        partialSum.deallocate()
        rowScratch.deallocate()
    }

    /// Online update of (m, s) with `n` new values.
    @inline(__always)
    static func accumulate(_ v: UnsafePointer<Float>, _ n: Int, _ m: inout Float, _ s: inout Float) {
        let tileMax = VectorMath.max(v, n)
        if tileMax > m {
            s *= Foundation.exp(m - tileMax)
            m = tileMax
        }
        s += FastExp.sumExp(v, n, minus: m)
    }

    /// Writes `vocab` logits of `hidden` into `logits` and returns the flag reading; the flag logit is masked to −∞.
    /// With no flag token the online log-sum-exp is skipped (plain logits; the reading is empty) — that is
    /// the `--guard off` baseline the benchmark compares against.
    /// `activations` is the caller's int8 scratch (quantized weights only).
    public func project(_ hidden: UnsafePointer<Float>, into logits: UnsafeMutablePointer<Float>,
                        activations: QuantizedActivations, threads: Int) -> FlagReading {
        let w = weights
        let t = max(1, min(threads, Self.maxThreads))
        let quantized = w.type != .f32
        if quantized { activations.quantize(hidden, w.columns) }
        let pm = partialMax, ps = partialSum, scratch = rowScratch
        let fused = flagToken != nil
        for i in 0..<t { pm[i] = -.infinity; ps[i] = 0 }
        Parallel.indexedChunks(count: w.rows, threads: t, granule: Self.tileRows) { chunk, range in
            var m = -Float.infinity, s: Float = 0
            var r = range.lowerBound
            while r < range.upperBound {
                let n = min(Self.tileRows, range.upperBound - r)
                if quantized {
                    QuantizedGEMV.rows(w, activations, logits, range: r..<(r + n), threads: 1)
                } else {
                    let tmp = scratch + chunk * w.columns
                    for row in r..<(r + n) {
                        w.dequantizeRow(row, into: tmp)
                        logits[row] = VectorMath.dot(tmp, hidden, w.columns)
                    }
                }
                if fused { Self.accumulate(logits + r, n, &m, &s) }
                r += n
            }
            pm[chunk] = m
            ps[chunk] = s
        }
        guard fused else { return FlagReading(logSumExp: .nan, flagLogit: -.infinity) }
        var m = -Float.infinity
        for i in 0..<t where pm[i] > m { m = pm[i] }
        var s: Float = 0
        for i in 0..<t where ps[i] > 0 { s += ps[i] * Foundation.exp(pm[i] - m) }
        var reading = FlagReading(logSumExp: m + Foundation.log(s), flagLogit: -.infinity)
        if let f = flagToken, f >= 0, Int(f) < w.rows {
            reading.flagLogit = logits[Int(f)]
            logits[Int(f)] = -.infinity
        }
        return reading
    }

    /// Reference: plain logits, then a two-pass softmax over all of them (tests compare `project` against this).
    public static func referenceReading(logits: UnsafePointer<Float>, count: Int, flagToken: Int32?) -> FlagReading {
        var m = -Double.infinity
        for i in 0..<count { m = Swift.max(m, Double(logits[i])) }
        var s = 0.0
        for i in 0..<count { s += Foundation.exp(Double(logits[i]) - m) }
        let lse = Float(m + Foundation.log(s))
        guard let f = flagToken else { return FlagReading(logSumExp: lse, flagLogit: -.infinity) }
        return FlagReading(logSumExp: lse, flagLogit: logits[Int(f)])
    }
}
