import RedflagGGUF
import RedflagKernels

/// A LoRA adapter in llama.cpp's GGUF adapter layout (`general.type = adapter`, `adapter.type = lora`,
/// `adapter.lora.alpha`, tensors `<base>.lora_a` with ggml dims `[in, r]` and `<base>.lora_b` with `[r, out]`),
/// plus redflag's trained `<rf>` embedding row (`token_embd.weight.rf_row`, `[hidden]`) and flag metadata.
///
/// Merging adds `ΔW = (alpha / r) · B·A` to each adapted weight in f32, before any quantization; with
/// ``mergePrecision`` `.runtime` (the default) the quantized engine keeps the weights as stored and applies `ΔW` as a
/// `LowRankDelta` beside them (``lowRankFactors(_:)``). The `<rf>` row is always written into its tensor.
public final class LoRAAdapter: @unchecked Sendable {
    public static let rfRowSuffix = ".rf_row"

    struct Pair {
        let a: [Float]   // (r, in) row-major
        let b: [Float]   // (out, r) row-major
        let rank: Int
        let inputs: Int
        let outputs: Int
    }

    public let path: String
    public let alpha: Float
    /// `redflag.token_id` and `redflag.threshold` from the adapter, if present.
    public let flagTokenID: Int32?
    public let threshold: Float?
    /// How low-rank deltas reach quantized weights: kept unmerged (`runtime`, the default) or merged into Q8_0/Q4_1.
    public var mergePrecision: LoRAMergePrecision = .runtime
    private var pairs: [String: Pair] = [:]
    private var rfRow: (tensor: String, values: [Float])?

    /// Names of the base tensors this adapter changes.
    public var adaptedTensors: [String] { Array(pairs.keys).sorted() + (rfRow.map { [$0.tensor] } ?? []) }

    public init(path: String) throws {
        let g = try GGUFFile(path: path)
        self.path = path
        guard g.string(GGUFKeys.type) == "adapter" else {
            throw ModelError.invalidConfig("\(path): general.type is '\(g.string(GGUFKeys.type) ?? "<missing>")', expected 'adapter'")
        }
        guard g.string(GGUFKeys.adapterType) == "lora" else {
            throw ModelError.invalidConfig("\(path): adapter.type is '\(g.string(GGUFKeys.adapterType) ?? "<missing>")', expected 'lora'")
        }
        guard let alpha = g.double(GGUFKeys.adapterLoraAlpha), alpha.isFinite, alpha > 0 else {
            throw ModelError.invalidConfig("\(path): adapter.lora.alpha is missing or not a positive number")
        }
        self.alpha = Float(alpha)
        flagTokenID = g.int(GGUFKeys.redflagTokenID).map { Int32($0) }
        threshold = g.double(GGUFKeys.redflagThreshold).map { Float($0) }

        func floats(_ t: GGUFTensorInfo) throws -> [Float] {
            guard t.type.isSupported else { throw ModelError.unsupportedTensorType(tensor: t.name, type: t.type) }
            var out = [Float](repeating: 0, count: t.elementCount)
            out.withUnsafeMutableBufferPointer { Dequantize.row(t.type, from: g.bytes(of: t).baseAddress!, count: t.elementCount, into: $0.baseAddress!) }
            return out
        }
        for t in g.tensors where t.name.hasSuffix(".lora_a") {
            let base = String(t.name.dropLast(".lora_a".count))
            guard let tb = g.tensor(base + ".lora_b") else { throw ModelError.missingTensor(base + ".lora_b") }
            guard t.dims.count == 2, tb.dims.count == 2, t.dims[1] == tb.dims[0] else {
                throw ModelError.shapeMismatch(tensor: tb.name, found: tb.dims, expected: [t.dims.count == 2 ? t.dims[1] : 0, -1])
            }
            pairs[base] = Pair(a: try floats(t), b: try floats(tb), rank: t.dims[1], inputs: t.dims[0], outputs: tb.dims[1])
        }
        for t in g.tensors where t.name.hasSuffix(Self.rfRowSuffix) {
            rfRow = (String(t.name.dropLast(Self.rfRowSuffix.count)), try floats(t))
        }
        if pairs.isEmpty && rfRow == nil { throw ModelError.invalidConfig("\(path): the adapter has no .lora_a/.lora_b tensors") }
        if rfRow != nil && flagTokenID == nil {
            throw ModelError.invalidConfig("\(path): has an <rf> embedding row but no redflag.token_id")
        }
    }

    /// Checks every adapted tensor against the base model's shapes.
    public func validate(against gguf: GGUFFile) throws {
        for (name, p) in pairs {
            guard let t = gguf.tensor(name) else { throw ModelError.missingTensor("\(name) (adapted by \(path))") }
            guard t.dims == [p.inputs, p.outputs] else {
                throw ModelError.shapeMismatch(tensor: "\(name) (adapter \(path))", found: [p.inputs, p.outputs], expected: t.dims)
            }
        }
        if let (name, v) = rfRow {
            guard gguf.tensor(name) != nil else { throw ModelError.missingTensor(name) }
            for t in gguf.tensors where getsFlagRow(t.name) {
                guard v.count == t.columns, let id = flagTokenID, id >= 0, Int(id) < t.rows else {
                    throw ModelError.shapeMismatch(tensor: name + Self.rfRowSuffix, found: [v.count], expected: [t.columns])
                }
            }
        }
    }

    public func touches(_ tensor: String) -> Bool { pairs[tensor] != nil || getsFlagRow(tensor) }

    /// Whether `tensor` takes the trained `<rf>` row: the tensor named by the adapter and, when that is the token
    /// embedding, a separate output projection too (the row was trained with input and output tied, so a model
    /// whose output was untied from the same embedding, e.g. by `quantize --type mixed`, needs it in both).
    func getsFlagRow(_ tensor: String) -> Bool {
        guard let name = rfRow?.tensor else { return false }
        return tensor == name || (name == TensorNames.tokenEmbedding && tensor == TensorNames.output)
    }

    /// Whether every row of `tensor` changes (a low-rank pair), not just the `<rf>` embedding row.
    public func hasLowRankDelta(_ tensor: String) -> Bool { pairs[tensor] != nil }

    /// Whether ``addDelta(to:tensor:row:lowRank:)`` changes row `row` of `tensor` (`lowRank`: with the low-rank delta).
    public func changes(_ tensor: String, row: Int, lowRank: Bool = true) -> Bool {
        (lowRank && hasLowRankDelta(tensor)) || (getsFlagRow(tensor) && flagTokenID.map { Int($0) } == row)
    }

    /// Whether loading `tensor` rewrites its stored values: it gets the `<rf>` row, or a low-rank delta that
    /// `precision` merges.
    public func rewrites(_ tensor: String, precision: LoRAMergePrecision) -> Bool {
        getsFlagRow(tensor) || (precision.merges && hasLowRankDelta(tensor))
    }

    /// The type `tensor` is stored as once merged with `precision` (default ``mergePrecision``), given the type it
    /// would have had without the adapter: low-rank deltas change every row, so the precision decides; a tensor
    /// that only gets the `<rf>` row, or none of the adapter, keeps `target`.
    public func mergedType(of tensor: String, unmerged target: TensorType, precision: LoRAMergePrecision? = nil) -> TensorType {
        hasLowRankDelta(tensor) ? (precision ?? mergePrecision).mergedType(for: target) : target
    }

    /// `tensor`'s low-rank factors for a `LowRankDelta`: `down` = A `(r × in)` and `upTransposed` = (alpha / r)·Bᵀ
    /// `(r × out)`, row-major; nil if the adapter has no pair for it.
    public func lowRankFactors(_ tensor: String) -> (rank: Int, down: [Float], upTransposed: [Float])? {
        guard let p = pairs[tensor] else { return nil }
        let scale = alpha / Float(p.rank)
        var up = [Float](repeating: 0, count: p.rank * p.outputs)
        for o in 0..<p.outputs {
            for k in 0..<p.rank { up[k * p.outputs + o] = scale * p.b[o * p.rank + k] }
        }
        return (p.rank, p.a, up)
    }

    /// Applies the adapter to row `row` (`columns` floats, f32) of tensor `tensor`: the `<rf>` row, and the low-rank
    /// delta unless `lowRank` is false (it runs beside the weights instead).
    public func addDelta(to w: UnsafeMutablePointer<Float>, tensor: String, row: Int, lowRank: Bool = true) {
        if lowRank, let p = pairs[tensor] {
            let scale = alpha / Float(p.rank)
            p.b.withUnsafeBufferPointer { b in
                p.a.withUnsafeBufferPointer { a in
                    for k in 0..<p.rank {
                        let coef = scale * b[row * p.rank + k]
                        if coef != 0 { VectorMath.axpy(coef, a.baseAddress! + k * p.inputs, w, p.inputs) }
                    }
                }
            }
        }
        if let (_, v) = rfRow, getsFlagRow(tensor), let id = flagTokenID, row == Int(id) {
            v.withUnsafeBufferPointer { w.update(from: $0.baseAddress!, count: v.count) }
        }
    }
}
