/// Errors of the generation layer. Messages name what was found and what was expected.
public enum GenerationError: Error, CustomStringConvertible, Equatable {
    case invalidOption(name: String, value: String, expected: String)
    case promptTooLong(tokens: Int, contextSize: Int)
    case emptyPrompt
    case unknownFlagToken(String)
    case cancelled

    public var description: String {
        switch self {
        case let .invalidOption(name, value, expected): return "invalid \(name) '\(value)': expected \(expected)"
        case let .promptTooLong(tokens, ctx):
            return "prompt is \(tokens) tokens, longer than the context of \(ctx) tokens (use a larger --ctx or a shorter prompt)"
        case .emptyPrompt: return "the prompt is empty and the model adds no BOS token: nothing to condition on"
        case let .unknownFlagToken(s): return "flag token '\(s)' is not in the vocabulary (expected a token such as '<unused0>' or a numeric id)"
        case .cancelled: return "generation cancelled"
        }
    }
}
