import Foundation

/// Nonlinearities and softmax.
public enum Activations {
    static let sqrt2OverPi: Float = 0.797_884_560_802_865_4

    /// GELU, tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
    @inlinable
    public static func geluTanh(_ x: Float) -> Float {
        0.5 * x * (1 + Foundation.tanh(0.797_884_56 * (x + 0.044715 * x * x * x)))
    }

    /// y[i] = gelu(g[i]) · u[i] (GeGLU), written into `g`. SIMD16 with `FastExp.tanh`; `geluTanh` is the
    /// scalar reference (`VectorOpsTests` compares them).
    @inlinable
    public static func geglu(_ g: UnsafeMutablePointer<Float>, _ u: UnsafePointer<Float>, _ n: Int) {
        let rg = UnsafeMutableRawPointer(g), ru = UnsafeRawPointer(u)
        var i = 0
        while i + 16 <= n {
            let x = rg.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            let t = FastExp.tanh(0.797_884_56 * (x + 0.044715 * x * x * x))
            rg.storeBytes(of: 0.5 * x * (1 + t) * ru.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self),
                          toByteOffset: i * 4, as: SIMD16<Float>.self)
            i += 16
        }
        while i < n { g[i] = geluTanh(g[i]) * u[i]; i += 1 }
    }

    /// In-place softmax over `n` values; returns the log-sum-exp.
    @discardableResult
    @inlinable
    public static func softmax(_ x: UnsafeMutablePointer<Float>, _ n: Int) -> Float {
        let m = VectorMath.max(x, n)
        let s = FastExp.expInPlace(x, n, minus: m)
        VectorMath.scale(x, by: 1 / s, n)
        return m + Foundation.log(s)
    }
}
