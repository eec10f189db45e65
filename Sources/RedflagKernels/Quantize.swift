/// Scalar reference quantizers: f32 → ggml block formats.
///
/// Each quantizer reproduces ggml's reference (`quantize_row_*_ref`) and gguf-py's
/// `gguf.quants.quantize` bit for bit — the same f32 operations in the same order:
///
/// - Q8_0: `d = amax/127`, `id = d ≠ 0 ? 1/d : 0`, `q = round(x·id)` (half away from zero);
///   stores `f16(d)`.
/// - Q4_0: `max` = the value with the largest |x| (first one on ties), `d = max/−8`,
///   `q = min(15, trunc(x·id + 8.5))`.
/// - Q4_1: `d = (max − min)/15`, `q = min(15, trunc((x − min)·id + 0.5))`; stores `f16(d)`,
///   `f16(min)`.
/// - Q5_0: `d = max/−16` (signed value of largest magnitude), `q = min(31, trunc(x·id + 16.5))`.
/// - F16: IEEE round-to-nearest-even; BF16: round-to-nearest-even on the top 16 bits, NaN
///   forced quiet; F32: copy.
///
/// Note that the scale is computed and applied in f32 but stored as f16, so the stored grid
/// differs slightly from the one used for rounding (this is what ggml does; it is kept for
/// bit-exactness with files produced by llama.cpp / gguf-py).
public enum Quantize {
    /// Whether ``row(_:from:count:into:)`` can produce `type`.
    public static func supports(_ type: TensorType) -> Bool {
        switch type {
        case .f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0: return true
        default: return false
        }
    }

    /// Quantizes `count` f32 values into `type` blocks at `dst` (`type.rowBytes(count)` bytes).
    ///
    /// - Precondition: ``supports(_:)`` is true for `type` and `count` is a non-negative
    ///   multiple of `type.blockSize`. Use ``checkedRow(_:from:count:into:)`` otherwise.
    public static func row(_ type: TensorType, from src: UnsafePointer<Float>, count: Int,
                           into dst: UnsafeMutableRawPointer) {
        precondition(supports(type), "Quantize.row: unsupported type \(type)")
        precondition(count >= 0 && count % type.blockSize == 0,
                     "Quantize.row: \(count) is not a multiple of the \(type) block size")
        let blocks = count / type.blockSize
        switch type {
        case .f32:
            dst.copyMemory(from: src, byteCount: count * 4)
        case .f16:
            for i in 0..<count { storeU16(dst, 2 * i, floatToHalf(src[i])) }
        case .bf16:
            for i in 0..<count { storeU16(dst, 2 * i, floatToBFloat16(src[i])) }
        case .q8_0:
            for b in 0..<blocks { q8_0Block(src + 32 * b, dst + 34 * b) }
        case .q4_0:
            for b in 0..<blocks { q4_0Block(src + 32 * b, dst + 18 * b) }
        case .q4_1:
            for b in 0..<blocks { q4_1Block(src + 32 * b, dst + 20 * b) }
        case .q5_0:
            for b in 0..<blocks { q5_0Block(src + 32 * b, dst + 22 * b) }
        default:
            preconditionFailure("unreachable: supports(type) checked above")
        }
    }

    /// Like ``row(_:from:count:into:)`` but reports an unsupported type or a bad `count`
    /// as an error instead of trapping.
    public static func checkedRow(_ type: TensorType, from src: UnsafePointer<Float>, count: Int,
                                  into dst: UnsafeMutableRawPointer) throws(KernelError) {
        guard supports(type) else { throw .unsupportedType(type) }
        guard count >= 0, count % type.blockSize == 0 else { throw .invalidCount(count, type) }
        row(type, from: src, count: count, into: dst)
    }

    // MARK: - Blocks

    @inline(__always)
    static func storeU16(_ p: UnsafeMutableRawPointer, _ offset: Int, _ value: UInt16) {
        p.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt16.self)
    }

    @inline(__always)
    static func storeU32(_ p: UnsafeMutableRawPointer, _ offset: Int, _ value: UInt32) {
        p.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt32.self)
    }

    /// The signed value with the largest magnitude among `x[0..<n]` (the first such on ties).
    @inline(__always)
    static func signedAbsMax(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var amax: Float = 0
        var max: Float = 0
        for j in 0..<n where amax < abs(x[j]) {
            amax = abs(x[j])
            max = x[j]
        }
        return max
    }

    /// `1/d`, or 0 when `d == 0` (an all-zero block).
    @inline(__always)
    static func inverse(_ d: Float) -> Float { d != 0 ? 1 / d : 0 }

    /// `min(limit, trunc(v))` for the non-negative values the quantizers produce (C's
    /// `MIN(limit, (int)v)`); negative values and NaN give 0. Uses a truncating conversion
    /// instead of `truncf` (a libm call on baseline x86-64).
    @inline(__always)
    static func truncCode(_ v: Float, _ limit: UInt8) -> UInt8 {
        if !(v > 0) { return 0 }
        return v >= Float(limit) ? limit : UInt8(truncatingIfNeeded: Int32(v))
    }

    /// `roundf(v)` (half away from zero) clamped to `−127...127`; NaN gives 0. Exact: computed
    /// as ⌊|v|⌋ + (|v| − ⌊|v|⌋ ≥ ½), the same formula gguf-py uses, with no libm call.
    @inline(__always)
    static func roundCode127(_ v: Float) -> Int8 {
        let a = abs(v)
        guard a < 127 else { return a.isNaN ? 0 : (v < 0 ? -127 : 127) }
        // Branch-free (real weights have random signs and fractions, which defeat prediction):
        // ⌊a⌋ + ⌊2·(a − ⌊a⌋)⌋, where `a − ⌊a⌋` and the doubling are exact; then apply the sign.
        let whole = Int32(a)
        let r = whole &+ Int32(2 * (a - Float(whole)))
        let sign = Int32(bitPattern: v.bitPattern) >> 31  // 0 or −1
        return Int8(truncatingIfNeeded: (r ^ sign) &- sign)
    }

    static func q8_0Block(_ x: UnsafePointer<Float>, _ block: UnsafeMutableRawPointer) {
        var amax: Float = 0
        for j in 0..<32 { amax = Swift.max(amax, abs(x[j])) }
        let d = amax / 127
        let id = inverse(d)
        storeU16(block, 0, floatToHalf(d))
        for j in 0..<32 {
            // |x·id| ≤ 127·(1 + 2⁻²³), so clamping to ±127 never changes ggml's result.
            block.storeBytes(of: roundCode127(x[j] * id), toByteOffset: 2 + j, as: Int8.self)
        }
    }

    static func q4_0Block(_ x: UnsafePointer<Float>, _ block: UnsafeMutableRawPointer) {
        let max = signedAbsMax(x, 32)
        let d = max / -8
        let id = inverse(d)
        storeU16(block, 0, floatToHalf(d))
        for j in 0..<16 {
            let q0 = truncCode(x[j] * id + 8.5, 15)
            let q1 = truncCode(x[j + 16] * id + 8.5, 15)
            block.storeBytes(of: q0 | (q1 << 4), toByteOffset: 2 + j, as: UInt8.self)
        }
    }

    static func q4_1Block(_ x: UnsafePointer<Float>, _ block: UnsafeMutableRawPointer) {
        var min = x[0]
        var max = x[0]
        for j in 1..<32 {
            min = Swift.min(min, x[j])
            max = Swift.max(max, x[j])
        }
        let d = (max - min) / 15
        let id = inverse(d)
        storeU16(block, 0, floatToHalf(d))
        storeU16(block, 2, floatToHalf(min))
        for j in 0..<16 {
            let q0 = truncCode((x[j] - min) * id + 0.5, 15)
            let q1 = truncCode((x[j + 16] - min) * id + 0.5, 15)
            block.storeBytes(of: q0 | (q1 << 4), toByteOffset: 4 + j, as: UInt8.self)
        }
    }

    static func q5_0Block(_ x: UnsafePointer<Float>, _ block: UnsafeMutableRawPointer) {
        let max = signedAbsMax(x, 32)
        let d = max / -16
        let id = inverse(d)
        storeU16(block, 0, floatToHalf(d))
        var qh: UInt32 = 0
        for j in 0..<16 {
            let q0 = truncCode(x[j] * id + 16.5, 31)
            let q1 = truncCode(x[j + 16] * id + 16.5, 31)
            block.storeBytes(of: (q0 & 0x0F) | ((q1 & 0x0F) << 4), toByteOffset: 6 + j, as: UInt8.self)
            qh |= UInt32(q0 >> 4) << UInt32(j)
            qh |= UInt32(q1 >> 4) << UInt32(j + 16)
        }
        storeU32(block, 2, qh)
    }
}
