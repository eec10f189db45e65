import RedflagGGUF
import RedflagKernels

/// A tiny synthetic Gemma 3 model, written as a GGUF image in memory (`GGUFWriter` → bytes → `GGUFFile(bytes:)`).
///
/// Vocabulary (Gemma's layout of the first ids, then what a test needs):
/// - 0 `<pad>`, 1 `<eos>`, 2 `<bos>`, 3 `<unk>`, 4 `<mask>`, 5 `[multimodal]`, 6 `<unused0>` (the red flag),
///   7 `<start_of_turn>`, 8 `<end_of_turn>` — control (`<unk>`: unknown);
/// - 9 … 264: the byte tokens `<0x00>` … `<0xFF>` (type byte);
/// - then single-character normal pieces: `▁`, `a` … `z`, `.`, `,`, `!`, `?`.
///
/// Only single characters are normal pieces, so no two of them merge: `encode(decode(ids)) == ids` for any
/// sequence of normal pieces, which lets a test turn a generated continuation into prefill text and back.
///
/// Weights are seeded random values. The output projection is tied to `token_embd` (no `output.weight`), so
/// row 6 of the embedding is both the `<rf>` output row (its logit is `row₆ · h`) and its input embedding.
/// Rows of control and byte tokens are zero (logit 0), normal pieces get random rows whose logits dominate,
/// so greedy decoding never produces a stop token or a byte. The final norm weights are ±1, so every final
/// hidden state has norm ≈ √hidden; a flag row `α·ĥ` then scores `α·√hidden·cos(ĥ, h)` at each position.
/// Changing row 6 changes neither the hidden states (unless `<rf>` is fed in) nor any other logit.
public enum TinyModel {
    public static let flagTokenID: Int32 = 6
    public static let padID: Int32 = 0
    public static let eosID: Int32 = 1
    public static let bosID: Int32 = 2
    public static let unknownID: Int32 = 3
    public static let startOfTurnID: Int32 = 7
    public static let endOfTurnID: Int32 = 8
    /// First byte token (`<0x00>`).
    public static let firstByteID: Int32 = 9
    /// First normal piece (`▁`).
    public static let firstNormalID: Int32 = 9 + 256

    static let specialPieces = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "[multimodal]", "<unused0>",
                                "<start_of_turn>", "<end_of_turn>"]
    static let normalPieces: [String] = ["\u{2581}"] + "abcdefghijklmnopqrstuvwxyz.,!?".map { String($0) }

    /// Every piece, by id.
    public static let pieces: [String] = {
        let hex = Array("0123456789ABCDEF")
        let bytes = (0..<256).map { "<0x\(hex[$0 >> 4])\(hex[$0 & 15])>" }
        return specialPieces + bytes + normalPieces
    }()

    /// `tokenizer.ggml.token_type` values (GGUF numbering: 1 normal, 2 unknown, 3 control, 6 byte).
    public static let tokenTypes: [Int32] = pieces.indices.map { i in
        if i == Int(unknownID) { return 2 }
        if i < specialPieces.count { return 3 }
        if i < Int(firstNormalID) { return 6 }
        return 1
    }

    public static var vocabularySize: Int { pieces.count }

    /// Shape, seed and the constructed parts of a tiny model.
    public struct Spec: Sendable {
        public var seed: UInt64 = 3
        public var hidden = 64
        /// 6 layers: layers 0–4 use sliding-window attention, layer 5 global attention (Gemma 3's pattern of 6).
        public var layers = 6
        public var heads = 2
        public var kvHeads = 1
        public var headDim = 32
        public var feedForward = 64
        public var contextLength = 32768
        /// Small, so longer runs exercise the window.
        public var slidingWindow = 16
        /// Storage type of the layer matrices in the file (`.f32`, `.q8_0`, `.q4_0` or `.q4_1`).
        public var layerType: TensorType = .f32
        /// Storage type of `token_embd` (`.f32` or `.q8_0`).
        public var embeddingType: TensorType = .f32
        /// Standard deviation of the entries of the normal pieces' embedding rows.
        public var pieceScale: Float = 0.4
        /// Mean weight of the post-attention and post-feed-forward norms: how much each block adds to the residual
        /// stream. Large values keep the current token's own embedding from dominating the final hidden state (with
        /// tied embeddings that makes greedy decoding repeat the last token forever).
        public var postNormScale: Float = 4
        /// Give the final norm weight random signs (±1): the current token's embedding then no longer lines up with
        /// its own output row, so the continuation is not the last token repeated.
        public var outputNormSigns = true
        /// Added to dimension 0 of every normal piece's embedding row: a component all hidden states share.
        public var commonComponent: Float = 0
        /// Row 6 of `token_embd` (`hidden` floats): the `<rf>` output row and input embedding. `nil`: zeros.
        public var flagRow: [Float]? = nil

        public init() {}
    }

    /// The token embedding (`vocab × hidden`, row-major) the spec produces, before any quantization.
    public static func tokenEmbedding(_ spec: Spec) -> [Float] {
        var rng = TestRNG(seed: spec.seed ^ 0xE3B0_C442)
        let d = spec.hidden
        var e = [Float](repeating: 0, count: vocabularySize * d)
        for id in Int(firstNormalID)..<vocabularySize {
            for j in 0..<d { e[id * d + j] = spec.pieceScale * rng.normal() }
            e[id * d] += spec.commonComponent
        }
        if let row = spec.flagRow {
            precondition(row.count == d, "flag row has \(row.count) values, expected \(d)")
            for j in 0..<d { e[Int(flagTokenID) * d + j] = row[j] }
        }
        return e
    }

    /// The GGUF image of the model.
    public static func bytes(_ spec: Spec) -> [UInt8] {
        precondition([.f32, .q8_0, .q4_0, .q4_1].contains(spec.layerType) && [.f32, .q8_0].contains(spec.embeddingType))
        let d = spec.hidden, qd = spec.heads * spec.headDim, kvd = spec.kvHeads * spec.headDim, ff = spec.feedForward
        var w = GGUFWriter()
        let arch = "gemma3"
        typealias A = GGUFKeys.Architecture
        func u32(_ v: Int) -> GGUFValue { .uint32(UInt32(v)) }
        w.set(GGUFKeys.architecture, .string(arch))
        w.set(GGUFKeys.name, .string("redflag tiny test model"))
        w.set("\(arch).\(A.contextLength)", u32(spec.contextLength))
        w.set("\(arch).\(A.embeddingLength)", u32(d))
        w.set("\(arch).\(A.blockCount)", u32(spec.layers))
        w.set("\(arch).\(A.feedForwardLength)", u32(ff))
        w.set("\(arch).\(A.headCount)", u32(spec.heads))
        w.set("\(arch).\(A.headCountKV)", u32(spec.kvHeads))
        w.set("\(arch).\(A.keyLength)", u32(spec.headDim))
        w.set("\(arch).\(A.valueLength)", u32(spec.headDim))
        w.set("\(arch).\(A.rmsEpsilon)", .float32(1e-6))
        w.set("\(arch).\(A.slidingWindow)", u32(spec.slidingWindow))
        w.set("\(arch).\(A.ropeFreqBase)", .float32(1_000_000))

        w.set(GGUFKeys.tokenizerModel, .string("llama"))
        w.set(GGUFKeys.tokenizerTokens, .array(.string, pieces.map { .string($0) }))
        w.set(GGUFKeys.tokenizerScores, .array(.float32, pieces.indices.map { .float32($0 >= Int(firstNormalID) ? -Float($0) : 0) }))
        w.set(GGUFKeys.tokenizerTokenType, .array(.int32, tokenTypes.map { .int32($0) }))
        w.set(GGUFKeys.tokenizerBOS, u32(Int(bosID)))
        w.set(GGUFKeys.tokenizerEOS, u32(Int(eosID)))
        w.set(GGUFKeys.tokenizerUnknown, u32(Int(unknownID)))
        w.set(GGUFKeys.tokenizerPadding, u32(Int(padID)))
        w.set(GGUFKeys.tokenizerAddBOS, .bool(true))
        w.set(GGUFKeys.tokenizerAddEOS, .bool(false))
        w.set(GGUFKeys.tokenizerAddSpacePrefix, .bool(false))

        // (name, rows, columns, values, type); vectors have rows == 1 and are stored as 1-D f32.
        var tensors: [(String, Int, Int, [Float], TensorType)] = []
        var rng = TestRNG(seed: spec.seed)
        func matrix(_ rows: Int, _ cols: Int) -> [Float] {
            let s = 1 / Float(cols).squareRoot()
            return (0..<(rows * cols)).map { _ in s * rng.normal() }
        }
        func norm(_ n: Int, _ scale: Float = 1) -> [Float] { (0..<n).map { _ in scale * (1 + 0.1 * rng.normal()) } }
        tensors.append(("token_embd.weight", vocabularySize, d, tokenEmbedding(spec), spec.embeddingType))
        for l in 0..<spec.layers {
            let b = "blk.\(l)."
            tensors.append((b + "attn_norm.weight", 1, d, norm(d), .f32))
            tensors.append((b + "attn_q.weight", qd, d, matrix(qd, d), spec.layerType))
            tensors.append((b + "attn_k.weight", kvd, d, matrix(kvd, d), spec.layerType))
            tensors.append((b + "attn_v.weight", kvd, d, matrix(kvd, d), spec.layerType))
            tensors.append((b + "attn_q_norm.weight", 1, spec.headDim, norm(spec.headDim), .f32))
            tensors.append((b + "attn_k_norm.weight", 1, spec.headDim, norm(spec.headDim), .f32))
            tensors.append((b + "attn_output.weight", d, qd, matrix(d, qd), spec.layerType))
            tensors.append((b + "post_attention_norm.weight", 1, d, norm(d, spec.postNormScale), .f32))
            tensors.append((b + "ffn_norm.weight", 1, d, norm(d), .f32))
            tensors.append((b + "ffn_gate.weight", ff, d, matrix(ff, d), spec.layerType))
            tensors.append((b + "ffn_up.weight", ff, d, matrix(ff, d), spec.layerType))
            tensors.append((b + "ffn_down.weight", d, ff, matrix(d, ff), spec.layerType))
            tensors.append((b + "post_ffw_norm.weight", 1, d, norm(d, spec.postNormScale), .f32))
        }
        var signs = [Float](repeating: 1, count: d)
        if spec.outputNormSigns { for j in 1..<d where rng.next() & 1 == 1 { signs[j] = -1 } }   // dimension 0 keeps +1
        tensors.append(("output_norm.weight", 1, d, signs, .f32))

        for (name, rows, cols, _, type) in tensors {
            w.addTensor(name: name, dims: rows == 1 ? [cols] : [cols, rows], type: type)
        }
        return w.bytes { i in
            let (_, rows, cols, values, type) = tensors[i]
            let rowBytes = type.rowBytes(cols)!
            var out = [UInt8](repeating: 0, count: rows * rowBytes)
            values.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBytes { dst in
                    for r in 0..<rows {
                        Quantize.row(type, from: src.baseAddress! + r * cols, count: cols, into: dst.baseAddress! + r * rowBytes)
                    }
                }
            }
            return out
        }
    }

    /// The parsed GGUF of the model.
    public static func gguf(_ spec: Spec) throws -> GGUFFile {
        try GGUFFile(bytes: bytes(spec), name: "<tiny gemma3 seed \(spec.seed)>")
    }
}

/// The seedable PRNG for test data, with uniform and approximately normal draws.
public typealias TestRNG = SplitMix64

extension SplitMix64 {
    /// Uniform in [0, 1).
    public mutating func unit() -> Float { Float(next() >> 40) * 0x1p-24 }
    /// Uniform integer in 0..<n.
    public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    /// Uniform in [lo, hi).
    public mutating func uniform(_ lo: Float, _ hi: Float) -> Float { lo + (hi - lo) * unit() }
    /// Approximately standard normal (sum of 4 uniforms, rescaled to unit variance).
    public mutating func normal() -> Float {
        (unit() + unit() + unit() + unit() - 2) * 1.732_050_8
    }
}
