import Foundation
import RedflagKernels

/// Picks the next token from logits: repetition penalty, then greedy or temperature sampling with
/// top-k, top-p and min-p. All buffers are allocated once; sampling a token allocates nothing.
public final class Sampler {
    public let options: SamplerOptions
    private var rng: SplitMix64
    private let vocab: Int
    private let candidates: UnsafeMutablePointer<Int32>   // (vocab) candidate ids
    private let probs: UnsafeMutablePointer<Float>        // (vocab) candidate probabilities

    public init(options: SamplerOptions, vocabularySize: Int) {
        self.options = options
        self.vocab = vocabularySize
        rng = SplitMix64(seed: options.seed)
        candidates = .allocate(capacity: vocabularySize)
        probs = .allocate(capacity: vocabularySize)
    }

    deinit {
        candidates.deallocate()
        probs.deallocate()
    }

    /// Chooses a token. `logits` (vocab) may be modified (penalty applied in place). `recent` are the last tokens.
    public func sample(_ logits: UnsafeMutablePointer<Float>, recent: ArraySlice<Int32>) -> Int32 {
        if options.repetitionPenalty != 1 {
            let p = options.repetitionPenalty
            // Once per distinct token in the window (as llama.cpp), whatever its count; O(window²), no allocation.
            let window = recent.suffix(options.repetitionWindow)
            var i = window.startIndex
            while i < window.endIndex {
                let t = window[i]
                var seen = false
                var j = window.startIndex
                while j < i { if window[j] == t { seen = true; break }; j += 1 }
                if !seen && t >= 0 && Int(t) < vocab {
                    let l = logits[Int(t)]
                    if l != -.infinity { logits[Int(t)] = l > 0 ? l / p : l * p }
                }
                i += 1
            }
        }
        if options.temperature <= 0 { return Self.argmax(logits, vocab) }

        // Candidates: the top-k by logit (all tokens when k ≤ 0), sorted descending.
        let k = options.topK > 0 ? min(options.topK, vocab) : vocab
        var n = 0
        if k == vocab {
            for i in 0..<vocab where logits[i] > -.infinity { candidates[n] = Int32(i); n += 1 }
            var buf = UnsafeMutableBufferPointer(start: candidates, count: n)
            buf.sort { logits[Int($0)] > logits[Int($1)] }
        } else {
            // Insertion into a sorted list of length ≤ k (k is small in practice).
            for i in 0..<vocab {
                let v = logits[i]
                if v == -.infinity || (n == k && v <= logits[Int(candidates[n - 1])]) { continue }
                var j = n < k ? n : k - 1
                if n < k { n += 1 }
                while j > 0 && logits[Int(candidates[j - 1])] < v { candidates[j] = candidates[j - 1]; j -= 1 }
                candidates[j] = Int32(i)
            }
        }
        guard n > 0 else { return Self.argmax(logits, vocab) }

        // Softmax with temperature over the candidates.
        let invT = 1 / options.temperature
        let top = logits[Int(candidates[0])]
        var sum: Float = 0
        for i in 0..<n { let e = Foundation.exp((logits[Int(candidates[i])] - top) * invT); probs[i] = e; sum += e }
        for i in 0..<n { probs[i] /= sum }
        // min-p, then top-p (candidates are sorted, so both cut a suffix).
        if options.minP > 0 {
            let floor = options.minP * probs[0]
            var m = 1
            while m < n && probs[m] >= floor { m += 1 }
            n = m
        }
        if options.topP < 1 {
            var cum: Float = 0, m = 0
            while m < n { cum += probs[m]; m += 1; if cum >= options.topP { break } }
            n = m
        }
        var total: Float = 0
        for i in 0..<n { total += probs[i] }
        var r = Float(rng.nextUnit()) * total
        for i in 0..<n {
            r -= probs[i]
            if r <= 0 { return candidates[i] }
        }
        return candidates[n - 1]
    }

    /// Index of the largest logit (lowest id on ties).
    public static func argmax(_ logits: UnsafePointer<Float>, _ n: Int) -> Int32 {
        var best = 0
        var bv = -Float.infinity
        for i in 0..<n where logits[i] > bv { bv = logits[i]; best = i }
        return Int32(best)
    }
}
