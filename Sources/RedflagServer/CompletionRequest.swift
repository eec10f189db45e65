import RedflagFlag

/// A validated `POST /v1/completions` or `/v1/chat/completions` request (decoded by `CompletionRequest.decode`).
public struct CompletionRequest: Sendable, Equatable {
    /// Which endpoint the request is for.
    public enum Endpoint: String, Sendable {
        case completion = "/v1/completions"
        case chat = "/v1/chat/completions"
    }

    /// A chat message's author. `developer` (OpenAI's newer name) is read as `system`.
    public enum Role: String, Sendable {
        case system, user, assistant
    }

    public struct Message: Sendable, Equatable {
        public var role: Role
        /// The text (content parts joined).
        public var content: String
        public init(role: Role, content: String) { self.role = role; self.content = content }
    }

    /// The conversation or the raw prompt.
    public enum Input: Sendable, Equatable {
        case prompt(String)
        case messages([Message])
    }

    /// The request's guard override (our extension field `redflag`).
    public struct Guard: Sendable, Equatable {
        public var policy: FlagPolicy?
        public var threshold: Float?
        public init(policy: FlagPolicy? = nil, threshold: Float? = nil) { self.policy = policy; self.threshold = threshold }
    }

    public var endpoint: Endpoint
    public var input: Input
    /// `model` as sent (the server has one model and answers with its own name).
    public var model: String?
    /// `max_tokens` or `max_completion_tokens`; nil: the server's default.
    public var maxTokens: Int?
    public var temperature: Float?
    public var topP: Float?
    public var topK: Int?
    public var minP: Float?
    public var repetitionPenalty: Float?
    public var seed: UInt64?
    /// Stop strings (at most 4, none empty); the text ends before the first one.
    public var stop: [String] = []
    public var stream = false
    /// `stream_options.include_usage`: a last chunk with `usage` and no choices.
    public var includeUsage = false
    /// Accepted for compatibility, validated to [-2, 2] and not applied (use `repetition_penalty`).
    public var presencePenalty: Double?
    /// Accepted for compatibility, validated to [-2, 2] and not applied (use `repetition_penalty`).
    public var frequencyPenalty: Double?
    public var user: String?
    public var redflag: Guard?

    public init(endpoint: Endpoint, input: Input) {
        self.endpoint = endpoint
        self.input = input
    }
}
