// IEEE 754 binary16 ("half", ggml's `ggml_fp16_t`) conversions on raw bit patterns.
//
// These are pure integer/float bit manipulations, so they behave identically on every
// architecture (no dependence on F16C or on `Float16` availability) and are exact:
//
// - ``halfToFloat(_:)`` is exact for every one of the 65 536 bit patterns (subnormals,
//   ±0, ±inf; NaNs stay NaN with their payload shifted into the f32 significand).
// - ``floatToHalf(_:)`` rounds to nearest, ties to even, like a hardware conversion and
//   like numpy's `astype(np.float16)`: overflow (|x| ≥ 65520) gives ±inf, values below
//   half the smallest subnormal (2^-25) give ±0, NaN gives a quiet NaN.

/// Converts an IEEE half-precision bit pattern to `Float` (exact).
///
/// Branch-free (the three cases are computed and selected), because it sits in the inner loops
/// of the quantized dot products, where block scales converted from K-quants are often f16
/// subnormals mixed with normals.
@inlinable @inline(__always)
public func halfToFloat(_ bits: UInt16) -> Float {
    let sign = UInt32(bits & 0x8000) << 16
    let shifted = UInt32(bits & 0x7FFF) << 13          // exponent and mantissa in f32 position
    let exponent = shifted & 0x0F80_0000
    let normal = shifted &+ 0x3800_0000                // rebias exponent 15 → 127
    let infOrNaN = shifted &+ 0x7000_0000              // exponent 31 → 255, payload kept
    // ±0 / subnormal: mantissa·2⁻²⁴ = (2⁻¹⁴·(1 + mantissa/1024)) − 2⁻¹⁴, exact (Sterbenz).
    let subnormal = (Float(bitPattern: shifted &+ 0x3880_0000) - 0x1p-14).bitPattern
    var magnitude = exponent == 0 ? subnormal : normal
    magnitude = exponent == 0x0F80_0000 ? infOrNaN : magnitude
    return Float(bitPattern: magnitude | sign)
}

/// Converts a `Float` to an IEEE half-precision bit pattern, rounding to nearest, ties to even.
@inlinable @inline(__always)
public func floatToHalf(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    let sign = UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000)
    let magnitude = bits & 0x7FFF_FFFF
    if magnitude >= 0x7F80_0000 {
        // inf stays inf; NaN becomes a quiet NaN keeping the top payload bits.
        if magnitude == 0x7F80_0000 { return sign | 0x7C00 }
        return sign | 0x7E00 | UInt16(truncatingIfNeeded: (magnitude >> 13) & 0x03FF)
    }
    if magnitude >= 0x477F_F000 {
        // ≥ 65520 = halfway between 65504 (max half) and 65536: ties-to-even rounds to inf.
        return sign | 0x7C00
    }
    if magnitude < 0x3880_0000 {
        // |x| < 2^-14: the result is a subnormal (or 0, or the smallest normal after rounding).
        // Adding 0.5 (whose f32 ulp is 2^-24, the half subnormal step) makes the FPU do the
        // round-to-nearest-even; the low bits are then the half mantissa (0...1024).
        let shifted = Float(bitPattern: magnitude) + 0.5
        return sign | UInt16(truncatingIfNeeded: shifted.bitPattern - Float(0.5).bitPattern)
    }
    // Normal: rebias exponent 127 → 15, drop 13 mantissa bits with round-to-nearest-even.
    // A carry out of the mantissa correctly bumps the exponent (never to inf: checked above).
    let rebased = magnitude - 0x3800_0000
    let rounded = rebased + 0x0FFF + ((rebased >> 13) & 1)
    return sign | UInt16(truncatingIfNeeded: rounded >> 13)
}

/// The smallest half whose value is ≥ `value` (for finite, non-negative `value` ≤ 65504),
/// i.e. rounding toward +inf. Used where a scale must not be smaller than requested.
@inlinable
internal func floatToHalfRoundingUp(_ value: Float) -> UInt16 {
    var h = floatToHalf(value)
    if halfToFloat(h) < value, h < 0x7C00 { h += 1 }
    return h
}

/// Converts an f32 to a bf16 bit pattern (the top 16 bits of the f32) rounding to nearest,
/// ties to even; NaNs are forced quiet. Same as ggml's `ggml_compute_fp32_to_bf16`.
@inlinable @inline(__always)
public func floatToBFloat16(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    if bits & 0x7FFF_FFFF > 0x7F80_0000 {
        return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040
    }
    // No overflow possible in 32 bits: the largest finite f32 plus 0x8000 is < 2^32.
    let rounded = bits &+ (0x7FFF + ((bits >> 16) & 1))
    return UInt16(truncatingIfNeeded: rounded >> 16)
}

/// Converts a bf16 bit pattern to `Float` (exact: bf16 is the top half of an f32).
@inlinable @inline(__always)
public func bfloat16ToFloat(_ bits: UInt16) -> Float {
    Float(bitPattern: UInt32(bits) << 16)
}
