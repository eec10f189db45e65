import Foundation

/// Nonlinearities and softmax.
public enum Activations {
    static let sqrt2OverPi: Float = 0.797_884_560_802_865_4

    /// GELU, tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
    @inlinable
    public static func geluTanh(_ x: Float) -> Float {
        0.5 * x * (1 + Foundation.tanh(0.797_884_56 * (x + 0.044715 * x * x * x)))
    }

    /// y[i] = gelu(g[i]) · u[i] (GeGLU), written into `g`.
    @inlinable
    public static func geglu(_ g: UnsafeMutablePointer<Float>, _ u: UnsafePointer<Float>, _ n: Int) {
        for i in 0..<n { g[i] = geluTanh(g[i]) * u[i] }
    }

    /// In-place softmax over `n` values; returns the log-sum-exp.
    @discardableResult
    @inlinable
    public static func softmax(_ x: UnsafeMutablePointer<Float>, _ n: Int) -> Float {
        let m = VectorMath.max(x, n)
        var s: Float = 0
        for i in 0..<n { let e = Foundation.exp(x[i] - m); x[i] = e; s += e }
        let inv = 1 / s
        for i in 0..<n { x[i] *= inv }
        return m + Foundation.log(s)
    }
}
