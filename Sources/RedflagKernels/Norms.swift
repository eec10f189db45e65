/// RMS normalization: `y = x / sqrt(mean(x²) + eps) · w` (Gemma's `1 + w` is already folded into `w` by the GGUF converter).
public enum Norms {
    /// Scalar reference (accumulates in Double).
    public static func rmsNormReference(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, eps: Float) {
        var ss = 0.0
        for i in 0..<n { ss += Double(x[i]) * Double(x[i]) }
        let inv = 1.0 / (ss / Double(n) + Double(eps)).squareRoot()
        for i in 0..<n { y[i] = Float(Double(x[i]) * inv) * w[i] }
    }

    /// SIMD version. `y` may alias `x`.
    @inlinable
    public static func rmsNorm(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, eps: Float) {
        let ss = VectorMath.sumOfSquares(x, n)
        let inv = 1 / (ss / Float(n) + eps).squareRoot()
        let rx = UnsafeRawPointer(x), rw = UnsafeRawPointer(w), ry = UnsafeMutableRawPointer(y)
        var i = 0
        let vi = SIMD16<Float>(repeating: inv)
        while i + 16 <= n {
            let v = rx.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) * vi * rw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            ry.storeBytes(of: v, toByteOffset: i * 4, as: SIMD16<Float>.self)
            i += 16
        }
        while i < n { y[i] = x[i] * inv * w[i]; i += 1 }
    }
}
