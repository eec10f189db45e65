import RedflagGGUF
import RedflagKernels

/// The matrices and norm vectors of one transformer block. Shapes are `[rows (out) × columns (in)]`.
public struct LayerWeights: @unchecked Sendable {
    public let attnNorm: UnsafePointer<Float>        // (hidden)
    public let q: WeightMatrix                       // (queryDim × hidden)
    public let k: WeightMatrix                       // (kvDim × hidden)
    public let v: WeightMatrix                       // (kvDim × hidden)
    public let qNorm: UnsafePointer<Float>           // (headDim)
    public let kNorm: UnsafePointer<Float>           // (headDim)
    public let o: WeightMatrix                       // (hidden × queryDim)
    public let postAttnNorm: UnsafePointer<Float>    // (hidden)
    public let ffnNorm: UnsafePointer<Float>         // (hidden)
    public let gate: WeightMatrix                    // (ffn × hidden)
    public let up: WeightMatrix                      // (ffn × hidden)
    public let down: WeightMatrix                    // (hidden × ffn)
    public let postFFNNorm: UnsafePointer<Float>     // (hidden)
}

/// All weights of a Gemma 3 model: views into the GGUF mapping where the stored type is usable as is,
/// converted copies otherwise. Owns the copies and keeps the mapping alive.
public final class Gemma3Weights: @unchecked Sendable {
    public let config: Gemma3Config
    public let format: WeightFormat
    public let gguf: GGUFFile
    /// Token embedding (vocab × hidden), used for the input lookup.
    public let tokenEmbedding: WeightMatrix
    /// Output projection (vocab × hidden); the token embedding itself when tied (Gemma 3).
    public let output: WeightMatrix
    public let outputNorm: UnsafePointer<Float>      // (hidden)
    public let layers: [LayerWeights]
    private var owned: [UnsafeMutableRawPointer] = []
    /// Source tensors that were converted into `owned` copies: their file pages are not needed after load.
    private let convertedSources: [GGUFTensorInfo]

    /// Bytes of weights held in memory (converted copies and low-rank factors), not counting the mapping.
    public private(set) var ownedBytes = 0
    /// The largest rank of the matrices' unmerged low-rank deltas (0: none), for the forward pass's scratch.
    public let maxLowRank: Int

    /// - Parameters:
    ///   - overrides: runtime type per tensor name, replacing the format's choice.
    ///   - adapter: a LoRA adapter. Its `<rf>` row is written into the embedding (a copy); its low-rank deltas are
    ///     merged in f32 before conversion (adapted tensors become copies typed by `mergePrecision`) or, with
    ///     `mergePrecision == .runtime` and a quantized format, attached to the unchanged matrices as `LowRankDelta`s.
    public init(gguf: GGUFFile, config: Gemma3Config, format: WeightFormat, threads: Int = 1,
                overrides: [String: TensorType] = [:], adapter: LoRAAdapter? = nil) throws {
        try adapter?.validate(against: gguf)
        self.gguf = gguf
        self.config = config
        self.format = format
        let c = config
        var owned: [UnsafeMutableRawPointer] = []
        var ownedBytes = 0
        var converted: [GGUFTensorInfo] = []

        // Vectors (norm weights, 0.2 MB in all) are copied, never used from the mapping: every decode step reads
        // them, and a page fault on a mapped file maps the pages around it too (the kernel's fault-around), which
        // for a norm between two converted matrices puts their released source pages back into resident memory —
        // about 12 MB over the Q4_K_M file's 100-odd vectors.
        func vector(_ name: String, _ n: Int) throws -> UnsafePointer<Float> {
            let t = try Self.tensor(gguf, name, [n])
            let p = UnsafeMutablePointer<Float>.allocate(capacity: n)
            Dequantize.row(t.type, from: gguf.bytes(of: t).baseAddress!, count: n, into: p)
            owned.append(UnsafeMutableRawPointer(p))
            ownedBytes += n * 4
            return UnsafePointer(p)
        }

        // `--format exact` merges in f32 whatever the adapter's precision says (exact either way, and the f32 path
        // has no delta to add); quantized formats follow it.
        let modelPrecision = adapter.map { format == .exact && !$0.mergePrecision.merges ? .int8 : $0.mergePrecision } ?? .int8
        var maxRank = 0

        /// The embedding is also read row by row (the input lookup), where no delta is added: a low-rank pair on it,
        /// or on an output projection, is merged.
        func precision(_ name: String) -> LoRAMergePrecision {
            name == TensorNames.tokenEmbedding || name == TensorNames.output ? modelPrecision.baked : modelPrecision
        }

        /// `name`'s unmerged low-rank delta (`precision == .runtime`), its factors copied into owned memory.
        func delta(_ name: String, rows: Int, columns: Int) -> LowRankDelta? {
            guard !precision(name).merges, let f = adapter?.lowRankFactors(name) else { return nil }
            let down = UnsafeMutablePointer<Float>.allocate(capacity: f.down.count)      // (rank × columns)
            let up = UnsafeMutablePointer<Float>.allocate(capacity: f.upTransposed.count) // (rank × rows)
            down.initialize(from: f.down, count: f.down.count)
            up.initialize(from: f.upTransposed, count: f.upTransposed.count)
            owned.append(UnsafeMutableRawPointer(down))
            owned.append(UnsafeMutableRawPointer(up))
            ownedBytes += (f.down.count + f.upTransposed.count) * 4
            maxRank = max(maxRank, f.rank)
            return LowRankDelta(rank: f.rank, inputs: columns, outputs: rows, down: down, upTransposed: up)
        }

        func matrix(_ name: String, rows: Int, columns: Int) throws -> WeightMatrix {
            let stored = try storedMatrix(name, rows: rows, columns: columns)
            return delta(name, rows: rows, columns: columns).map { stored.adding($0) } ?? stored
        }

        /// The weights as they will be multiplied: the mapping's bytes where usable, else a converted (and, for
        /// rewritten tensors, merged) copy.
        func storedMatrix(_ name: String, rows: Int, columns: Int) throws -> WeightMatrix {
            let t = try Self.tensor(gguf, name, [columns, rows])
            let precision = precision(name)
            let merge = adapter?.rewrites(name, precision: precision) == true
            let lowRank = precision.merges
            let unmerged = overrides[name] ?? format.runtimeType(for: t.type)
            let target = adapter?.mergedType(of: name, unmerged: unmerged, precision: precision) ?? unmerged
            let src = WeightMatrix(rows: rows, columns: columns, type: t.type, data: gguf.bytes(of: t).baseAddress!)
            if target == t.type && !merge { return src }
            let dst = WeightMatrix(rows: rows, columns: columns, type: target,
                                   data: UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: rows * (columns / target.blockSize) * target.blockBytes, alignment: 64)))
            let out = UnsafeMutableRawPointer(mutating: dst.data)
            owned.append(out)
            ownedBytes += dst.byteCount
            converted.append(t)
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(1, threads) * columns)
            defer { scratch.deallocate() }
            Parallel.indexedChunks(count: rows, threads: threads) { chunk, range in
                for r in range {
                    if merge && adapter!.changes(name, row: r, lowRank: lowRank) {
                        let tmp = scratch + chunk * columns
                        src.dequantizeRow(r, into: tmp)
                        adapter!.addDelta(to: tmp, tensor: name, row: r, lowRank: lowRank)
                        if target == .f32 {
                            (out + r * dst.rowBytes).copyMemory(from: tmp, byteCount: columns * 4)
                        } else if target == .q4_1 {   // re-rounding to 4 bits: best scale/offset per block
                            QuantizeSearch.q4_1(from: tmp, count: columns, into: out + r * dst.rowBytes)
                        } else {
                            Quantize.row(target, from: tmp, count: columns, into: out + r * dst.rowBytes)
                        }
                    } else if target == .f32 {
                        Dequantize.row(t.type, from: src.row(r), count: columns,
                                       into: (out + r * dst.rowBytes).assumingMemoryBound(to: Float.self))
                    } else {
                        BlockConversion.convertRow(from: t.type, src.row(r), to: target, out + r * dst.rowBytes, count: columns)
                    }
                }
            }
            gguf.releasePages(of: t)                  // read once; the copy is what runs
            return dst
        }

        tokenEmbedding = try matrix(TensorNames.tokenEmbedding, rows: c.vocabularySize, columns: c.hiddenSize)
        if gguf.tensor(TensorNames.output) != nil {
            output = try matrix(TensorNames.output, rows: c.vocabularySize, columns: c.hiddenSize)
        } else {
            output = tokenEmbedding
        }
        outputNorm = try vector(TensorNames.outputNorm, c.hiddenSize)
        var layers: [LayerWeights] = []
        for l in 0..<c.layerCount {
            typealias N = TensorNames
            layers.append(LayerWeights(
                attnNorm: try vector(N.attnNorm(l), c.hiddenSize),
                q: try matrix(N.attnQ(l), rows: c.queryDim, columns: c.hiddenSize),
                k: try matrix(N.attnK(l), rows: c.kvDim, columns: c.hiddenSize),
                v: try matrix(N.attnV(l), rows: c.kvDim, columns: c.hiddenSize),
                qNorm: try vector(N.attnQNorm(l), c.headDim),
                kNorm: try vector(N.attnKNorm(l), c.headDim),
                o: try matrix(N.attnOutput(l), rows: c.hiddenSize, columns: c.queryDim),
                postAttnNorm: try vector(N.postAttentionNorm(l), c.hiddenSize),
                ffnNorm: try vector(N.ffnNorm(l), c.hiddenSize),
                gate: try matrix(N.ffnGate(l), rows: c.feedForwardSize, columns: c.hiddenSize),
                up: try matrix(N.ffnUp(l), rows: c.feedForwardSize, columns: c.hiddenSize),
                down: try matrix(N.ffnDown(l), rows: c.hiddenSize, columns: c.feedForwardSize),
                postFFNNorm: try vector(N.postFFNNorm(l), c.hiddenSize)))
        }
        self.layers = layers
        self.maxLowRank = maxRank
        self.owned = owned
        self.ownedBytes = ownedBytes
        self.convertedSources = converted
        // Reading one matrix maps the tail of the one before it back in (fault-around), after its release.
        releaseConvertedSourcePages()
    }

    /// Drops the file pages of tensors that were converted at load (read once during conversion, never
    /// again): for the Q4_K_M file that is ≈ 100 MB of resident memory. Loading drops each right after its
    /// conversion; call this after anything that reads the whole file again (the model fingerprint).
    public func releaseConvertedSourcePages() {
        for t in convertedSources { gguf.releasePages(of: t) }
    }

    deinit { for p in owned { p.deallocate() } }

    /// The Q8_0 token embedding when the output projection is a separate 4-bit copy of it (the `mixed`
    /// recipe): the LM head re-scores its top rows with it.
    public var outputRefinement: WeightMatrix? {
        guard output.data != tokenEmbedding.data, output.type == .q4_0 || output.type == .q4_1,
              tokenEmbedding.type == .q8_0, tokenEmbedding.rows == output.rows else { return nil }
        return tokenEmbedding
    }

    /// Bytes of matrix data read for one decoded token (all layer matrices, their low-rank factors, and the output
    /// projection).
    public var bytesReadPerToken: Int {
        layers.reduce(output.bytesRead) { $0 + $1.q.bytesRead + $1.k.bytesRead + $1.v.bytesRead + $1.o.bytesRead
            + $1.gate.bytesRead + $1.up.bytesRead + $1.down.bytesRead }
    }

    static func tensor(_ gguf: GGUFFile, _ name: String, _ dims: [Int]) throws -> GGUFTensorInfo {
        guard let t = gguf.tensor(name) else { throw ModelError.missingTensor(name) }
        guard t.dims == dims else { throw ModelError.shapeMismatch(tensor: name, found: t.dims, expected: dims) }
        guard t.type.isSupported else { throw ModelError.unsupportedTensorType(tensor: name, type: t.type) }
        return t
    }
}
