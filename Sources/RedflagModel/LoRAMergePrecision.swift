import RedflagKernels

/// What a 4-bit weight becomes once a LoRA adapter has been merged into it.
///
/// Merging dequantizes the weight, adds `ΔW` in f32 and quantizes the sum again. For a weight that was 4-bit
/// (Q4_K, Q4_0, Q4_1) that second rounding adds a quantization error about as large as the file's own. Shipped
/// adapter, Q4_K_M file, held-out benign text (perplexity with `<rf>` excluded, increase over the same engine without
/// the adapter): f32 merge +2.3 %, Q8_0 +2.6 %, Q4_1 with the error-minimizing search +3.2 %, Q4_1 with the
/// reference rule (before this type existed) +4.2 %; the detector's validation AUROC rose from 0.974 to 0.984 with
/// Q8_0. The price of Q8_0 is ~1.7× the bytes of the adapted matrices (the Gemma 3 270M body: ~63 → ~107 MB).
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
