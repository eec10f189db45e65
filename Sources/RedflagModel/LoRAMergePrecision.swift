import RedflagKernels

/// How a LoRA adapter's low-rank deltas reach 4-bit (and other quantized) weights at load.
///
/// Merging dequantizes the weight, adds `ΔW` in f32 and quantizes the sum again; for a weight that was 4-bit
/// (Q4_K, Q4_0, Q4_1) that second rounding adds a quantization error about as large as the file's own. Not merging
/// (`runtime`) keeps the weights exactly as the file has them and adds `(alpha / r)·B·(A·x)` in f32 to every
/// product. Shipped adapter v10, Q4_K_M file, perplexity with `<rf>` excluded, increase over the same engine
/// without the adapter: GPL-3 text f32 merge (`--format exact`) +2.80 %, Q8_0 merge +3.22 %; earlier, on held-out
/// benign text, f32 +2.3 %, Q8_0 +2.6 %, Q4_1 searched +3.2 %, Q4_1 reference rule +4.2 %.
public enum LoRAMergePrecision: String, CaseIterable, Sendable {
    /// Not merged: the adapted matrices stay as stored (in place from the mapping where the format allows) and carry
    /// a `LowRankDelta` computed in f32 next to them (the default: an f32 merge's numerics, the file's bytes plus
    /// `r·(in + out)` floats per matrix). `--format exact` merges in f32 anyway (exact either way); a baked file
    /// (`Requantizer`) cannot hold a delta and is merged as `int8`.
    case runtime = "runtime"
    /// Merged 4-bit weights are stored as Q8_0 (~1.7× the bytes of the adapted matrices).
    case int8 = "q8_0"
    /// Merged 4-bit weights stay 4-bit: Q4_1 with the error-minimizing scale/offset search (`QuantizeSearch`).
    case int4 = "q4_1"

    /// Whether low-rank deltas are folded into the stored weights.
    public var merges: Bool { self != .runtime }

    /// What a file written with this choice holds: `runtime` has no file form and bakes as `int8`.
    public var baked: LoRAMergePrecision { self == .runtime ? .int8 : self }

    /// The type a merged tensor is stored as, given the type it would have had without the adapter (`runtime`:
    /// unchanged, nothing is merged).
    public func mergedType(for target: TensorType) -> TensorType {
        switch (self, target) {
        case (.runtime, _):
            return target
        case (_, .q4_0), (_, .q4_1), (_, .q4_K):
            return self == .int8 ? .q8_0 : .q4_1
        default:
            return target
        }
    }
}
