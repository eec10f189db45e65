/// What the engine does when `p(<rf>) ≥ τ`.
public enum FlagPolicy: String, Sendable, CaseIterable {
    /// Stop at once; the result says flagged, where and with which probability.
    case halt
    /// Append `<rf>` to the context and continue, steered by in-context reflection examples.
    case reflect
    /// Report the flag and keep generating.
    case monitor
    /// Do not check (the probability is still computed by the fused head, and `<rf>` is still never sampled).
    case off
}

/// Which token is the red flag, when it fires, and what happens then.
public struct FlagConfiguration: Sendable, Equatable {
    /// Default threshold when neither the model nor the caller sets one.
    public static let defaultThreshold: Float = 0.5
    /// Gemma 3's reserved `<unused0>`.
    public static let defaultTokenPiece = "<unused0>"

    public var tokenID: Int32
    /// τ: a flag fires when p(<rf>) ≥ τ.
    public var threshold: Float
    public var policy: FlagPolicy
    /// Reflection appends `<rf>` at most this many times per generation; later flags are only reported.
    public var maxReflections: Int

    public init(tokenID: Int32, threshold: Float = FlagConfiguration.defaultThreshold, policy: FlagPolicy = .halt,
                maxReflections: Int = 1) {
        self.tokenID = tokenID
        self.threshold = threshold
        self.policy = policy
        self.maxReflections = maxReflections
    }
}

/// Where in the conversation a check happened.
public enum FlagPhase: String, Sendable {
    /// Before the first response token (the request itself is flagged).
    case firstResponse = "first_response"
    /// Inside caller-supplied prefilled answer text (the prefilling attack).
    case prefill
    /// After a generated token.
    case generated
}

/// What the policy did about a flag.
public enum FlagAction: String, Sendable {
    case halted
    case reflected
    case reported
}

/// One fired flag.
public struct FlagEvent: Sendable, Equatable {
    /// Index in the response (number of response tokens, prefilled plus generated, before this check).
    public var responseIndex: Int
    /// Absolute position in the context.
    public var position: Int
    public var probability: Float
    public var phase: FlagPhase
    public var action: FlagAction
    /// Response text up to this point.
    public var textSoFar: String

    public init(responseIndex: Int, position: Int, probability: Float, phase: FlagPhase, action: FlagAction, textSoFar: String) {
        self.responseIndex = responseIndex
        self.position = position
        self.probability = probability
        self.phase = phase
        self.action = action
        self.textSoFar = textSoFar
    }
}
