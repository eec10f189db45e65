/// How the next token is chosen from logits. The defaults give greedy decoding.
public struct SamplerOptions: Sendable, Equatable {
    /// ≤ 0 means greedy (argmax).
    public var temperature: Float = 0
    /// Keep the `topK` most likely tokens (≤ 0: no limit).
    public var topK: Int = 40
    /// Keep the smallest set whose probability reaches `topP` (1: off).
    public var topP: Float = 1
    /// Drop tokens whose probability is below `minP` × the top probability (0: off).
    public var minP: Float = 0
    /// Divide positive / multiply negative logits of recently seen tokens by this (1: off).
    public var repetitionPenalty: Float = 1
    /// How many recent tokens the repetition penalty looks at.
    public var repetitionWindow: Int = 64
    /// RNG seed: the same seed, prompt and options give the same text.
    public var seed: UInt64 = 0x5EED

    public init(temperature: Float = 0, topK: Int = 40, topP: Float = 1, minP: Float = 0,
                repetitionPenalty: Float = 1, repetitionWindow: Int = 64, seed: UInt64 = 0x5EED) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.repetitionPenalty = repetitionPenalty
        self.repetitionWindow = repetitionWindow
        self.seed = seed
    }

    /// Checks every field; the error names the field, the value found and the range expected.
    public func validate() throws {
        func bad(_ field: String, _ value: Any, _ expected: String) -> GenerationError {
            .invalidOption(name: field, value: "\(value)", expected: expected)
        }
        guard temperature.isFinite, temperature >= 0 else { throw bad("temperature", temperature, "a finite number ≥ 0") }
        guard topP > 0, topP <= 1 else { throw bad("top-p", topP, "a number in (0, 1]") }
        guard minP >= 0, minP < 1 else { throw bad("min-p", minP, "a number in [0, 1)") }
        guard repetitionPenalty.isFinite, repetitionPenalty > 0 else { throw bad("repetition penalty", repetitionPenalty, "a number > 0") }
        guard repetitionWindow >= 0 else { throw bad("repetition window", repetitionWindow, "an integer ≥ 0") }
    }
}
