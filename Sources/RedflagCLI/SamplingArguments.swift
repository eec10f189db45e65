import ArgumentParser
import RedflagGeneration

/// Sampler flags shared by `run` (and later `chat`, `serve`).
struct SamplingArguments: ParsableArguments {
    @Option(name: .customLong("temp"), help: "Temperature; 0 = greedy.")
    var temperature: Float = 0
    @Option(name: .customLong("top-k"), help: "Keep the k most likely tokens (0 = all).")
    var topK: Int = 40
    @Option(name: .customLong("top-p"), help: "Nucleus sampling threshold (1 = off).")
    var topP: Float = 1
    @Option(name: .customLong("min-p"), help: "Drop tokens below min-p × the top probability (0 = off).")
    var minP: Float = 0
    @Option(name: .customLong("repeat-penalty"), help: "Repetition penalty (1 = off).")
    var repeatPenalty: Float = 1
    @Option(name: .customLong("seed"), help: "Random seed.")
    var seed: UInt64 = 0x5EED

    var options: SamplerOptions {
        SamplerOptions(temperature: temperature, topK: topK, topP: topP, minP: minP, repetitionPenalty: repeatPenalty, seed: seed)
    }

    func validate() throws {
        do { try options.validate() } catch { throw ValidationError("\(error)") }
    }
}
