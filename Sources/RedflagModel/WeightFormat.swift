import RedflagKernels

/// How matrices are held in memory for the forward pass.
public enum WeightFormat: String, Sendable, CaseIterable {
    /// Every matrix dequantized to f32, activations in f32: the exact reference path (≈ 4 bytes per weight).
    case exact
    /// Matrices in the int8/int4 block layouts the SIMD kernels use: Q8_0, Q4_0 and Q4_1 tensors are used
    /// in place from the mapping; Q4_K becomes Q4_1 (4-bit values untouched), Q5_0 becomes Q8_0 (lossless),
    /// Q6_K and float tensors become Q8_0. Activations are quantized to int8 per 32-block.
    case quantized

    /// The runtime type a stored type is turned into.
    public func runtimeType(for stored: TensorType) -> TensorType {
        switch self {
        case .exact: return .f32
        case .quantized:
            switch stored {
            case .q8_0, .q4_0, .q4_1: return stored
            case .q4_K: return .q4_1
            default: return .q8_0
            }
        }
    }
}
