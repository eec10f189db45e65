/// `y = W·x` for one token with integer kernels: `x` is quantized to int8 blocks once, then output rows are
/// split across threads and each row is one `DotProducts` call — except 4-bit rows of 8n or 8n + 4 blocks on
/// x86-64 AVX2 builds, which go through `DotProductsX86.rows4` (two rows at a time for 8n + 4; the same value
/// for a row whatever the split).
public enum QuantizedGEMV {
    /// Rows per scheduling unit (keeps each thread's range contiguous and cache-line friendly).
    public static let rowGranule = 16

    public static func gemv(_ w: WeightMatrix, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                            activations a: QuantizedActivations, threads: Int) {
        a.quantize(x, w.columns)
        rows(w, a, y, range: 0..<w.rows, threads: threads)
    }

    /// Computes rows `range` of `W·x` (activations already quantized) into `y[range]`.
    public static func rows(_ w: WeightMatrix, _ a: QuantizedActivations, _ y: UnsafeMutablePointer<Float>,
                            range: Range<Int>, threads: Int) {
        Parallel.chunks(count: range.count, threads: threads, granule: rowGranule) { sub in
            serialRows(w, a, y, (range.lowerBound + sub.lowerBound)..<(range.lowerBound + sub.upperBound))
        }
    }

    /// One matrix of a group that multiplies the same input (`W·x` into `y`, `W.rows` floats).
    public struct Product {
        public let weights: WeightMatrix
        public let output: UnsafeMutablePointer<Float>
        public init(_ weights: WeightMatrix, _ output: UnsafeMutablePointer<Float>) {
            self.weights = weights
            self.output = output
        }
    }

    /// `y_i = W_i·x` for every product of `group` (same column count): `x` is quantized once and the rows of all
    /// the matrices are split across threads as one job — q/k/v, or gate/up, cost one dispatch instead of three
    /// or two.
    public static func gemv(_ group: UnsafeBufferPointer<Product>, _ x: UnsafePointer<Float>,
                            activations a: QuantizedActivations, threads: Int) {
        guard let first = group.first else { return }
        a.quantize(x, first.weights.columns)
        var total = 0
        for p in group {
            precondition(p.weights.columns == first.weights.columns, "QuantizedGEMV.gemv(group): matrices must share the column count")
            total += p.weights.rows
        }
        Parallel.chunks(count: total, threads: threads, granule: rowGranule) { sub in
            var offset = 0
            for p in group {
                let lo = max(sub.lowerBound, offset), hi = min(sub.upperBound, offset + p.weights.rows)
                if lo < hi { serialRows(p.weights, a, p.output, (lo - offset)..<(hi - offset)) }
                offset += p.weights.rows
            }
        }
    }

    /// Rows `range` of `W·x` on the calling thread.
    @inline(__always)
    static func serialRows(_ w: WeightMatrix, _ a: QuantizedActivations, _ y: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
        let blocks = w.columns / 32
        let xq = a.kernelInput(for: w.type), xs = UnsafePointer(a.scales), xsum = UnsafePointer(a.sums)
        let base = w.data, stride = w.rowBytes
        let lo = range.lowerBound, hi = range.upperBound
        #if arch(x86_64) && REDFLAG_AVX2
        if w.type == .q4_0 || w.type == .q4_1, DotProductsX86.rowKernelApplies(blocks: blocks) {
            DotProductsX86.rows4(w.type, base, rowBytes: stride, blocks: blocks, .init(a), y, range)
            return
        }
        #endif
        switch w.type {
        case .q8_0:
            for r in lo..<hi { y[r] = DotProducts.q8_0(xq, row: base + r * stride, xs, blocks: blocks) }
        case .q4_0:
            for r in lo..<hi { y[r] = DotProducts.q4_0(xq, row: base + r * stride, xs, xsum, blocks: blocks) }
        case .q4_1:
            for r in lo..<hi { y[r] = DotProducts.q4_1(xq, row: base + r * stride, xs, xsum, blocks: blocks) }
        default:
            preconditionFailure("QuantizedGEMV: weight type \(w.type) has no integer kernel; load it as Q8_0/Q4_0/Q4_1")
        }
    }
}
