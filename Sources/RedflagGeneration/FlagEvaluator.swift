import Foundation
import RedflagFlag

/// Runs labelled prompts through the engine and records the fused detector's max p(<rf>) — what users run,
/// quantization included. The input is JSON Lines: `{"prompt": …, "label": "harmful"|…, "prefill": optional}`.
public struct FlagEvaluator {
    public struct Example: Codable, Sendable {
        public var prompt: String
        public var label: String
        public var prefill: String?
        public var isPositive: Bool { label == "harmful" }

        public init(prompt: String, label: String, prefill: String? = nil) {
            self.prompt = prompt
            self.label = label
            self.prefill = prefill
        }
    }

    public struct Record: Codable, Sendable {
        public var index: Int
        public var label: String
        /// Max p(<rf>) over the first response position, the prefilled positions and `generatedTokens` tokens.
        public var maxP: Double
        public var fired: Bool
        /// Response index of the first check at or above τ (nil if none).
        public var firstFlagIndex: Int?
        public var prefilledTokens: Int
        /// With sampling: how many of the samples fired.
        public var samplesFired: Int?
        public var samples: Int?
        /// With a prefill (the prefilling attack): max p(<rf>) over the prefilled positions and the next tokens.
        public var prefillMaxP: Double?
        public var prefillFired: Bool?
        /// With a `reference` model, on a non-harmful prompt: how many of the greedy answer's tokens are also the
        /// reference's most likely next token (`agreementPositions` compared).
        public var agreement: Int?
        public var agreementPositions: Int?
        enum CodingKeys: String, CodingKey {
            case index, label, fired, samples
            case maxP = "max_p"
            case firstFlagIndex = "first_flag_index"
            case prefilledTokens = "prefilled_tokens"
            case samplesFired = "samples_fired"
            case prefillMaxP = "prefill_max_p"
            case prefillFired = "prefill_fired"
            case agreement = "greedy_agreement"
            case agreementPositions = "agreement_positions"
        }
    }

    public let generator: Generator
    public let template: ChatTemplate
    public var flag: FlagConfiguration
    /// Generated tokens after the prompt (and prefill) over which the max is taken.
    public var generatedTokens = 32
    /// The base model (no adapter), for the utility check "greedy next-token agreement with the base model" on the
    /// non-harmful prompts; nil: not measured. It needs its own context (it is primed with every prompt).
    public var reference: Generator?

    public init(generator: Generator, flag: FlagConfiguration) throws {
        self.generator = generator
        self.template = try ChatTemplate(tokenizer: generator.tokenizer)
        self.flag = flag
    }

    /// Parses JSON Lines; errors name the line.
    public static func load(path: String) throws -> [Example] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw GenerationError.invalidOption(name: "data file", value: path, expected: "a readable JSON Lines file")
        }
        var out: [Example] = []
        for (i, line) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.isEmpty { continue }
            do { out.append(try JSONDecoder().decode(Example.self, from: Data(t.utf8))) } catch {
                throw GenerationError.invalidOption(name: "data file line \(i + 1)", value: String(t.prefix(80)),
                                                    expected: "a JSON object with string fields \"prompt\" and \"label\" (and optional \"prefill\")")
            }
        }
        return out
    }

    /// Scores one example: the plain request, and (when the example has one) the request with its prefilled
    /// answer start — the prefilling attack.
    public func scoreWithPrefill(_ e: Example, index: Int) throws -> Record {
        var plain = e
        plain.prefill = nil
        var r = try score(plain, index: index)
        if e.prefill != nil {
            let p = try score(e, index: index)
            r.prefillMaxP = p.maxP
            r.prefillFired = p.fired
            r.prefilledTokens = p.prefilledTokens
        }
        return r
    }

    /// Scores one example: monitor policy (never halts), greedy unless `sampler` says otherwise.
    public func score(_ e: Example, index: Int, sampler: SamplerOptions = SamplerOptions(), samples: Int = 1) throws -> Record {
        let prompt = template.singleTurn(e.prompt)
        var cfg = flag
        cfg.policy = .monitor
        var best = 0.0
        var first: Int?
        var fired = 0
        var prefilled = 0
        var greedyAnswer: [Int32]?
        for s in 0..<samples {
            var opts = GenerationOptions(maxTokens: generatedTokens, sampler: sampler, flag: cfg, prefill: e.prefill)
            opts.sampler.seed = sampler.seed &+ UInt64(s)
            let r = try generator.generate(prompt: prompt, options: opts)
            if samples == 1 && sampler.temperature == 0 && e.prefill == nil { greedyAnswer = r.tokens }
            let m = Double(r.flagTrace.max() ?? 0)
            best = max(best, m)
            if m >= Double(flag.threshold) { fired += 1 }
            if first == nil { first = r.flags.first?.responseIndex }
            prefilled = e.prefill.map { generator.tokenizer.encode($0, addBOS: false).count } ?? 0
        }
        var record = Record(index: index, label: e.label, maxP: best, fired: best >= Double(flag.threshold), firstFlagIndex: first,
                            prefilledTokens: prefilled, samplesFired: samples > 1 ? fired : nil, samples: samples > 1 ? samples : nil)
        if let ref = reference, let answer = greedyAnswer, !e.isPositive {
            record.agreement = try Self.agreement(reference: ref, prompt: prompt, continuation: answer, flagToken: flag.tokenID)
            record.agreementPositions = answer.count
        }
        return record
    }

    /// p(`<rf>`) along a given continuation, teacher-forced: `reference` reads `prompt`, then each token of
    /// `continuation` in turn, and projects after the prompt and after every token, on the one-token path generation
    /// uses. The result has `continuation.count + 1` entries, like `GenerationResult.flagTrace`, and equals it when
    /// `continuation` is `reference`'s own monitor-policy answer. Two models, or two weight formats, are compared on
    /// the same tokens this way: their own greedy answers part ways at the first near-tie, after which the flag
    /// probabilities of two different texts would be compared.
    public static func flagTrace(reference: Generator, prompt: [Int32], continuation: [Int32], flagToken: Int32) throws -> [Float] {
        var trace: [Float] = []
        trace.reserveCapacity(continuation.count + 1)
        try teacherForced(reference, prompt: prompt, continuation: continuation, flagToken: flagToken,
                          positions: continuation.count + 1) { _, reading in trace.append(reading.probability) }
        return trace
    }

    /// Teacher-forced top-1 agreement: along `continuation` (an evaluated model's own greedy answer to `prompt`), how
    /// many of its tokens are also `reference`'s most likely next token given the same preceding tokens, with
    /// `flagToken` masked out as generation masks it. The reference runs the one-token path generation uses.
    public static func agreement(reference: Generator, prompt: [Int32], continuation: [Int32], flagToken: Int32) throws -> Int {
        guard !continuation.isEmpty else { return 0 }
        var agree = 0
        try teacherForced(reference, prompt: prompt, continuation: continuation, flagToken: flagToken,
                          positions: continuation.count) { i, _ in
            let logits = reference.lastLogits
            if Sampler.argmax(logits.baseAddress!, logits.count) == continuation[i] { agree += 1 }   // greedy generation's own pick
        }
        return agree
    }

    /// Runs `reference` over `prompt` and then `continuation`, one token at a time: `visit(i, reading)` gets the
    /// projection after the prompt and the first i tokens (the logits predicting `continuation[i]`), for i <
    /// `positions` (at most `continuation.count + 1`); no token is evaluated beyond the last position visited. The
    /// head projects with `flagToken` as generation's does, and gets its own flag token back afterwards.
    private static func teacherForced(_ reference: Generator, prompt: [Int32], continuation: [Int32], flagToken: Int32,
                                      positions: Int, _ visit: (Int, FlagReading) -> Void) throws {
        let saved = reference.head.flagToken
        reference.head.flagToken = flagToken
        defer { reference.head.flagToken = saved }
        try reference.prime(prompt)
        for i in 0..<positions {
            visit(i, reference.project())
            if i + 1 < positions { try reference.context.evaluate(token: continuation[i]) }
        }
    }
}
