import Foundation

/// Measures streaming read bandwidth (the decode speed bound): SIMD sums over a buffer far larger than
/// the caches, split over `threads`, best of `repetitions`. Bytes per second.
public enum Bandwidth {
    public static func measure(bytes: Int = 1 << 30, threads: Int, repetitions: Int = 5) -> Double {
        let count = bytes / 64
        let buf = UnsafeMutablePointer<SIMD16<Float>>.allocate(capacity: count)
        defer { buf.deallocate() }
        buf.initialize(repeating: SIMD16<Float>(repeating: 1), count: count)
        var best = 0.0
        let sink = UnsafeMutablePointer<Float>.allocate(capacity: 64)
        defer { sink.deallocate() }
        for _ in 0..<repetitions {
            let t0 = DispatchTime.now().uptimeNanoseconds
            Parallel.indexedChunks(count: count, threads: threads, granule: 1024) { chunk, range in
                var a = SIMD16<Float>(), b = SIMD16<Float>()
                var i = range.lowerBound
                while i + 1 < range.upperBound { a += buf[i]; b += buf[i + 1]; i += 2 }
                sink[chunk % 64] = (a + b).sum()
            }
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            best = max(best, Double(count * 64) / dt)
        }
        return best
    }
}
