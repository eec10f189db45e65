import CBLAS
import RedflagKernels

/// The Gemma 3 forward pass.
///
/// Per block: RMSNorm → q/k/v projections → q/k RMSNorm per head → RoPE (rotate-half; base 10,000 on
/// sliding-window layers, `rope.freq_base` on global ones) → grouped-query attention (sliding window on
/// local layers) → output projection → post-attention RMSNorm → residual; RMSNorm → GeGLU (tanh GELU) →
/// down projection → post-feed-forward RMSNorm → residual. Then the final RMSNorm; the LM head is separate.
extension InferenceContext {
    /// Which positions of a batch need their final hidden state (for logits).
    public enum Outputs: Sendable {
        case last
        case all
        case none
    }

    /// Runs `tokens` through the model at the next positions, appending their keys/values to the cache.
    /// Prompts longer than `maxBatch` are processed in batches. Afterwards `hidden` holds the final-normed
    /// state of the last token (`.last`: row 0) or of every token of the last batch (`.all`).
    public func evaluate(_ tokens: [Int32], outputs: Outputs = .last) throws {
        let c = model.config
        guard position + tokens.count <= contextSize else {
            throw ModelError.contextFull(position: position, adding: tokens.count, contextSize: contextSize)
        }
        for t in tokens where t < 0 || Int(t) >= c.vocabularySize {
            throw ModelError.invalidToken(id: t, vocabularySize: c.vocabularySize)
        }
        var start = 0
        while start < tokens.count {
            let n = min(maxBatch, tokens.count - start)
            let isLast = start + n == tokens.count
            tokens.withUnsafeBufferPointer { buf in
                forwardBatch(UnsafeBufferPointer(rebasing: buf[start..<(start + n)]), outputs: isLast ? outputs : .none)
            }
            self.tokens.append(contentsOf: tokens[start..<(start + n)])
            start += n
        }
    }

    /// Runs one token (the decode step). Allocates nothing.
    public func evaluate(token: Int32) throws {
        let c = model.config
        guard position + 1 <= contextSize else {
            throw ModelError.contextFull(position: position, adding: 1, contextSize: contextSize)
        }
        guard token >= 0, Int(token) < c.vocabularySize else {
            throw ModelError.invalidToken(id: token, vocabularySize: c.vocabularySize)
        }
        var t = token
        withUnsafePointer(to: &t) { forwardBatch(UnsafeBufferPointer(start: $0, count: 1), outputs: .last) }
        tokens.append(token)
    }

    /// One batch of `t ≤ maxBatch` tokens at positions `position ..< position + t`.
    func forwardBatch(_ batch: UnsafeBufferPointer<Int32>, outputs: Outputs) {
        let c = model.config, w = model.weights
        let t = batch.count, p0 = position
        let d = c.hiddenSize, hd = c.headDim, half = hd / 2

        // Embedding lookup, scaled by √d.
        for i in 0..<t {
            w.tokenEmbedding.dequantizeRow(Int(batch[i]), into: x + i * d)
            VectorMath.scale(x + i * d, by: c.embeddingScale, d)
        }
        // RoPE tables for both bases.
        for i in 0..<t {
            Rope.angles(pos: p0 + i, base: c.ropeBaseLocal, headDim: hd, cos: ropeCos + i * half, sin: ropeSin + i * half)
            Rope.angles(pos: p0 + i, base: c.ropeBaseGlobal, headDim: hd,
                        cos: ropeCos + (maxBatch + i) * half, sin: ropeSin + (maxBatch + i) * half)
        }

        for l in 0..<c.layerCount {
            let lw = w.layers[l]
            let local = c.isLocal(layer: l)
            let cosT = ropeCos + (local ? 0 : maxBatch * half), sinT = ropeSin + (local ? 0 : maxBatch * half)

            // Attention sub-block.
            for i in 0..<t { Norms.rmsNorm(x + i * d, lw.attnNorm, xn + i * d, d, eps: c.rmsEpsilon) }
            matmul(xn, t, (lw.q, q), (lw.k, k), (lw.v, v))
            let keys = cache.keys(layer: l), values = cache.values(layer: l)
            for i in 0..<t {
                let qi = q + i * c.queryDim, ki = k + i * c.kvDim
                for h in 0..<c.headCount { Norms.rmsNorm(qi + h * hd, lw.qNorm, qi + h * hd, hd, eps: c.rmsEpsilon) }
                for h in 0..<c.kvHeadCount { Norms.rmsNorm(ki + h * hd, lw.kNorm, ki + h * hd, hd, eps: c.rmsEpsilon) }
                Rope.apply(qi, heads: c.headCount, headDim: hd, cos: cosT + i * half, sin: sinT + i * half)
                Rope.apply(ki, heads: c.kvHeadCount, headDim: hd, cos: cosT + i * half, sin: sinT + i * half)
                VectorMath.scale(qi, by: c.queryScale, c.queryDim)
                (keys + (p0 + i) * c.kvDim).update(from: ki, count: c.kvDim)
                (values + (p0 + i) * c.kvDim).update(from: v + i * c.kvDim, count: c.kvDim)
            }
            attention(layer: l, local: local, t: t, p0: p0)
            matmul(lw.o, attn, t, proj)
            for i in 0..<t {
                Norms.rmsNorm(proj + i * d, lw.postAttnNorm, proj + i * d, d, eps: c.rmsEpsilon)
                VectorMath.add(proj + i * d, into: x + i * d, d)
            }

            // Feed-forward sub-block (GeGLU).
            for i in 0..<t { Norms.rmsNorm(x + i * d, lw.ffnNorm, xn + i * d, d, eps: c.rmsEpsilon) }
            matmul(xn, t, (lw.gate, gate), (lw.up, up))
            Activations.geglu(gate, up, t * c.feedForwardSize)
            matmul(lw.down, gate, t, proj)
            for i in 0..<t {
                Norms.rmsNorm(proj + i * d, lw.postFFNNorm, proj + i * d, d, eps: c.rmsEpsilon)
                VectorMath.add(proj + i * d, into: x + i * d, d)
            }
        }

        position += t
        switch outputs {
        case .none:
            hiddenRows = 0
        case .last:
            Norms.rmsNorm(x + (t - 1) * d, w.outputNorm, hidden, d, eps: c.rmsEpsilon)
            hiddenRows = 1
        case .all:
            for i in 0..<t { Norms.rmsNorm(x + i * d, w.outputNorm, hidden + i * d, d, eps: c.rmsEpsilon) }
            hiddenRows = t
        }
    }

    /// Causal attention of the batch's queries (positions `p0 ..< p0+t`) over cached keys/values, per head:
    /// scores = Q·Kᵀ (queries are pre-scaled), masked to the causal (and, on local layers, sliding) window,
    /// softmax, times V. Uses `cblas_sgemm` for the two products.
    func attention(layer l: Int, local: Bool, t: Int, p0: Int) {
        if t == 1 && maxBatch >= model.config.headCount {
            decodeAttention(layer: l, local: local, pos: p0)
            return
        }
        let c = model.config
        let hd = c.headDim, group = c.headCount / c.kvHeadCount
        let keys = cache.keys(layer: l), values = cache.values(layer: l)
        let end = p0 + t                                     // exclusive
        let window = local ? c.slidingWindow : Int.max
        let lo = local ? max(0, p0 - window + 1) : 0         // first key any query in the batch can see
        let span = end - lo
        for h in 0..<c.headCount {
            let kvh = h / group
            // scores[i, j] = q_i · k_{lo+j}
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(t), Int32(span), Int32(hd), 1,
                        q + h * hd, Int32(c.queryDim), keys + lo * c.kvDim + kvh * hd, Int32(c.kvDim),
                        0, scores, Int32(span))
            for i in 0..<t {
                let pos = p0 + i
                let first = local ? max(lo, pos - window + 1) : 0   // keys pos-window+1 ... pos
                let row = scores + i * span
                let a = first - lo, b = pos - lo + 1                // valid columns a..<b
                for j in 0..<a { row[j] = 0 }
                Activations.softmax(row + a, b - a)
                for j in b..<span { row[j] = 0 }
            }
            // out[i, h] = Σ_j p[i, j] · v_{lo+j}
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(t), Int32(hd), Int32(span), 1,
                        scores, Int32(span), values + lo * c.kvDim + kvh * hd, Int32(c.kvDim),
                        0, attn + h * hd, Int32(c.queryDim))
        }
    }

    /// Attention of one query (the decode step) at position `pos`: heads split over the worker threads, each head's
    /// scores q·k over its window, softmax, Σ p·v with plain SIMD loops (an `sgemm` call per head costs more than
    /// the arithmetic at short contexts, and at long ones the heads' share of the step is worth the threads).
    /// Head h uses row h of `scores` (`maxBatch ≥ headCount`).
    func decodeAttention(layer l: Int, local: Bool, pos: Int) {
        let c = model.config
        let hd = c.headDim, group = c.headCount / c.kvHeadCount, kvDim = c.kvDim, span = contextSize
        let keys = UnsafePointer(cache.keys(layer: l)), values = UnsafePointer(cache.values(layer: l))
        let first = local ? max(0, pos - c.slidingWindow + 1) : 0   // keys first ... pos
        let n = pos - first + 1
        let q = UnsafePointer(self.q), attn = self.attn, scores = self.scores
        Parallel.chunks(count: c.headCount, threads: threads) { heads in
            for h in heads {
                let qh = q + h * hd, kvOffset = (h / group) * hd
                let row = scores + h * span
                for j in 0..<n { row[j] = VectorMath.dot(qh, keys + (first + j) * kvDim + kvOffset, hd) }
                Activations.softmax(row, n)
                let out = attn + h * hd
                out.initialize(repeating: 0, count: hd)
                for j in 0..<n { VectorMath.axpy(row[j], values + (first + j) * kvDim + kvOffset, out, hd) }
            }
        }
    }
}
