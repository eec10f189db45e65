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

    /// Rows per thread re-scored with `refinement`.
    public static let refineCount = 8

    public let weights: WeightMatrix
    /// A higher-precision copy of the same projection (Q8_0), used to re-score the few largest logits and the
    /// flag logit after a 4-bit pass: the 4-bit matrix streams through memory, the rows that decide sampling and
    /// the flag are exact to 8 bits. Nil for none.
    public let refinement: WeightMatrix?
    /// The `<rf>` token id, or nil to compute plain logits.
    public var flagToken: Int32?
    /// Whether the flag row is always re-scored with `refinement` (true for the red flag; perplexity turns it off
    /// because it reads the target token's logit through this slot and must see what sampling would see).
    public var refinesFlagRow = true
    private let candidateRows: UnsafeMutablePointer<Int32>   // (maxThreads × refineCount), per-thread top rows
    private let candidateLogits: UnsafeMutablePointer<Float> // (maxThreads × refineCount), descending
    private let partialMax: UnsafeMutablePointer<Float>   // (maxThreads)
    private let partialSum: UnsafeMutablePointer<Float>   // (maxThreads)
    private let rowScratch: UnsafeMutablePointer<Float>   // (maxThreads × columns) for the f32 path

    public init(weights: WeightMatrix, flagToken: Int32?, refinement: WeightMatrix? = nil) {
        precondition(refinement.map { $0.type == .q8_0 && $0.rows == weights.rows && $0.columns == weights.columns } ?? true,
                     "refinement must be a Q8_0 matrix of the same shape")
        self.weights = weights
        self.flagToken = flagToken
        self.refinement = weights.type == .f32 ? nil : refinement
        candidateRows = .allocate(capacity: Self.maxThreads * Self.refineCount)
        candidateLogits = .allocate(capacity: Self.maxThreads * Self.refineCount)
        partialMax = .allocate(capacity: Self.maxThreads)
        partialSum = .allocate(capacity: Self.maxThreads)
        rowScratch = .allocate(capacity: Self.maxThreads * weights.columns)
    }

    deinit {
        partialMax.deallocate()
        partialSum.deallocate()
        candidateRows.deallocate()
        candidateLogits.deallocate()
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
        let refine = refinement != nil
        let k = Self.refineCount, cr = candidateRows, cl = candidateLogits
        for i in 0..<t { pm[i] = -.infinity; ps[i] = 0 }
        if refine { for i in 0..<(t * k) { cl[i] = -.infinity; cr[i] = -1 } }
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
                if refine { Self.keepTop(logits, r..<(r + n), cr + chunk * k, cl + chunk * k, k) }
                r += n
            }
            pm[chunk] = m
            ps[chunk] = s
        }
        var m = -Float.infinity
        for i in 0..<t where pm[i] > m { m = pm[i] }
        var s: Float = 0
        for i in 0..<t where ps[i] > 0 { s += ps[i] * Foundation.exp(pm[i] - m) }
        if let fine = refinement {
            // Global top rows from the per-thread lists (selected in place: no allocation), plus the flag row:
            // re-score them at 8 bits and correct the running sum.
            let blocks = w.columns / 32
            let flagRow = flagToken.map { Int($0) } ?? -1
            var flagDone = false
            func rescore(_ row: Int) {
                let coarse = logits[row]
                let exact = DotProducts.q8_0(activations.kernelInput(for: .q8_0), row: fine.row(row), activations.scales, blocks: blocks)
                logits[row] = exact
                if fused {
                    s += Foundation.exp(exact - m) - Foundation.exp(coarse - m)
                    s = Swift.max(s, Float.leastNormalMagnitude)
                }
                if row == flagRow { flagDone = true }
            }
            for _ in 0..<k {
                var best = -1
                for i in 0..<(t * k) where cr[i] >= 0 && (best < 0 || cl[i] > cl[best]) { best = i }
                guard best >= 0 else { break }
                rescore(Int(cr[best]))
                cr[best] = -1
            }
            if refinesFlagRow && flagRow >= 0 && flagRow < w.rows && !flagDone { rescore(flagRow) }
        }
        guard fused else { return FlagReading(logSumExp: .nan, flagLogit: -.infinity) }
        var reading = FlagReading(logSumExp: m + Foundation.log(s), flagLogit: -.infinity)
        if let f = flagToken, f >= 0, Int(f) < w.rows {
            reading.flagLogit = logits[Int(f)]
            logits[Int(f)] = -.infinity
        }
        return reading
    }

    /// Keeps the `k` largest logits of `range` in a descending list (`rows`, `values`).
    @inline(__always)
    static func keepTop(_ logits: UnsafePointer<Float>, _ range: Range<Int>, _ rows: UnsafeMutablePointer<Int32>,
                        _ values: UnsafeMutablePointer<Float>, _ k: Int) {
        for r in range where logits[r] > values[k - 1] {
            var j = k - 1
            while j > 0 && values[j - 1] < logits[r] { values[j] = values[j - 1]; rows[j] = rows[j - 1]; j -= 1 }
            values[j] = logits[r]
            rows[j] = Int32(r)
        }
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
