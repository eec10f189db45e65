import RedflagFlag

/// Everything that shapes one generation.
public struct GenerationOptions: Sendable {
    /// Most tokens to generate (not counting prefilled text).
    public var maxTokens: Int = 128
    public var sampler = SamplerOptions()
    /// The red flag: token, threshold, policy. `nil` disables checking (and masking).
    public var flag: FlagConfiguration?
    /// A forced start of the answer; its positions are scanned for the flag too (the prefilling attack).
    public var prefill: String?
    /// Stop when the model emits one of these (EOS and `<end_of_turn>` by default, filled in by the generator).
    public var stopTokens: Set<Int32> = []
    /// On `halt`, return the text generated before the flag instead of `safeMessage`.
    public var returnPartialOnHalt = false
    /// What a halted generation returns in place of its text.
    public var safeMessage = "I can't help with that."

    public init(maxTokens: Int = 128, sampler: SamplerOptions = SamplerOptions(), flag: FlagConfiguration? = nil,
                prefill: String? = nil) {
        self.maxTokens = maxTokens
        self.sampler = sampler
        self.flag = flag
        self.prefill = prefill
    }
}

/// Why generation ended.
public enum FinishReason: String, Sendable {
    case stop
    case length
    case flagged
    case cancelled
}

/// Timings and counts of one generation.
public struct GenerationStats: Sendable {
    public var promptTokens = 0
    /// Prompt tokens actually evaluated (fewer when a cached prefix was reused).
    public var promptTokensEvaluated = 0
    public var generatedTokens = 0
    public var promptSeconds = 0.0
    public var generationSeconds = 0.0
    public var flags = 0
    public var finishReason = FinishReason.length
    /// Largest p(<rf>) seen at any checked position.
    public var maxFlagProbability: Float = 0

    public var promptTokensPerSecond: Double { promptSeconds > 0 ? Double(promptTokensEvaluated) / promptSeconds : 0 }
    public var tokensPerSecond: Double { generationSeconds > 0 ? Double(generatedTokens) / generationSeconds : 0 }
}

/// One step of a streaming generation.
public enum GenerationEvent: Sendable {
    /// New response text (prefilled text comes first, with `forced: true`).
    case token(id: Int32, text: String, forced: Bool)
    /// A flag fired.
    case flag(FlagEvent)
    /// Generation ended.
    case done(GenerationStats)
}

/// The outcome of a blocking generation.
public struct GenerationResult: Sendable {
    /// The response text (or the safe message when halted and partial text is withheld).
    public var text: String
    /// The response text actually produced before stopping (always available to the caller).
    public var rawText: String
    public var tokens: [Int32]
    public var flags: [FlagEvent]
    public var stats: GenerationStats
    public var halted: Bool { stats.finishReason == .flagged }
    /// Per response position p(<rf>) (index 0 is the first response position), for tracing and evaluation.
    public var flagTrace: [Float]
}
