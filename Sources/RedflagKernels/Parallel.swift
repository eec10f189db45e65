import Dispatch

/// Splits work over threads. The forward pass never uses `async`: kernels call `Parallel.chunks`,
/// which runs `threads` contiguous chunks of `0..<count` on the calling thread plus `WorkerPool` threads.
public enum Parallel {
    /// Calls `body(range)` for `threads` disjoint contiguous ranges covering `0..<count`,
    /// each range aligned to a multiple of `granule` (except the last).
    @inlinable
    public static func chunks(count: Int, threads: Int, granule: Int = 1, _ body: (Range<Int>) -> Void) {
        indexedChunks(count: count, threads: threads, granule: granule) { _, range in body(range) }
    }

    /// Like `chunks`, also passing the chunk's index (`0..<threads`) so a chunk can use per-thread scratch.
    @inlinable
    public static func indexedChunks(count: Int, threads: Int, granule: Int = 1, _ body: (Int, Range<Int>) -> Void) {
        let t = max(1, min(threads, (count + granule - 1) / max(granule, 1)))
        if t <= 1 {
            body(0, 0..<count)
            return
        }
        let units = (count + granule - 1) / granule
        WorkerPool.shared.run(t) { i in
            let lo = min(count, (units * i / t) * granule)
            let hi = min(count, (units * (i + 1) / t) * granule)
            if lo < hi { body(i, lo..<hi) }
        }
    }

    /// Runs `body(i)` for `i` in `0..<threads` concurrently (one per worker).
    @inlinable
    public static func each(_ threads: Int, _ body: (Int) -> Void) {
        WorkerPool.shared.run(threads, body)
    }
}
