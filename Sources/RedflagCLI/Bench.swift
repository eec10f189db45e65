import ArgumentParser
import Foundation
import RedflagFlag
import RedflagGeneration
import RedflagKernels
import RedflagModel

/// `redflag bench`: llama-bench-style prompt-processing (ppN) and decode (tgN) speeds.
/// Tokenization and sampling are excluded; decode includes the LM head (and the fused flag when guarded).
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Measure prompt processing (ppN) and decode (tgN) tokens/s, llama-bench style.")

    @Option(name: [.customShort("m"), .customLong("model")], help: "GGUF model file.")
    var model: String?
    @Option(name: [.customShort("t"), .customLong("threads")], help: "Thread counts, comma-separated.")
    var threads: String = "\(ProcessInfo.processInfo.activeProcessorCount)"
    @Option(name: .customLong("tests"), help: "Tests, comma-separated: ppN (prompt of N tokens), tgN (N decoded tokens).")
    var tests: String = "pp64,pp256,tg64"
    @Option(name: [.customShort("r"), .customLong("reps")], help: "Repetitions per test.")
    var reps: Int = 3
    @Option(name: .customLong("guard"), help: "Comma-separated guard settings to interleave: off (plain LM head) and/or halt (fused p(<rf>)).")
    var guards: String = "halt"
    @Option(name: .customLong("format"), help: "Weights in memory: quantized or exact.")
    var format: String = WeightFormat.quantized.rawValue
    @Option(name: .customLong("ctx"), help: "Context size.")
    var contextSize: Int = 512
    @Option(name: .customLong("lora"), help: "A LoRA adapter (GGUF) loaded as `run --lora` does: decode with its deltas.")
    var lora: String?
    @Option(name: .customLong("lora-merge"), help: "runtime (default), q8_0 or q4_1, as in `run --lora-merge`.")
    var loraMerge: String = LoRAMergePrecision.runtime.rawValue
    @Flag(name: .customLong("json"), help: "Print a JSON list of results.")
    var json = false
    @Flag(name: .customLong("bandwidth"), help: "Also measure memory read bandwidth and print the decode bound.")
    var bandwidth = false
    @Flag(name: .customLong("gemv"), help: "Also time the decode matrix-vector products alone (LM head; every layer's matrices in decode order) and print their read speed.")
    var gemv = false

    struct Result: Encodable {
        let test: String
        let threads: Int
        let tps_mean: Double
        let tps_sd: Double
        let guard_: String
        enum CodingKeys: String, CodingKey { case test, threads, tps_mean, tps_sd, guard_ = "guard" }
    }

    func parsedTests() throws -> [(String, Bool, Int)] {
        try tests.split(separator: ",").map { s in
            let s = String(s)
            guard s.count > 2, let n = Int(s.dropFirst(2)), n > 0, s.hasPrefix("pp") || s.hasPrefix("tg") else {
                throw ValidationError("--tests '\(s)': expected ppN or tgN with N > 0")
            }
            return (s, s.hasPrefix("pp"), n)
        }
    }

    func parsedThreads() throws -> [Int] {
        try threads.split(separator: ",").map {
            guard let n = Int($0), n >= 1, n <= 256 else { throw ValidationError("--threads '\($0)': expected integers in 1...256") }
            return n
        }
    }

    func parsedGuards() throws -> [String] {
        try guards.split(separator: ",").map {
            guard $0 == "off" || $0 == "halt" else { throw ValidationError("--guard '\($0)': expected off or halt") }
            return String($0)
        }
    }

    func validate() throws {
        _ = try parsedTests()
        _ = try parsedThreads()
        _ = try parsedGuards()
        guard reps >= 1 else { throw ValidationError("--reps '\(reps)': expected ≥ 1") }
        guard WeightFormat(rawValue: format) != nil else { throw ValidationError("--format '\(format)': expected quantized or exact") }
        _ = try ModelOptions.mergePrecision(loraMerge)
    }

    func run() throws {
        var opts = try ModelOptions.parse([])
        opts.model = model
        opts.format = format
        opts.contextSize = contextSize
        opts.lora = lora
        opts.loraMerge = loraMerge
        let g = try opts.openFile()
        let tok = try opts.loadTokenizer(g)
        let threadList = try parsedThreads()
        opts.threads = threadList.max()!
        let m = try opts.loadModel(g)
        let ctx = try opts.makeContext(m)
        let gen = Generator(model: m, tokenizer: tok, context: ctx)
        let rf = tok.id(of: FlagConfiguration.defaultTokenPiece) ?? 6
        let testList = try parsedTests()
        let guardList = try parsedGuards()
        for (name, isPP, n) in testList where n + 1 > ctx.contextSize {
            throw CLIError("test \(name) needs \(n + 1) positions, more than --ctx \(ctx.contextSize)")
        }
        var rng = SplitMix64(seed: 42)
        let vocab = m.config.vocabularySize
        func randomTokens(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(truncatingIfNeeded: 1000 + Int(rng.next() % UInt64(vocab - 2000))) } }

        /// Seconds for one run of a test.
        func once(_ isPP: Bool, _ n: Int) throws -> Double {
            ctx.reset()
            if isPP {
                let toks = [tok.bos] + randomTokens(n - 1)
                let t0 = DispatchTime.now().uptimeNanoseconds
                try ctx.evaluate(toks)
                gen.project()
                return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            }
            try ctx.evaluate([tok.bos])
            let toks = randomTokens(n)
            let t0 = DispatchTime.now().uptimeNanoseconds
            for t in toks {
                try ctx.evaluate(token: t)
                gen.project()
            }
            return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        }

        let sizeMiB = Double(g.fileSize) / 1048576
        let params = g.tensors.reduce(0) { $0 + $1.elementCount }
        if !json {
            print("| model | size | params | format | threads | guard | test | t/s |")
            print("| --- | ---: | ---: | --- | ---: | --- | ---: | ---: |")
        }
        var results: [Result] = []
        // With --bandwidth, decode repetitions are each preceded by a bandwidth measurement (best of two passes
        // over 512 MiB) and compared with it: the host's bandwidth drifts, a bound measured once minutes away does not.
        let probe = bandwidth ? Bandwidth.Probe(bytes: 1 << 29) : nil
        let bytesPerToken = Double(m.weights.bytesReadPerToken)
        var boundFractions: [String: [Double]] = [:], bandwidths: [String: [Double]] = [:]
        for t in threadList {
            ctx.threads = t
            for (name, isPP, n) in testList {
                // Interleave the guard settings repetition by repetition so machine noise hits both alike.
                var samples: [String: [Double]] = [:]
                for g in guardList { gen.head.flagToken = g == "halt" ? rf : nil; _ = try once(isPP, min(n, 16)) }
                for _ in 0..<reps {
                    for gd in guardList {
                        gen.head.flagToken = gd == "halt" ? rf : nil
                        let bw = isPP ? nil : probe?.measure(threads: t, repetitions: 2)
                        let tps = Double(n) / (try once(isPP, n))
                        samples[gd, default: []].append(tps)
                        if let bw {
                            boundFractions["\(t) \(name) \(gd)", default: []].append(tps / (bw / bytesPerToken))
                            bandwidths["\(t) \(name) \(gd)", default: []].append(bw)
                        }
                    }
                }
                for gd in guardList {
                    let s = samples[gd]!
                    let (mean, sd) = Self.meanAndSD(s)
                    results.append(Result(test: name, threads: t, tps_mean: mean, tps_sd: sd, guard_: gd))
                    if !json {
                        print(String(format: "| %@ | %.2f MiB | %.2f M | %@ | %d | %@ | %@ | %.2f ± %.2f |",
                                     m.gguf.string("general.name") ?? "model", sizeMiB, Double(params) / 1e6, format, t, gd, name, mean, sd))
                    }
                }
            }
            if guardList.count == 2, !json {
                for (name, _, _) in testList {
                    let on = results.first { $0.test == name && $0.threads == t && $0.guard_ == "halt" }!.tps_mean
                    let off = results.first { $0.test == name && $0.threads == t && $0.guard_ == "off" }!.tps_mean
                    print(String(format: "guard halt / off, %@, %d threads: %.3f", name, t, on / off))
                }
            }
            if gemv { printGEMVSpeeds(m, threads: t) }
            if bandwidth {
                let bw = probe?.measure(threads: t) ?? Bandwidth.measure(threads: t)
                let bytes = bytesPerToken
                let line = String(format: "threads %d: weights read per token %.1f MB, read bandwidth %.1f GB/s, decode bound %.1f t/s",
                                  t, bytes / 1e6, bw / 1e9, bw / bytes)
                if json { printError(line) } else { print(line) }
                for r in results where r.threads == t && r.test.hasPrefix("tg") {
                    let key = "\(t) \(r.test) \(r.guard_)"
                    let f = (boundFractions[key] ?? []).map { 100 * $0 }, b = (bandwidths[key] ?? []).map { $0 / 1e9 }
                    let (fm, fsd) = Self.meanAndSD(f)
                    let l2 = String(format: "  %@ (%@): %.1f%% of the bandwidth bound above; per repetition, against the bandwidth measured just before it (%.1f–%.1f GB/s): %.1f%% ± %.1f%%",
                                    r.test, r.guard_, 100 * r.tps_mean / (bw / bytes), b.min() ?? 0, b.max() ?? 0, fm, fsd)
                    if json { printError(l2) } else { print(l2) }
                }
            }
        }
        if json { try printJSON(results) }
    }

    /// Mean and sample standard deviation (0 for fewer than two samples; mean 0 for none).
    static func meanAndSD(_ v: [Double]) -> (Double, Double) {
        let mean = v.reduce(0, +) / Double(max(1, v.count))
        let sd = v.count > 1 ? (v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(v.count - 1)).squareRoot() : 0
        return (mean, sd)
    }

    /// Times the LM head GEMV and the layers' GEMVs (q, k, v, o, gate, up, down of every layer, in order) on a
    /// fixed random input, best of `reps` passes each, and prints GB/s of weights read: the kernel side of the
    /// decode speed without attention, norms or sampling.
    func printGEMVSpeeds(_ m: Gemma3Model, threads t: Int) {
        let w = m.weights
        guard w.output.type != .f32 else { return }
        let width = max(w.output.columns, w.layers.map { max($0.o.columns, $0.down.columns) }.max() ?? 0)
        let rows = max(w.output.rows, m.config.feedForwardSize)
        let x = UnsafeMutablePointer<Float>.allocate(capacity: width)   // (width)
        let y = UnsafeMutablePointer<Float>.allocate(capacity: rows)    // (rows)
        defer { x.deallocate(); y.deallocate() }
        var rng = SplitMix64(seed: 7)
        for i in 0..<width { x[i] = Float(Int(rng.next() % 2001) - 1000) / 1000 }
        let a = QuantizedActivations(capacity: width)
        func best(_ body: () -> Void) -> Double {
            body()
            var s = Double.infinity
            for _ in 0..<max(3, reps) {
                let t0 = DispatchTime.now().uptimeNanoseconds
                body()
                s = min(s, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            }
            return s
        }
        let head = best { QuantizedGEMV.gemv(w.output, x, y, activations: a, threads: t) }
        let body = best {
            for l in w.layers {
                for mat in [l.q, l.k, l.v, l.o, l.gate, l.up, l.down] { QuantizedGEMV.gemv(mat, x, y, activations: a, threads: t) }
            }
        }
        // For each weight type and row width of the layers, the first such matrix again and again: it stays in
        // the L2/L3 cache, so this is the kernel's compute rate without DRAM.
        var inCache: [String] = []
        var seen: Set<String> = []
        for mat in w.layers.flatMap({ [$0.q, $0.o, $0.gate, $0.down] }) where !seen.contains("\(mat.type) \(mat.columns)") {
            seen.insert("\(mat.type) \(mat.columns)")
            let runs = 50
            let s = best { for _ in 0..<runs { QuantizedGEMV.gemv(mat, x, y, activations: a, threads: t) } }
            inCache.append(String(format: "%@ %d×%d %.1f GB/s", "\(mat.type)", mat.rows, mat.columns, Double(mat.byteCount * runs) / s / 1e9))
        }
        let bodyBytes = w.layers.reduce(0) { $0 + [$1.q, $1.k, $1.v, $1.o, $1.gate, $1.up, $1.down].reduce(0) { $0 + $1.byteCount } }
        let line = String(format: "threads %d: GEMV LM head (%@) %.1f MB in %.2f ms = %.1f GB/s; layers %.1f MB in %.2f ms = %.1f GB/s; in cache: %@",
                          t, "\(w.output.type)", Double(w.output.byteCount) / 1e6, head * 1e3, Double(w.output.byteCount) / head / 1e9,
                          Double(bodyBytes) / 1e6, body * 1e3, Double(bodyBytes) / body / 1e9, inCache.joined(separator: ", "))
        if json { printError(line) } else { print(line) }
    }
}
