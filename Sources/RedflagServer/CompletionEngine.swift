import RedflagFlag
import RedflagGeneration
import RedflagTokenizer

/// The model side of the server: turns a validated request into prompt ids and generation options, with the
/// server's defaults (sampler, guard) under the request's overrides, and checks the prompt against the context.
public final class CompletionEngine: @unchecked Sendable {
    public let generator: Generator
    /// The model id reported by `/v1/models` and in every response.
    public let modelName: String
    /// The server's guard (CLI `--guard`, `--rf-threshold`, `--rf-token`); nil when the model has no flag token.
    public let defaultFlag: FlagConfiguration?
    /// The server's sampler defaults (CLI `--temp`, `--top-k`, …).
    public let defaultSampler: SamplerOptions
    /// Few-shot examples prepended for `policy: reflect` (nil: reflect requests get 400).
    public let reflectionTemplate: ReflectionTemplate?
    let chatTemplate: ChatTemplate?

    public init(generator: Generator, modelName: String, defaultFlag: FlagConfiguration?, defaultSampler: SamplerOptions = SamplerOptions(),
                reflectionTemplate: ReflectionTemplate? = nil) {
        self.generator = generator
        self.modelName = modelName
        self.defaultFlag = defaultFlag
        self.defaultSampler = defaultSampler
        self.reflectionTemplate = reflectionTemplate
        chatTemplate = try? ChatTemplate(tokenizer: generator.tokenizer)
    }

    /// The context size in tokens (prompt plus answer).
    public var contextSize: Int { generator.context.contextSize }

    /// A request ready to run.
    struct Prepared {
        var prompt: [Int32]
        var options: GenerationOptions
        var stops: [String]
        var maxTokens: Int
    }

    func prepare(_ r: CompletionRequest, configuration c: ServerConfiguration) throws -> Prepared {
        let tok = generator.tokenizer
        // Sampler: the server's defaults, then the request's fields.
        var s = defaultSampler
        if let t = r.temperature { s.temperature = t }
        if let p = r.topP { s.topP = p }
        if let k = r.topK { s.topK = k }
        if let m = r.minP { s.minP = m }
        if let rp = r.repetitionPenalty { s.repetitionPenalty = rp }
        if let seed = r.seed { s.seed = seed }

        let maxTokens = r.maxTokens ?? min(c.defaultMaxTokens, c.maxTokensLimit)
        guard maxTokens <= c.maxTokensLimit else {
            let field = r.endpoint == .chat ? "max_tokens/max_completion_tokens" : "max_tokens"
            throw APIError(status: 400, message: "\(field) is \(maxTokens), above this server's limit of \(c.maxTokensLimit) (--max-tokens-limit)",
                           param: r.endpoint == .chat ? "max_completion_tokens" : "max_tokens", code: "max_tokens_exceeded")
        }

        var flag = defaultFlag
        if let g = r.redflag {
            guard flag != nil else {
                throw APIError(status: 400, message: "this model has no red-flag token, so 'redflag' cannot be set", param: "redflag")
            }
            if let p = g.policy { flag!.policy = p }
            if let t = g.threshold { flag!.threshold = t }
        }

        var ids: [Int32]
        switch r.input {
        case let .prompt(text):
            ids = tok.encode(text)
        case let .messages(messages):
            guard let template = chatTemplate else {
                throw APIError(status: 400, message: "this model has no chat template (<start_of_turn>/<end_of_turn>); use /v1/completions")
            }
            ids = template.render(messages.map {
                ChatTemplate.Message(role: $0.role == .assistant ? .model : ($0.role == .system ? .system : .user), text: $0.content)
            })
        }
        if let f = flag, f.policy == .reflect {
            guard let reflection = reflectionTemplate else {
                throw APIError(status: 400, message: "policy 'reflect' needs the server started with a reflection template (templates/reflection.txt)",
                               param: "redflag.policy")
            }
            let body = ids.first == tok.bos ? Array(ids.dropFirst()) : ids
            ids = (tok.addBOS ? [tok.bos] : []) + reflection.tokens(tokenizer: tok, flagToken: f.tokenID) + body
        }
        guard !ids.isEmpty else { throw APIError(status: 400, message: "the prompt is empty", param: "prompt") }
        guard ids.count < contextSize else {
            throw APIError(status: 400, message: "the prompt is \(ids.count) tokens, more than the \(contextSize - 1) allowed (context size \(contextSize) tokens, at least one for the answer)",
                           param: r.endpoint == .chat ? "messages" : "prompt", code: "context_length_exceeded")
        }
        var options = GenerationOptions(maxTokens: maxTokens, sampler: s, flag: flag)
        options.returnPartialOnHalt = true      // the server returns only text produced before the flag
        do { try s.validate() } catch { throw APIError(status: 400, message: "\(error)") }
        return Prepared(prompt: ids, options: options, stops: r.stop, maxTokens: maxTokens)
    }
}
