import RedflagKernels

/// What a 4-bit weight becomes once a LoRA adapter has been merged into it.
///
/// Merging dequantizes the weight, adds `ΔW` in f32 and quantizes the sum again. For a weight that was 4-bit
/// (Q4_K, Q4_0, Q4_1) that second rounding adds a quantization error about as large as the file's own: with the
/// shipped adapter it cost +2 % perplexity on held-out benign text on top of the adapter's effect (engine, GPL-3 and
/// held-out text, `models/redflag-lora/README.md`). Storing merged weights as int8 keeps the merged model within
/// 0.3 % of the f32 merge, for ~1.8× the bytes of the merged tensors.
public enum LoRAMergePrecision: String, CaseIterable, Sendable {
    /// Merged 4-bit weights are stored as Q8_0 (the default: quality first).
    case int8 = "q8_0"
    /// Merged 4-bit weights stay 4-bit: Q4_1 with the error-minimizing scale/offset search (`QuantizeSearch`).
    case int4 = "q4_1"

    /// The type a merged tensor is stored as, given the type it would have had without the adapter.
    public func mergedType(for target: TensorType) -> TensorType {
        switch target {
        case .q4_0, .q4_1, .q4_K:
            return self == .int8 ? .q8_0 : .q4_1
        default:
            return target
        }
    }
}
