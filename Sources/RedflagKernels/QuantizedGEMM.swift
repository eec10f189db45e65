/// `Y = X·Wᵀ` for a batch of tokens with integer kernels: the batch is quantized to int8 blocks once
/// (`QuantizedActivations` holding `T × columns` values), output rows are split across threads, and each
/// thread takes its rows eight at a time: the eight rows are **repacked once** into a small per-thread
/// interleaved tile (`GEMMKernelsX86`: the unsigned `vpmaddubsw` operands, scales and mins as floats), then
/// multiplied with every token. Unpacking (nibble split, f16 → f32) costs as much as the multiply itself in
/// the one-token kernels; here it is paid once per row instead of once per row and token, and the tile stays
/// in L1 while the tokens stream from L2.
///
/// Path selection (`InferenceContext.matmul`): this kernel on x86-64 AVX2 builds (`isAccelerated`),
/// dequantized tiles + OpenBLAS `sgemm` (`MatMul.gemm`) elsewhere. Results equal `DotProducts` on each
/// (row, token) up to float summation order (`QuantizedGEMMTests`).
public enum QuantizedGEMM {
    /// Whether this build has the unpacked-row kernels (x86-64 AVX2). Without them `gemm` still computes the
    /// same products (one `DotProducts` call per row and token), but the f32 BLAS path is faster.
    public static var isAccelerated: Bool {
        #if arch(x86_64) && REDFLAG_AVX2
        return true
        #else
        return false
        #endif
    }

    /// Bytes of per-thread scratch `gemm` needs for rows of `columns` inputs (a multiple of 32): per block, the
    /// 256-byte tile of unsigned operands, Q8_0's 256-byte tile of signed weights, eight scales, eight mins.
    public static func scratchBytes(columns: Int) -> Int { ((columns / 32) * (2 * 256 + 2 * 8 * 4) + 31) & ~31 }

    /// `Y[i, r] = Σ_c X[i, c] · W[r, c]` for `i < t`, where `a` holds X quantized (`a.quantize(X, t · columns, forOneToken: false)`)
    /// and `Y` has row stride `ldy`. `scratch` holds `threads × scratchBytes(columns:)` bytes.
    public static func gemm(_ w: WeightMatrix, _ a: QuantizedActivations, _ t: Int, _ y: UnsafeMutablePointer<Float>,
                            ldy: Int, scratch: UnsafeMutableRawPointer, threads: Int) {
        let blocks = w.columns / 32
        precondition(a.count == t * w.columns, "QuantizedGEMM: activations hold \(a.count) values, expected \(t) × \(w.columns)")
        let xs = UnsafePointer(a.scales), xsum = UnsafePointer(a.sums)
        let base = w.data, stride = w.rowBytes, type = w.type
        #if arch(x86_64) && REDFLAG_AVX2
        let xq = UnsafeRawPointer(a.values)
        let tb = GEMMKernelsX86.tileBlockBytes, per = scratchBytes(columns: w.columns)
        Parallel.indexedChunks(count: w.rows, threads: threads, granule: 8) { chunk, range in
            let tile = scratch + chunk * per                     // (blocks × 256) interleaved unsigned operands
            let signs = tile + blocks * tb                       // Q8_0: (blocks × 256) interleaved signed weights
            let d = (signs + blocks * tb).assumingMemoryBound(to: Float.self)   // (blocks × 8) scales
            let m = d + blocks * 8                               // Q4_1: (blocks × 8) mins
            var r = range.lowerBound
            while r < range.upperBound {
                let n = min(8, range.upperBound - r)   // fewer than 8 only at the end of a matrix whose rows are not a multiple of 8
                let row0 = base + r * stride
                switch type {
                case .q8_0:
                    GEMMKernelsX86.packQ8_0(row0, rows: n, stride: stride, blocks: blocks, tile: tile, signs: signs, d)
                    for i in 0..<t {
                        GEMMKernelsX86.store(GEMMKernelsX86.q8_0(tile, signs, d, xq + i * w.columns, xs + i * blocks,
                                                                 blocks: blocks), rows: n, y + i * ldy + r)
                    }
                case .q4_0:
                    GEMMKernelsX86.packQ4(row0, rows: n, stride: stride, blockBytes: 18, blocks: blocks, tile: tile, d, nil)
                    for i in 0..<t {
                        GEMMKernelsX86.store(GEMMKernelsX86.q4_0(tile, d, xq + i * w.columns, xs + i * blocks,
                                                                 xsum + i * blocks, blocks: blocks), rows: n, y + i * ldy + r)
                    }
                case .q4_1:
                    GEMMKernelsX86.packQ4(row0, rows: n, stride: stride, blockBytes: 20, blocks: blocks, tile: tile, d, m)
                    for i in 0..<t {
                        GEMMKernelsX86.store(GEMMKernelsX86.q4_1(tile, d, m, xq + i * w.columns, xs + i * blocks,
                                                                 xsum + i * blocks, blocks: blocks), rows: n, y + i * ldy + r)
                    }
                default:
                    preconditionFailure("QuantizedGEMM: weight type \(type) has no integer kernel")
                }
                r += n
            }
        }
        #else
        let xq = a.kernelInput(for: type)
        Parallel.chunks(count: w.rows, threads: threads, granule: 8) { range in
            for r in range {
                let row = base + r * stride
                for i in 0..<t {
                    let x = xq + i * w.columns * MemoryLayout<Int16>.stride   // `pairs`: int16 lanes
                    let s = xs + i * blocks, sx = xsum + i * blocks
                    switch type {
                    case .q8_0: y[i * ldy + r] = DotProducts.q8_0(x, row: row, s, blocks: blocks)
                    case .q4_0: y[i * ldy + r] = DotProducts.q4_0(x, row: row, s, sx, blocks: blocks)
                    case .q4_1: y[i * ldy + r] = DotProducts.q4_1(x, row: row, s, sx, blocks: blocks)
                    default: preconditionFailure("QuantizedGEMM: weight type \(type) has no integer kernel")
                    }
                }
            }
        }
        #endif
    }
}
