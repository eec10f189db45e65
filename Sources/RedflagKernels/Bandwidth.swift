import Foundation

/// Measures streaming read bandwidth (the decode speed bound): SIMD sums over a buffer far larger than
/// the caches, split over `threads`, best of `repetitions`. Bytes per second.
public enum Bandwidth {
    public static func measure(bytes: Int = 1 << 30, threads: Int, repetitions: Int = 5) -> Double {
        let probe = Probe(bytes: bytes)
        return probe.measure(threads: threads, repetitions: repetitions)
    }

    /// A buffer kept for repeated measurements (e.g. one before each benchmark repetition, so the bound a
    /// decode speed is compared with is the machine's bandwidth at that moment, not minutes earlier).
    public final class Probe: @unchecked Sendable {
        private let count: Int
        private let buf: UnsafeMutablePointer<SIMD16<Float>>   // (count): 64-byte vectors
        private let sink: UnsafeMutablePointer<Float>          // (64)

        public init(bytes: Int = 1 << 30) {
            count = max(1024, bytes / 64)
            buf = .allocate(capacity: count)
            buf.initialize(repeating: SIMD16<Float>(repeating: 1), count: count)
            sink = .allocate(capacity: 64)
        }

        deinit {
            buf.deallocate()
            sink.deallocate()
        }

        /// Best of `repetitions` passes over the buffer with `threads` threads, bytes per second.
        public func measure(threads: Int, repetitions: Int = 5) -> Double {
            let buf = self.buf, sink = self.sink
            var best = 0.0
            for _ in 0..<max(1, repetitions) {
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
}
