/// Error-minimizing 4-bit quantization (Q4_1 layout) for weights that are quantized once, offline — the
/// converter's output projection. Where `Quantize` uses ggml's reference rule (d = (max − min)/15, m = min),
/// this searches scale/offset pairs per block: for several candidate ranges it assigns the nearest codes,
/// refits d and m by least squares for those codes, rounds them to f16 and keeps the pair with the smallest
/// squared error *after* that rounding. The result is never worse than the reference rule (which is one of
/// the candidates); `QuantizeSearchTests` checks both properties.
public enum QuantizeSearch {
    /// Candidate range shrink factors tried per block.
    static let shrink: [Float] = [1.0, 0.97, 0.94, 0.91, 0.88, 0.85, 0.82, 0.79, 0.76]

    /// Quantizes `count` floats (a multiple of 32) into Q4_1 blocks at `dst`. With `importance` (`count` weights
    /// ≥ 0, e.g. the mean square of the activation each column multiplies), the squared error is weighted by it.
    public static func q4_1(from src: UnsafePointer<Float>, count: Int, into dst: UnsafeMutableRawPointer,
                            importance: UnsafePointer<Float>? = nil) {
        precondition(count % 32 == 0)
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 32) { ones in
            ones.initialize(repeating: 1)
            for b in 0..<(count / 32) {
                block(src + b * 32, importance.map { $0 + b * 32 } ?? UnsafePointer(ones.baseAddress!), into: dst + b * 20)
            }
        }
    }

    /// Squared error of block `x` with codes from (d, m), both already f16-rounded; writes the codes to `q`.
    @inline(__always)
    static func assign(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ d: Float, _ m: Float, _ q: UnsafeMutablePointer<UInt8>) -> Float {
        let id: Float = d != 0 ? 1 / d : 0
        var err: Float = 0
        for j in 0..<32 {
            let v = ((x[j] - m) * id).rounded()
            let c = UInt8(Swift.max(0, Swift.min(15, v)))
            q[j] = c
            let e = d * Float(c) + m - x[j]
            err += w[j] * e * e
        }
        return err
    }

    static func block(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, into out: UnsafeMutableRawPointer) {
        var lo = x[0], hi = x[0]
        for j in 1..<32 { lo = Swift.min(lo, x[j]); hi = Swift.max(hi, x[j]) }
        var best = Float.infinity
        var bestD: UInt16 = 0, bestM: UInt16 = 0
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { buf in
            let q = buf.baseAddress!, bestCodes = buf.baseAddress! + 32
            bestCodes.initialize(repeating: 0, count: 32)
            for f in shrink {
                // Candidate from a shrunken range centred like the full one.
                let range = (hi - lo) * f
                let mid = (hi + lo) / 2
                var d = range / 15, m = mid - range / 2
                for _ in 0..<2 {
                    let dh = floatToHalf(d), mh = floatToHalf(m)
                    let err = assign(x, w, halfToFloat(dh), halfToFloat(mh), q)
                    if err < best { best = err; bestD = dh; bestM = mh; bestCodes.update(from: q, count: 32) }
                    // Weighted least-squares refit of (d, m) for these codes.
                    var sw: Float = 0, sq: Float = 0, sqq: Float = 0, sx: Float = 0, sqx: Float = 0
                    for j in 0..<32 {
                        let c = Float(q[j]), wj = w[j]
                        sw += wj; sq += wj * c; sqq += wj * c * c; sx += wj * x[j]; sqx += wj * c * x[j]
                    }
                    let det = sw * sqq - sq * sq
                    guard det > 0, sw > 0 else { break }
                    d = (sw * sqx - sq * sx) / det
                    m = (sx - d * sq) / sw
                    if d <= 0 { break }
                }
            }
            out.storeBytes(of: bestD.littleEndian, as: UInt16.self)
            out.storeBytes(of: bestM.littleEndian, toByteOffset: 2, as: UInt16.self)
            for j in 0..<16 {
                out.storeBytes(of: bestCodes[j] | (bestCodes[j + 16] << 4), toByteOffset: 4 + j, as: UInt8.self)
            }
        }
    }
}
