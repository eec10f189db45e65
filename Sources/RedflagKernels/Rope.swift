import Foundation

/// Rotary position embedding in the "rotate-half" (NeoX) layout: dimension `i` pairs with `i + d/2`.
public enum Rope {
    /// Fills `cos`/`sin` (each `d/2` values) for position `pos`: angle_i = pos · base^(−2i/d), computed in Double.
    public static func angles(pos: Int, base: Double, headDim d: Int, cos c: UnsafeMutablePointer<Float>, sin s: UnsafeMutablePointer<Float>) {
        let half = d / 2
        for i in 0..<half {
            let a = Double(pos) * Foundation.pow(base, -2.0 * Double(i) / Double(d))
            c[i] = Float(Foundation.cos(a))
            s[i] = Float(Foundation.sin(a))
        }
    }

    /// Rotates `heads` consecutive vectors of length `d` in place.
    @inlinable
    public static func apply(_ x: UnsafeMutablePointer<Float>, heads: Int, headDim d: Int, cos c: UnsafePointer<Float>, sin s: UnsafePointer<Float>) {
        let half = d / 2
        for h in 0..<heads {
            let v = x + h * d
            for i in 0..<half {
                let x1 = v[i], x2 = v[i + half]
                v[i] = x1 * c[i] - x2 * s[i]
                v[i + half] = x2 * c[i] + x1 * s[i]
            }
        }
    }
}
