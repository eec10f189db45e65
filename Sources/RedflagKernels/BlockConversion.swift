/// Row conversions between ggml block formats, used at load time (e.g. to turn K-quants into
/// the simpler 32-wide formats the fast kernels consume) and by the converter.
///
/// ``convertRow(from:_:to:_:count:)`` picks a direct path when one exists and otherwise
/// dequantizes to f32 and re-quantizes with ``Quantize`` (ggml's reference rounding).
///
/// ## Exactness
///
/// "Lossless" means the converted row dequantizes (with ``Dequantize``) to *bit-identical* f32
/// values. ``isLossless(from:to:)`` reports it.
///
/// - **Lossless:**
///   - any type to itself (a byte copy, also for types ``Dequantize`` cannot decode);
///   - any supported type → F32 (the dequantization is defined in f32);
///   - Q5_0 → Q8_0: same `d`, values `q − 16 ∈ −16…15` stored as int8;
///   - Q4_0 → Q8_0: same `d`, values `q − 8 ∈ −8…7` stored as int8.
/// - **Near-lossless:** Q4_K → Q4_1. Each 32-value sub-block becomes one Q4_1 block with
///   `d' = f16(d·sc)`, `m' = f16(−dmin·m)` and the 4-bit codes copied unchanged (re-laid out
///   into Q4_1's nibble order). Only the two scales are rounded, so for code `q` the error is
///   at most `q·u(d·sc) + u(dmin·m)` (plus f32 rounding of the products), where `u(x)` is half
///   an f16 ulp of `x`: `|x|·2⁻¹¹` for normal halfs, `2⁻²⁵` in the subnormal range. If a scale
///   overflows f16 (|d·sc| or |dmin·m| ≥ 65520, impossible for real checkpoints) that sub-block
///   falls back to re-quantization with ``Quantize`` (which still overflows if the values
///   themselves exceed what a Q4_1 block can hold).
/// - **Bounded:** Q6_K → Q8_0. Each group of 32 values (two Q6_K sub-blocks) gets one scale
///   `d = f16↑(amax/127)` — `amax/127` rounded *up* to a half, so `|y/d| ≤ 127` — and each
///   exactly dequantized value `y` is re-rounded to the nearest point of the *stored* grid:
///   `q = round(y/d)`. Hence `|y − d·q| ≤ d/2` (half a quantization step, up to f32 rounding
///   of the final product), with `d ≤ (amax/127)·(1 + 2⁻¹⁰)` in the normal f16 range.
///   The bound assumes `amax/127 ≤ 65504`.
/// - **Lossy:** everything else (generic dequantize + re-quantize, bit-identical to what
///   gguf-py / llama.cpp's reference quantizers produce from the dequantized values).
public enum BlockConversion {
    /// Whether ``convertRow(from:_:to:_:count:)`` handles this pair.
    public static func canConvert(from source: TensorType, to target: TensorType) -> Bool {
        source == target || (source.isSupported && Quantize.supports(target))
    }

    /// Whether the conversion reproduces the source's dequantized values bit for bit.
    public static func isLossless(from source: TensorType, to target: TensorType) -> Bool {
        if source == target { return true }
        guard canConvert(from: source, to: target) else { return false }
        switch (source, target) {
        case (_, .f32), (.q5_0, .q8_0), (.q4_0, .q8_0): return true
        default: return false
        }
    }

    /// Converts a row of `count` values from `source` blocks at `src` to `target` blocks at `dst`.
    ///
    /// - Precondition: ``canConvert(from:to:)`` and `count` is a non-negative multiple of both
    ///   block sizes. `src` and `dst` must not overlap; neither needs any alignment.
    public static func convertRow(from source: TensorType, _ src: UnsafeRawPointer,
                                  to target: TensorType, _ dst: UnsafeMutableRawPointer, count: Int) {
        precondition(canConvert(from: source, to: target), "BlockConversion: no conversion from \(source) to \(target)")
        precondition(count >= 0 && count % source.blockSize == 0 && count % target.blockSize == 0,
                     "BlockConversion: \(count) is not a multiple of the \(source) and \(target) block sizes")
        if count == 0 { return }
        switch (source, target) {
        case _ where source == target:
            dst.copyMemory(from: src, byteCount: count / source.blockSize * source.blockBytes)
        case (.q5_0, .q8_0):
            for b in 0..<(count / 32) { q5_0ToQ8_0(src + 22 * b, dst + 34 * b) }
        case (.q4_0, .q8_0):
            for b in 0..<(count / 32) { q4_0ToQ8_0(src + 18 * b, dst + 34 * b) }
        case (.q4_K, .q4_1):
            for b in 0..<(count / 256) { q4_KToQ4_1(src + 144 * b, dst + 160 * b) }
        case (.q6_K, .q8_0):
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 256) { buffer in
                let y = buffer.baseAddress!
                for b in 0..<(count / 256) { q6_KToQ8_0(src + 210 * b, dst + 272 * b, scratch: y) }
            }
        default:
            generic(from: source, src, to: target, dst, count: count)
        }
    }

    /// Like ``convertRow(from:_:to:_:count:)`` but reports an unsupported pair or a bad `count`
    /// as an error instead of trapping.
    public static func checkedConvertRow(from source: TensorType, _ src: UnsafeRawPointer,
                                         to target: TensorType, _ dst: UnsafeMutableRawPointer,
                                         count: Int) throws(KernelError) {
        guard canConvert(from: source, to: target) else {
            throw .unsupportedConversion(from: source, to: target)
        }
        guard count >= 0, count % source.blockSize == 0 else { throw .invalidCount(count, source) }
        guard count % target.blockSize == 0 else { throw .invalidCount(count, target) }
        convertRow(from: source, src, to: target, dst, count: count)
    }

    // MARK: - Paths

    /// Dequantize to f32 then quantize, 256 values (a multiple of every block size) at a time.
    static func generic(from source: TensorType, _ src: UnsafeRawPointer,
                        to target: TensorType, _ dst: UnsafeMutableRawPointer, count: Int) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 256) { buffer in
            let y = buffer.baseAddress!
            var done = 0
            while done < count {
                // `count` and `done` are multiples of both block sizes, hence so is `n`.
                let n = min(256, count - done)
                Dequantize.row(source, from: src + done / source.blockSize * source.blockBytes, count: n, into: y)
                Quantize.row(target, from: y, count: n, into: dst + done / target.blockSize * target.blockBytes)
                done += n
            }
        }
    }

    /// Q5_0 `{d; qh; qs}` → Q8_0 `{d; int8[32]}`: same d, 5-bit value − 16 as int8.
    @inline(__always)
    static func q5_0ToQ8_0(_ block: UnsafeRawPointer, _ out: UnsafeMutableRawPointer) {
        out.storeBytes(of: Dequantize.loadU16(block, 0).littleEndian, toByteOffset: 0, as: UInt16.self)
        let qh = Dequantize.loadU32(block, 2)
        for j in 0..<16 {
            let byte = Dequantize.loadU8(block, 6 + j)
            let h0 = UInt8(truncatingIfNeeded: (qh >> UInt32(j)) & 1) << 4
            let h1 = UInt8(truncatingIfNeeded: (qh >> UInt32(j + 16)) & 1) << 4
            out.storeBytes(of: Int8(Int(byte & 0x0F | h0) - 16), toByteOffset: 2 + j, as: Int8.self)
            out.storeBytes(of: Int8(Int(byte >> 4 | h1) - 16), toByteOffset: 18 + j, as: Int8.self)
        }
    }

    /// Q4_0 `{d; qs}` → Q8_0: same d, nibble − 8 as int8.
    @inline(__always)
    static func q4_0ToQ8_0(_ block: UnsafeRawPointer, _ out: UnsafeMutableRawPointer) {
        out.storeBytes(of: Dequantize.loadU16(block, 0).littleEndian, toByteOffset: 0, as: UInt16.self)
        for j in 0..<16 {
            let byte = Dequantize.loadU8(block, 2 + j)
            out.storeBytes(of: Int8(Int(byte & 0x0F) - 8), toByteOffset: 2 + j, as: Int8.self)
            out.storeBytes(of: Int8(Int(byte >> 4) - 8), toByteOffset: 18 + j, as: Int8.self)
        }
    }

    /// One Q4_K super-block (256 values) → eight Q4_1 blocks (8 × 20 bytes).
    static func q4_KToQ4_1(_ block: UnsafeRawPointer, _ out: UnsafeMutableRawPointer) {
        let d = Dequantize.loadHalf(block, 0)
        let dmin = Dequantize.loadHalf(block, 2)
        let scales = block + 4
        let qs = block + 16
        for j in 0..<8 {
            let (sc, m) = Dequantize.q4_KScaleMin(scales, j)
            let dh = floatToHalf(d * Float(sc))
            let mh = floatToHalf(-(dmin * Float(m)))
            let o = out + 20 * j
            if dh & 0x7C00 == 0x7C00 || mh & 0x7C00 == 0x7C00 {
                // Scale not representable as a half: re-quantize this sub-block instead.
                withUnsafeTemporaryAllocation(of: Float.self, capacity: 256) { buffer in
                    let y = buffer.baseAddress!
                    Dequantize.q4_KBlock(block, y)
                    Quantize.q4_1Block(y + 32 * j, o)
                }
                continue
            }
            Quantize.storeU16(o, 0, dh)
            Quantize.storeU16(o, 2, mh)
            // Sub-block j's codes are nibbles (low for even j, high for odd) of qs[32(j/2) ..< +32]:
            // code l in byte l. Q4_1 wants codes l and l+16 in the low/high nibble of byte l.
            let bytes = qs + 32 * (j >> 1)
            let shift = UInt8((j & 1) * 4)
            for l in 0..<16 {
                let lo = (Dequantize.loadU8(bytes, l) >> shift) & 0x0F
                let hi = (Dequantize.loadU8(bytes, l + 16) >> shift) & 0x0F
                o.storeBytes(of: lo | (hi << 4), toByteOffset: 4 + l, as: UInt8.self)
            }
        }
    }

    /// One Q6_K super-block (256 values) → eight Q8_0 blocks (8 × 34 bytes); see the type docs
    /// for the rounding rule and error bound.
    static func q6_KToQ8_0(_ block: UnsafeRawPointer, _ out: UnsafeMutableRawPointer,
                           scratch y: UnsafeMutablePointer<Float>) {
        Dequantize.q6_KBlock(block, y)
        for g in 0..<8 {
            let x = y + 32 * g
            let o = out + 34 * g
            var amax: Float = 0
            for l in 0..<32 { amax = max(amax, abs(x[l])) }
            // Round the scale up so that every |x/d| ≤ 127; clamp to the largest finite half.
            let dh = min(floatToHalfRoundingUp(amax / 127), 0x7BFF)
            let d = halfToFloat(dh)
            Quantize.storeU16(o, 0, dh)
            for l in 0..<32 {
                let q = d > 0 ? Quantize.roundCode127(x[l] / d) : 0
                o.storeBytes(of: q, toByteOffset: 2 + l, as: Int8.self)
            }
        }
    }
}
