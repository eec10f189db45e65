import RedflagKernels

/// Per-conversation state: the KV cache, the position, and every activation buffer, allocated once.
///
/// `evaluate` runs the forward pass (`Gemma3Forward.swift`) over a batch of tokens and leaves the final-normed
/// hidden states in `hidden`; the LM head (plain `logits(row:into:)` here, fused with the red flag in
/// RedflagFlag) turns them into logits. Not thread-safe: one context per thread of conversation.
public final class InferenceContext: @unchecked Sendable {
    public let model: Gemma3Model
    public let cache: KVCache
    /// Tokens per forward batch (longer prompts are split).
    public let maxBatch: Int
    /// Worker threads of the products. Raising it past what the scratch was sized for grows the scratch here (once,
    /// outside any decode step), so a context made for one thread can be run with more.
    public var threads: Int {
        didSet {
            threads = max(1, threads)
            let needed = Self.scratchCount(config: model.config, threads: threads)
            if needed > matScratchCount {
                matScratch.deallocate()
                matScratch = .allocate(capacity: needed)
                matScratchCount = needed
            }
            MatMul.setBLASThreads(blasThreads)
        }
    }
    /// OpenBLAS's own threads: `threads` for f32 weights (whole-matrix sgemm), 1 for quantized weights, whose
    /// batched products `MatMul.gemm` splits over the worker pool itself.
    var blasThreads: Int { model.weights.format == .exact ? threads : 1 }
    /// Number of positions already in the KV cache.
    public internal(set) var position = 0
    /// Tokens whose keys/values are in the cache, in order (`position` of them).
    public internal(set) var tokens: [Int32] = []

    public var contextSize: Int { cache.contextSize }

    // Activation buffers; shapes in (rows, columns).
    let x: UnsafeMutablePointer<Float>          // (maxBatch, hidden) residual stream
    let xn: UnsafeMutablePointer<Float>         // (maxBatch, hidden) normed input of a sub-block
    let q: UnsafeMutablePointer<Float>          // (maxBatch, queryDim)
    let k: UnsafeMutablePointer<Float>          // (maxBatch, kvDim)
    let v: UnsafeMutablePointer<Float>          // (maxBatch, kvDim)
    let attn: UnsafeMutablePointer<Float>       // (maxBatch, queryDim) attention output
    let proj: UnsafeMutablePointer<Float>       // (maxBatch, hidden) output of o / down projections
    let gate: UnsafeMutablePointer<Float>       // (maxBatch, ffn)
    let up: UnsafeMutablePointer<Float>         // (maxBatch, ffn)
    let scores: UnsafeMutablePointer<Float>     // (maxBatch, contextSize) attention probabilities of one head (decode: row h = head h)
    let ropeCos: UnsafeMutablePointer<Float>    // (2, maxBatch, headDim/2): [0] local base, [1] global base
    let ropeSin: UnsafeMutablePointer<Float>    // (2, maxBatch, headDim/2)
    private(set) var matScratch: UnsafeMutablePointer<Float> // f32 tiles (max(tileRows, threads) × max input width) or QuantizedGEMM's per-thread tiles
    private(set) var matScratchCount: Int
    let lowRankScratch: UnsafeMutablePointer<Float> // (maxBatch, max low-rank) D·x of an unmerged adapter's delta
    public let activations: QuantizedActivations  // int8 blocks of the GEMV input
    let batchActivations: QuantizedActivations    // (maxBatch × widest) int8 blocks of a batched product's input
    /// Final-normed hidden states of the last batch, `(maxBatch, hidden)`; row `i` belongs to batch token `i`.
    public let hidden: UnsafeMutablePointer<Float>
    /// Number of valid rows in `hidden` after the last `evaluate`.
    public internal(set) var hiddenRows = 0

    /// - Parameters:
    ///   - contextSize: positions the KV cache holds (`--ctx`).
    ///   - memoryBudget: if set, refuse (before allocating) a context whose cache and buffers exceed it.
    public init(model: Gemma3Model, contextSize: Int, maxBatch: Int = 256, threads: Int = 1, memoryBudget: Int? = nil) throws {
        let c = model.config
        guard contextSize >= 1 else { throw ModelError.invalidConfig("context size \(contextSize) must be at least 1") }
        guard contextSize <= c.trainedContextLength else {
            throw ModelError.contextTooLarge(requested: contextSize, maximum: c.trainedContextLength)
        }
        let batch = max(1, min(maxBatch, contextSize))
        let widest = max(c.hiddenSize, c.queryDim, c.feedForwardSize)
        let scratchCount = Self.scratchCount(config: c, threads: threads)
        let lowRank = max(1, model.weights.maxLowRank)
        let floats = batch * (3 * c.hiddenSize + 2 * c.queryDim + 2 * c.kvDim + 2 * c.feedForwardSize + contextSize + c.headDim * 2
                              + lowRank) + scratchCount
        let needed = KVCache.bytesNeeded(layerCount: c.layerCount, contextSize: contextSize, kvDim: c.kvDim) + floats * 4
        if let budget = memoryBudget, needed > budget {
            throw ModelError.memoryBudgetExceeded(needed: needed, budget: budget,
                                                  what: "a context of \(contextSize) tokens (KV cache and buffers)")
        }
        self.model = model
        self.maxBatch = batch
        self.threads = max(1, threads)
        cache = KVCache(layerCount: c.layerCount, contextSize: contextSize, kvDim: c.kvDim)
        x = .allocate(capacity: batch * c.hiddenSize)
        xn = .allocate(capacity: batch * c.hiddenSize)
        q = .allocate(capacity: batch * c.queryDim)
        k = .allocate(capacity: batch * c.kvDim)
        v = .allocate(capacity: batch * c.kvDim)
        attn = .allocate(capacity: batch * c.queryDim)
        proj = .allocate(capacity: batch * c.hiddenSize)
        gate = .allocate(capacity: batch * c.feedForwardSize)
        up = .allocate(capacity: batch * c.feedForwardSize)
        scores = .allocate(capacity: batch * contextSize)
        ropeCos = .allocate(capacity: 2 * batch * c.headDim / 2)
        ropeSin = .allocate(capacity: 2 * batch * c.headDim / 2)
        matScratch = .allocate(capacity: scratchCount)
        matScratchCount = scratchCount
        lowRankScratch = .allocate(capacity: batch * lowRank)
        activations = QuantizedActivations(capacity: widest)
        batchActivations = QuantizedActivations(capacity: batch * widest)
        hidden = .allocate(capacity: batch * c.hiddenSize)
        tokens.reserveCapacity(contextSize)
        MatMul.setBLASThreads(blasThreads)
    }

    /// Floats of `matScratch` the products need at `threads` threads.
    static func scratchCount(config c: Gemma3Config, threads: Int) -> Int {
        let widest = max(c.hiddenSize, c.queryDim, c.feedForwardSize)
        return max(max(MatMul.tileRows, threads) * widest, (max(1, threads) * QuantizedGEMM.scratchBytes(columns: widest) + 3) / 4)
    }

    deinit {
        for p in [x, xn, q, k, v, attn, proj, gate, up, scores, ropeCos, ropeSin, matScratch, lowRankScratch, hidden] { p.deallocate() }
    }

    /// Forgets every cached position.
    public func reset() {
        position = 0
        tokens.removeAll(keepingCapacity: true)
    }

    /// Declares that the KV cache now holds `tokens` (written there by a session restore).
    public func adoptRestoredCache(tokens restored: [Int32]) {
        precondition(restored.count <= contextSize)
        tokens.removeAll(keepingCapacity: true)
        tokens.append(contentsOf: restored)
        position = restored.count
    }

    /// Keeps only the first `count` cached positions (for prompt-cache reuse and rewinding).
    public func truncate(to count: Int) {
        precondition(count >= 0 && count <= position)
        position = count
        tokens.removeSubrange(count...)
    }

    /// Logits of `hidden` row `row` through the plain (unfused) output projection, `(vocab)` floats into `out`.
    public func logits(row: Int, into out: UnsafeMutablePointer<Float>) {
        matvec(model.weights.output, hidden + row * model.config.hiddenSize, out)
    }

    /// `y = W·x` for one token, on the path the weight format selects (plus `W`'s low-rank delta, if any).
    @inline(__always)
    func matvec(_ w: WeightMatrix, _ xin: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        if w.type == .f32 {
            MatMul.gemvF32(w, xin, y, rowScratch: matScratch, threads: threads)
        } else {
            QuantizedGEMV.gemv(w, xin, y, activations: activations, threads: threads)
        }
        w.lowRank?.add(xin, into: y, scratch: lowRankScratch)
    }

    /// `y_i = W_i·x` for two or three matrices that read the same input (q/k/v, gate/up). One token with quantized
    /// weights: one `QuantizedGEMV` job for all of them (one activation quantization, one dispatch); otherwise
    /// `matmul` per matrix, sharing the int8 batch.
    @inline(__always)
    func matmul(_ xin: UnsafePointer<Float>, _ t: Int, _ a: (WeightMatrix, UnsafeMutablePointer<Float>),
                _ b: (WeightMatrix, UnsafeMutablePointer<Float>), _ c: (WeightMatrix, UnsafeMutablePointer<Float>)? = nil) {
        if t == 1 && a.0.type != .f32 && b.0.type != .f32 && (c.map { $0.0.type != .f32 } ?? true) {
            withUnsafeTemporaryAllocation(of: QuantizedGEMV.Product.self, capacity: 3) { group in
                group.initializeElement(at: 0, to: .init(a.0, a.1))
                group.initializeElement(at: 1, to: .init(b.0, b.1))
                if let c { group.initializeElement(at: 2, to: .init(c.0, c.1)) }
                QuantizedGEMV.gemv(UnsafeBufferPointer(rebasing: group[0..<(c == nil ? 2 : 3)]), xin,
                                   activations: activations, threads: threads)
            }
            a.0.lowRank?.add(xin, into: a.1, scratch: lowRankScratch)
            b.0.lowRank?.add(xin, into: b.1, scratch: lowRankScratch)
            if let c { c.0.lowRank?.add(xin, into: c.1, scratch: lowRankScratch) }
        } else {
            matmul(a.0, xin, t, a.1)
            matmul(b.0, xin, t, b.1, sameInput: true)
            if let c { matmul(c.0, xin, t, c.1, sameInput: true) }
        }
    }

    /// `Y = X·Wᵀ` for `t` tokens. Quantized weights on builds with `QuantizedGEMM.isAccelerated` (x86-64 AVX2) take
    /// the batched int8 kernel; f32 weights, and quantized ones elsewhere, OpenBLAS `sgemm` (`MatMul.gemm`). `W`'s
    /// low-rank delta, if any, is added after.
    /// `sameInput`: `xin` is the previous call's input, unchanged (q/k/v, gate/up), so its int8 blocks are reused.
    @inline(__always)
    func matmul(_ w: WeightMatrix, _ xin: UnsafePointer<Float>, _ t: Int, _ y: UnsafeMutablePointer<Float>,
                sameInput: Bool = false) {
        if t == 1 {
            matvec(w, xin, y)
        } else if w.type != .f32 && QuantizedGEMM.isAccelerated {
            if !sameInput || batchActivations.count != t * w.columns { batchActivations.quantize(xin, t * w.columns, forOneToken: false) }
            QuantizedGEMM.gemm(w, batchActivations, t, y, ldy: w.rows, scratch: UnsafeMutableRawPointer(matScratch),
                               threads: threads)
        } else {
            MatMul.gemm(w, xin, t, y, scratch: matScratch, threads: threads)
        }
        if t > 1 { w.lowRank?.add(xin, tokens: t, into: y, ldy: w.rows, scratch: lowRankScratch) }
    }
}
