import Foundation

/// Vectorized e^x for softmax-like reductions (the fused LM head's online log-sum-exp).
///
/// x = n·ln2 + r with |r| ≤ ln2/2, e^r by a degree-6 polynomial (Taylor, relative error < 2e-7 on the
/// range), 2^n by building the exponent bits. Inputs below −87 flush to 0 (the LM head only ever
/// passes x ≤ 0). `FastExpTests` checks it against `Foundation.exp` (named tolerance there).
public enum FastExp {
    @inlinable @inline(__always)
    public static func exp(_ x: SIMD16<Float>) -> SIMD16<Float> {
        let lo = SIMD16<Float>(repeating: -87.0), hi = SIMD16<Float>(repeating: 88.0)
        let xc = x.replacing(with: lo, where: x .< lo).replacing(with: hi, where: x .> hi)
        // Round x·log2(e) to an integer with the 1.5·2²³ trick: the integer lands in the low mantissa bits.
        let shifted = xc * 1.442_695_04 + 12_582_912
        let n = shifted - 12_582_912
        let ni = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000
        // r = x − n·ln2 in two steps (Cody–Waite) for accuracy.
        let r = (xc - n * 0.693_145_75) - n * 1.428_606_8e-6
        var p = SIMD16<Float>(repeating: 1.0 / 720)
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        let pow2 = unsafeBitCast((ni &+ 127) &<< 23, to: SIMD16<Float>.self)
        let result = p * pow2
        return result.replacing(with: 0, where: x .< lo)
    }

    /// Σ e^(v[i] − m) over `n` values.
    @inlinable
    public static func sumExp(_ v: UnsafePointer<Float>, _ n: Int, minus m: Float) -> Float {
        let raw = UnsafeRawPointer(v)
        var acc = SIMD16<Float>()
        let vm = SIMD16<Float>(repeating: m)
        var i = 0
        while i + 16 <= n {
            acc += exp(raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) - vm)
            i += 16
        }
        var s = acc.sum()
        while i < n { s += Foundation.exp(v[i] - m); i += 1 }
        return s
    }

    /// v[i] = e^(v[i] − m) in place; returns the sum.
    @inlinable
    public static func expInPlace(_ v: UnsafeMutablePointer<Float>, _ n: Int, minus m: Float) -> Float {
        let raw = UnsafeMutableRawPointer(v)
        var acc = SIMD16<Float>()
        let vm = SIMD16<Float>(repeating: m)
        var i = 0
        while i + 16 <= n {
            let e = exp(raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) - vm)
            raw.storeBytes(of: e, toByteOffset: i * 4, as: SIMD16<Float>.self)
            acc += e
            i += 16
        }
        var s = acc.sum()
        while i < n { v[i] = Foundation.exp(v[i] - m); s += v[i]; i += 1 }
        return s
    }

    /// tanh via e^(2y): tanh(y) = 1 − 2 / (e^(2y) + 1); saturates to ±1 for |y| > 44.
    @inlinable @inline(__always)
    public static func tanh(_ y: SIMD16<Float>) -> SIMD16<Float> {
        1 - 2 / (exp(2 * y) + 1)
    }
}
