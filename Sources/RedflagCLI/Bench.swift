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
    @Flag(name: .customLong("json"), help: "Print a JSON list of results.")
    var json = false
    @Flag(name: .customLong("bandwidth"), help: "Also measure memory read bandwidth and print the decode bound.")
    var bandwidth = false

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
    }

    func run() throws {
        var opts = try ModelOptions.parse([])
        opts.model = model
        opts.format = format
        opts.contextSize = contextSize
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
        for t in threadList {
            ctx.threads = t
            for (name, isPP, n) in testList {
                // Interleave the guard settings repetition by repetition so machine noise hits both alike.
                var samples: [String: [Double]] = [:]
                for g in guardList { gen.head.flagToken = g == "halt" ? rf : nil; _ = try once(isPP, min(n, 16)) }
                for _ in 0..<reps {
                    for gd in guardList {
                        gen.head.flagToken = gd == "halt" ? rf : nil
                        samples[gd, default: []].append(Double(n) / (try once(isPP, n)))
                    }
                }
                for gd in guardList {
                    let s = samples[gd]!
                    let mean = s.reduce(0, +) / Double(s.count)
                    let sd = s.count > 1 ? (s.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(s.count - 1)).squareRoot() : 0
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
            if bandwidth {
                let bw = Bandwidth.measure(threads: t)
                let bytes = Double(m.weights.bytesReadPerToken)
                let line = String(format: "threads %d: weights read per token %.1f MB, read bandwidth %.1f GB/s, decode bound %.1f t/s",
                                  t, bytes / 1e6, bw / 1e9, bw / bytes)
                if json { printError(line) } else { print(line) }
                for r in results where r.threads == t && r.test.hasPrefix("tg") {
                    let l2 = String(format: "  %@ (%@): %.1f%% of the bandwidth bound", r.test, r.guard_, 100 * r.tps_mean / (bw / bytes))
                    if json { printError(l2) } else { print(l2) }
                }
            }
        }
        if json { try printJSON(results) }
    }
}
