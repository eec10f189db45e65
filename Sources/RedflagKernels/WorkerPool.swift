import Dispatch
import Foundation
import Synchronization

/// Persistent worker threads for the forward pass. A decode step issues ~130 parallel matrix products of a
/// few hundred microseconds each, so waking GCD workers for every one costs a large share of the step; here
/// workers spin briefly on a generation counter between jobs (then sleep on a semaphore), so dispatch costs
/// a few hundred nanoseconds. One job runs at a time: a call made while another runs (a nested call, or a
/// second context on another thread) executes serially on its caller — correct, just not parallel.
@usableFromInline
final class WorkerPool: @unchecked Sendable {
    @usableFromInline static let shared = WorkerPool()

    /// Spin iterations before a waiting worker goes to sleep (≈ 100 µs).
    static let spinLimit = 20_000

    /// A sleeping worker re-reads the job counter this often even without a wake-up (10 wake-ups a second per idle
    /// worker: nothing next to a decode step, and a lost signal can never stall a caller for longer).
    static let sleepRecheckMilliseconds = 100

    /// `(job counter << 16) | job width`: a worker learns a job's width in the same load that tells it a job
    /// started. (With the width in a separate plain variable, a worker outside a narrow job that read the width late
    /// saw the *next* job's width, ran that job's chunk, then ran it again once it saw the next counter: the chunk
    /// counted twice and the caller returned while another chunk was still running.)
    private let generation = Atomic<Int>(0)
    static let widthBits = 16
    private let remaining = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let lock = NSLock()
    private var job: ((Int) -> Void)?
    private var workers: [Worker] = []

    final class Worker: @unchecked Sendable {
        let asleep = Atomic<Bool>(false)
        let wake = DispatchSemaphore(value: 0)
    }

    /// Runs `body(0..<n)` with `body(0)` on the caller and the rest on workers; returns when all are done.
    @usableFromInline func run(_ n: Int, _ body: (Int) -> Void) {
        if n <= 1 { body(0); return }
        precondition(n < 1 << Self.widthBits, "\(n) threads")
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            for i in 0..<n { body(i) }
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        ensureWorkers(n - 1)
        withoutActuallyEscaping(body) { escaping in
            job = escaping
            remaining.store(n - 1, ordering: .sequentiallyConsistent)
            let g = generation.load(ordering: .sequentiallyConsistent)
            // Publishing the job and checking who sleeps is one side of a store-then-load handshake with `loop`
            // (a worker announces sleep, then re-reads the counter): both sides use read-modify-writes, see `loop`.
            _ = generation.exchange(((g >> Self.widthBits) + 1) << Self.widthBits | n, ordering: .sequentiallyConsistent)
            for w in workers where w.asleep.exchange(false, ordering: .sequentiallyConsistent) { w.wake.signal() }
            escaping(0)
            while remaining.load(ordering: .acquiring) > 0 { spinHint() }
            job = nil
        }
    }

    private func ensureWorkers(_ count: Int) {
        lock.lock()
        defer { lock.unlock() }
        while workers.count < count {
            let w = Worker()
            let index = workers.count + 1
            workers.append(w)
            let seen = generation.load(ordering: .sequentiallyConsistent)
            let t = Thread { [unowned self] in self.loop(index: index, worker: w, seen: seen) }
            t.stackSize = 1 << 20
            t.start()
        }
    }

    private func loop(index: Int, worker: Worker, seen start: Int) {
        var seen = start
        while true {
            var spins = 0
            var g = generation.load(ordering: .sequentiallyConsistent)
            while g == seen {
                spins += 1
                if spins < Self.spinLimit {
                    spinHint()
                } else {
                    // Announce sleep, then re-read the counter; the caller publishes the counter, then reads
                    // `asleep` — one of the two must see the other's write, or the worker sleeps through a job while
                    // its caller waits for it. Both writes are read-modify-writes: a sequentially consistent plain
                    // store (`stlr` on arm64) followed by a load is ordered on hardware, but qemu-user on an x86
                    // host lets the load pass the buffered store — the likely cause of the aarch64 CI hanging in
                    // `redflag next` under emulation. A read-modify-write is a full fence there as everywhere.
                    _ = worker.asleep.exchange(true, ordering: .sequentiallyConsistent)
                    if generation.load(ordering: .sequentiallyConsistent) == seen {
                        // bounded: a wake-up lost for any other reason costs one timeout, never a hang
                        _ = worker.wake.wait(timeout: .now() + .milliseconds(Self.sleepRecheckMilliseconds))
                    }
                    worker.asleep.store(false, ordering: .sequentiallyConsistent)
                    spins = 0
                }
                g = generation.load(ordering: .sequentiallyConsistent)
            }
            seen = g
            if index < g & (1 << Self.widthBits - 1) {
                runJob(index)   // its copy of the closure is released when it returns, before the count drops
                remaining.subtract(1, ordering: .releasing)
            }
        }
    }

    @inline(never) private func runJob(_ index: Int) {
        job?(index)
    }

    @inline(__always) private func spinHint() {
        #if arch(x86_64) || arch(arm64)
        _ = 0   // a pause instruction is not reachable from Swift; the loop body is short enough
        #endif
    }
}
