import Foundation
import RedflagFlag
import RedflagKernels
import RedflagModel

/// Perplexity with llama.cpp's `llama-perplexity` chunking, so the numbers compare:
/// the text is tokenized once with BOS; chunk `c` is `tokens[n·c ..< n·c + n]` with its first token replaced by
/// BOS, evaluated from an empty cache; the negative log-likelihood is summed over positions `n/2 ..< n−1`
/// (predicting tokens `n/2+1 … n−1`). PPL = exp(total NLL / scored tokens).
public enum Perplexity {
    public struct Result: Sendable {
        public var perplexity: Double
        public var chunks: Int
        public var scoredTokens: Int
        public var totalNLL: Double
        /// The running perplexity after each chunk (what llama-perplexity prints).
        public var running: [Double]
    }

    /// - Parameters:
    ///   - context: its `contextSize` and `maxBatch` must both be at least `chunkSize`.
    ///   - excluding: score under the distribution renormalized without this token (e.g. `<rf>`, which the
    ///     engine never emits as text): log Σ over the other tokens = lse + log(1 − p(token)).
    public static func evaluate(tokens: [Int32], bos: Int32, chunkSize n: Int, context: InferenceContext,
                                maxChunks: Int? = nil, excluding: Int32? = nil,
                                progress: (Int, Int, Double) -> Void = { _, _, _ in }) throws -> Result {
        precondition(context.maxBatch >= n && context.contextSize >= n, "context must hold a whole chunk in one batch")
        let chunks = min(tokens.count / n, maxChunks ?? Int.max)
        let head = FusedLMHead(weights: context.model.weights.output, flagToken: nil,
                               refinement: context.model.weights.outputRefinement)
        head.refinesFlagRow = false   // the target's logit is 8-bit only if it is among the re-scored top rows
        let vocab = context.model.config.vocabularySize, d = context.model.config.hiddenSize
        let logits = UnsafeMutablePointer<Float>.allocate(capacity: vocab)
        defer { logits.deallocate() }
        var total = 0.0
        var count = 0
        var running: [Double] = []
        for c in 0..<chunks {
            var chunk = Array(tokens[(n * c)..<(n * c + n)])
            chunk[0] = bos
            context.reset()
            try context.evaluate(chunk, outputs: .all)
            for i in (n / 2)..<(n - 1) {
                // Using the target as the "flag" token makes the fused head return its logit and the log-sum-exp.
                head.flagToken = chunk[i + 1]
                let r = head.project(context.hidden + i * d, into: logits, activations: context.activations, threads: context.threads)
                var lse = Double(r.logSumExp)
                if let e = excluding, e != chunk[i + 1] {
                    lse += Foundation.log1p(-Foundation.exp(Double(logits[Int(e)]) - lse))
                }
                total += lse - Double(r.flagLogit)
                count += 1
            }
            running.append(Foundation.exp(total / Double(count)))
            progress(c + 1, chunks, running.last!)
        }
        return Result(perplexity: count > 0 ? Foundation.exp(total / Double(count)) : .nan, chunks: chunks,
                      scoredTokens: count, totalNLL: total, running: running)
    }
}
