/// The element types a tensor can be stored as: ggml's type codes, as they appear in GGUF files.
///
/// Block layouts (bytes per block / values per block) follow the public ggml formats:
/// - `q8_0`: `{ f16 d; int8 qs[32] }` — 34 bytes per 32 values, `x = d * q`
/// - `q4_0`: `{ f16 d; uint8 qs[16] }` — 18 bytes per 32, `x = d * (nibble - 8)`; low nibbles are values 0..15, high nibbles 16..31
/// - `q4_1`: `{ f16 d; f16 m; uint8 qs[16] }` — 20 bytes per 32, `x = d * nibble + m`
/// - `q5_0`: `{ f16 d; uint8 qh[4]; uint8 qs[16] }` — 22 bytes per 32, `x = d * ((nibble | highbit << 4) - 16)`
/// - `q4_K`: `{ f16 d; f16 dmin; uint8 scales[12]; uint8 qs[128] }` — 144 bytes per 256
/// - `q6_K`: `{ uint8 ql[128]; uint8 qh[64]; int8 scales[16]; f16 d }` — 210 bytes per 256
public enum TensorType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0
    case f16 = 1
    case q4_0 = 2
    case q4_1 = 3
    case q5_0 = 6
    case q5_1 = 7
    case q8_0 = 8
    case q8_1 = 9
    case q2_K = 10
    case q3_K = 11
    case q4_K = 12
    case q5_K = 13
    case q6_K = 14
    case q8_K = 15
    case bf16 = 30

    /// Values per block.
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: return 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1: return 32
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K: return 256
        }
    }

    /// Bytes per block.
    public var blockBytes: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .q4_0: return 18
        case .q4_1: return 20
        case .q5_0: return 22
        case .q5_1: return 24
        case .q8_0: return 34
        case .q8_1: return 36
        case .q2_K: return 84
        case .q3_K: return 110
        case .q4_K: return 144
        case .q5_K: return 176
        case .q6_K: return 210
        case .q8_K: return 292
        }
    }

    /// Whether `Dequantize` can turn this type into f32.
    public var isSupported: Bool {
        switch self {
        case .f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q8_0, .q4_K, .q6_K: return true
        default: return false
        }
    }

    /// Bytes needed for a row of `count` values, or nil if `count` is not a whole number of blocks.
    public func rowBytes(_ count: Int) -> Int? {
        guard count >= 0, count % blockSize == 0 else { return nil }
        let (bytes, overflow) = (count / blockSize).multipliedReportingOverflow(by: blockBytes)
        return overflow ? nil : bytes
    }

    public var description: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .q4_0: return "Q4_0"
        case .q4_1: return "Q4_1"
        case .q5_0: return "Q5_0"
        case .q5_1: return "Q5_1"
        case .q8_0: return "Q8_0"
        case .q8_1: return "Q8_1"
        case .q2_K: return "Q2_K"
        case .q3_K: return "Q3_K"
        case .q4_K: return "Q4_K"
        case .q5_K: return "Q5_K"
        case .q6_K: return "Q6_K"
        case .q8_K: return "Q8_K"
        }
    }
}
