import RedflagKernels

/// How `redflag quantize` re-types each 2-D weight of a model.
public enum QuantizationRecipe: String, Sendable, CaseIterable {
    /// Every matrix → Q8_0.
    case q8_0
    /// Every matrix → Q4_0 except the token embedding (→ Q8_0), like llama.cpp's Q4_0 files.
    case q4_0
    /// The recommended recipe: 4-bit where the source is 4-bit without re-rounding (Q4_K → Q4_1), lossless
    /// Q5_0 → Q8_0, Q6_K → Q8_0, and the tied embedding split in two: the input lookup keeps Q8_0 (one row
    /// read per token) while a separate 4-bit output projection (`output.weight`, Q4_1) carries the LM head —
    /// two thirds of the bytes every decoded token reads.
    case mixed

    /// The type tensor `name` (stored as `type`) gets; nil leaves it untouched (norms, 1-D tensors).
    public func target(for name: String, type: TensorType, dims: [Int]) -> TensorType? {
        guard dims.count == 2, name.hasSuffix(".weight"), dims[0] % 32 == 0 else { return nil }
        let isEmbedding = name == TensorNames.tokenEmbedding || name == TensorNames.output
        switch self {
        case .q8_0: return .q8_0
        case .q4_0: return isEmbedding ? .q8_0 : .q4_0
        case .mixed:
            if name == TensorNames.output { return .q4_1 }
            if name == TensorNames.tokenEmbedding { return .q8_0 }
            return WeightFormat.quantized.runtimeType(for: type)
        }
    }

    /// Whether a tied model gets a separate output projection (copied from the token embedding).
    public var untiesOutput: Bool { self == .mixed }

    /// llama.cpp's `general.file_type` code for the result (7 = mostly Q8_0, 2 = mostly Q4_0, 3 = mostly Q4_1).
    public var fileType: UInt32 {
        switch self {
        case .q8_0: return 7
        case .q4_0: return 2
        case .mixed: return 3
        }
    }
}
