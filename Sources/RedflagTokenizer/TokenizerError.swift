/// Errors raised while building a tokenizer or decoding token ids.
public enum TokenizerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `tokenizer.ggml.model` names a tokenizer other than the SentencePiece-style `llama` one.
    case unsupportedModel(found: String)
    /// A required GGUF metadata key is absent or has the wrong type.
    case missingMetadata(key: String, expected: String)
    /// Per-token arrays disagree in length.
    case inconsistentVocabulary(tokens: Int, scores: Int, types: Int)
    /// The vocabulary has no tokens.
    case emptyVocabulary
    /// A special-token id (`bos`, `eos`, `unk`, `pad`) lies outside the vocabulary.
    case specialTokenOutOfRange(name: String, id: Int32, vocabularySize: Int)
    /// A token id outside `0..<vocabularySize` was given for decoding or lookup.
    case tokenOutOfRange(id: Int32, vocabularySize: Int)

    public var description: String {
        switch self {
        case let .unsupportedModel(found):
            return "unsupported tokenizer model \"\(found)\": expected \"llama\" (SentencePiece-style)"
        case let .missingMetadata(key, expected):
            return "GGUF metadata key \(key) is missing or not \(expected)"
        case let .inconsistentVocabulary(tokens, scores, types):
            return "inconsistent vocabulary: \(tokens) tokens, \(scores) scores and \(types) token types; expected equal counts"
        case .emptyVocabulary:
            return "empty vocabulary: expected at least one token"
        case let .specialTokenOutOfRange(name, id, size):
            return "\(name) token id \(id) is out of range: expected 0..<\(size) (vocabulary size \(size))"
        case let .tokenOutOfRange(id, size):
            return "token id \(id) is out of range: expected 0..<\(size) (vocabulary size \(size))"
        }
    }
}
