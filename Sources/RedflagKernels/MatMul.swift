import CBLAS

/// Matrix products of activations with weights: `y = W·x` for one token (GEMV) and `Y = X·Wᵀ` for a batch (GEMM).
///
/// Paths (the model picks one per call in `InferenceContext.matmul`):
/// - f32 weights (`--format exact`): OpenBLAS `sgemv` / `sgemm`, any batch size.
/// - quantized weights, one token (decode, and the last prompt token): `QuantizedGEMV` (int8 activations,
///   integer dot products).
/// - quantized weights, a batch of `T ≥ 2` tokens (prompt processing):
///   - x86-64 AVX2 builds: `QuantizedGEMM` (int8 activations, eight rows repacked into an interleaved tile and
///     multiplied with every token): faster than the f32 path below on this project's Zen 4 machine
///     (Q4_0 pp256 at 2 threads 654 → 777 t/s, at 1 thread 391 → 480 t/s) and numerically the decode path's.
///   - other builds (aarch64, portable): `gemm` here: tiles of `tileRows` rows dequantized to f32 and
///     multiplied with OpenBLAS `sgemm`.
public enum MatMul {
    /// Rows per dequantized tile in the batched path.
    public static let tileRows = 256

    /// Floats of scratch `gemm` needs for a matrix with `columns` inputs.
    public static func gemmScratchCount(columns: Int) -> Int { tileRows * columns }

    /// Sets the thread count OpenBLAS uses.
    public static func setBLASThreads(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }

    /// `Y[t, r] = Σ_c X[t, c] · W[r, c]` for `t < T`. `X` is `[T × columns]`, `Y` is `[T × rows]` (row stride `ldy`).
    public static func gemm(_ w: WeightMatrix, _ x: UnsafePointer<Float>, _ t: Int, _ y: UnsafeMutablePointer<Float>,
                            ldy: Int? = nil, scratch: UnsafeMutablePointer<Float>, threads: Int) {
        let ld = ldy ?? w.rows
        if w.type == .f32 {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(t), Int32(w.rows), Int32(w.columns),
                        1, x, Int32(w.columns), w.data.assumingMemoryBound(to: Float.self), Int32(w.columns), 0, y, Int32(ld))
            return
        }
        // Each thread dequantizes and multiplies its own rows with a single-threaded sgemm (OpenBLAS runs
        // single-threaded for quantized models, see `InferenceContext.blasThreads`): no fork/join between
        // dequantization and product, and no OpenBLAS worker left spinning next to ours on a small machine.
        // Per-thread tiles of `tileRows / threads` rows share the caller's `tileRows × columns` scratch
        // (one thread: the whole scratch, all rows).
        let rowsPerTile = max(1, tileRows / threads)
        Parallel.indexedChunks(count: w.rows, threads: threads, granule: 16) { chunk, range in
            let tile = scratch + chunk * rowsPerTile * w.columns   // (rowsPerTile × columns)
            var r0 = range.lowerBound
            while r0 < range.upperBound {
                let n = min(rowsPerTile, range.upperBound - r0)
                for r in 0..<n { w.dequantizeRow(r0 + r, into: tile + r * w.columns) }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(t), Int32(n), Int32(w.columns),
                            1, x, Int32(w.columns), tile, Int32(w.columns), 0, y + r0, Int32(ld))
                r0 += n
            }
        }
    }

    /// `y[r] = Σ_c W[r, c] · x[c]` in f32 (weights dequantized row by row for quantized types): the exact reference path.
    /// `rowScratch` holds `threads × columns` floats.
    public static func gemvF32(_ w: WeightMatrix, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                               rowScratch: UnsafeMutablePointer<Float>, threads: Int) {
        if w.type == .f32 {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(w.rows), Int32(w.columns), 1,
                        w.data.assumingMemoryBound(to: Float.self), Int32(w.columns), x, 1, 0, y, 1)
            return
        }
        Parallel.indexedChunks(count: w.rows, threads: threads) { chunk, range in
            let tmp = rowScratch + chunk * w.columns
            for r in range {
                w.dequantizeRow(r, into: tmp)
                y[r] = VectorMath.dot(tmp, x, w.columns)
            }
        }
    }
}
