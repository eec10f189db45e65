/// `y = W·x` for one token with integer kernels: `x` is quantized to int8 blocks once, then output rows are
/// split across threads and each row is one `DotProducts` call.
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
        let blocks = w.columns / 32
        let xq = a.kernelInput(for: w.type), xs = UnsafePointer(a.scales), xsum = UnsafePointer(a.sums)
        let base = w.data, stride = w.rowBytes, type = w.type
        Parallel.chunks(count: range.count, threads: threads, granule: rowGranule) { sub in
            let lo = range.lowerBound + sub.lowerBound, hi = range.lowerBound + sub.upperBound
            switch type {
            case .q8_0:
                for r in lo..<hi { y[r] = DotProducts.q8_0(xq, row: base + r * stride, xs, blocks: blocks) }
            case .q4_0:
                for r in lo..<hi { y[r] = DotProducts.q4_0(xq, row: base + r * stride, xs, xsum, blocks: blocks) }
            case .q4_1:
                for r in lo..<hi { y[r] = DotProducts.q4_1(xq, row: base + r * stride, xs, xsum, blocks: blocks) }
            default:
                preconditionFailure("QuantizedGEMV: weight type \(type) has no integer kernel; load it as Q8_0/Q4_0/Q4_1")
            }
        }
    }
}
