import CBLAS

/// A low-rank correction `ΔW = U·D` of a weight matrix, applied next to the matrix instead of merged into it:
/// `y = W·x + U·(D·x)`. This is how a LoRA adapter runs unmerged (`D` = A, `U` = (alpha / r)·B): the stored weights
/// are multiplied exactly as the file has them, so the adapter costs no second rounding of the weights, and the
/// correction is computed in f32 from the f32 input (`rank · (inputs + outputs)` multiply-adds per token).
///
/// A view like `WeightMatrix`: the factors are owned elsewhere (`Gemma3Weights`) and must outlive it.
public struct LowRankDelta: @unchecked Sendable {
    public let rank: Int
    public let inputs: Int
    public let outputs: Int
    /// `D`, `(rank × inputs)` row-major.
    public let down: UnsafePointer<Float>
    /// `Uᵀ`, `(rank × outputs)` row-major (the LoRA scale already folded in): row k is the output direction of
    /// component k, so one token's update is `rank` axpy calls over contiguous memory.
    public let upTransposed: UnsafePointer<Float>

    public init(rank: Int, inputs: Int, outputs: Int, down: UnsafePointer<Float>, upTransposed: UnsafePointer<Float>) {
        precondition(rank >= 1 && inputs >= 1 && outputs >= 1, "LowRankDelta: rank \(rank), shape \(outputs)×\(inputs)")
        self.rank = rank
        self.inputs = inputs
        self.outputs = outputs
        self.down = down
        self.upTransposed = upTransposed
    }

    /// Bytes of the two factors (read once per token in decode).
    public var byteCount: Int { rank * (inputs + outputs) * 4 }

    /// `y[0 ..< outputs] += U·(D·x)` for one token. `scratch` holds `rank` floats. Allocates nothing.
    @inline(__always)
    public func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        for k in 0..<rank { scratch[k] = VectorMath.dot(down + k * inputs, x, inputs) }
        for k in 0..<rank { VectorMath.axpy(scratch[k], upTransposed + k * outputs, y, outputs) }
    }

    /// `Y[i, 0 ..< outputs] += U·(D·X[i])` for `t` tokens: `X` is `(t × inputs)`, `Y` is `(t × ldy)`. `scratch` holds
    /// `t · rank` floats. One token goes through ``add(_:into:scratch:)``; a batch through two `sgemm` calls.
    public func add(_ x: UnsafePointer<Float>, tokens t: Int, into y: UnsafeMutablePointer<Float>, ldy: Int,
                    scratch: UnsafeMutablePointer<Float>) {
        if t == 1 {
            add(x, into: y, scratch: scratch)
            return
        }
        // S (t × rank) = X · Dᵀ
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(t), Int32(rank), Int32(inputs),
                    1, x, Int32(inputs), down, Int32(inputs), 0, scratch, Int32(rank))
        // Y (t × outputs) += S · Uᵀ
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(t), Int32(outputs), Int32(rank),
                    1, scratch, Int32(rank), upTransposed, Int32(outputs), 1, y, Int32(ldy))
    }

    /// Scalar reference of ``add(_:tokens:into:ldy:scratch:)``, in f64 (for tests).
    public func addReference(_ x: UnsafePointer<Float>, tokens t: Int, into y: UnsafeMutablePointer<Float>, ldy: Int) {
        for i in 0..<t {
            var s = [Double](repeating: 0, count: rank)
            for k in 0..<rank {
                for c in 0..<inputs { s[k] += Double(down[k * inputs + c]) * Double(x[i * inputs + c]) }
            }
            for o in 0..<outputs {
                var acc = 0.0
                for k in 0..<rank { acc += Double(upTransposed[k * outputs + o]) * s[k] }
                y[i * ldy + o] = Float(Double(y[i * ldy + o]) + acc)
            }
        }
    }
}
