/// A SentencePiece-style vocabulary: one piece, score and type per token id, plus the special ids
/// and flags that shape encoding.
public struct Vocabulary: Sendable {
    /// Piece text per id, with `▁` (U+2581) for spaces and `<0xNN>` for byte tokens.
    public let tokens: [String]
    /// Merge priority per id: among adjacent pairs, the one forming the highest-scoring token merges first.
    public let scores: [Float]
    public let types: [TokenType]
    public let bos: Int32
    public let eos: Int32
    public let unk: Int32?
    public let pad: Int32?
    /// Whether encoding adds `bos` by default.
    public let addBOS: Bool
    /// Whether encoding with special tokens appends `eos`.
    public let addEOS: Bool
    /// Whether a space is prepended to text that starts the input or follows a special token.
    public let addSpacePrefix: Bool

    /// Validates and stores a vocabulary.
    ///
    /// - Parameter types: raw `tokenizer.ggml.token_type` values; values outside ``TokenType`` count as `undefined`.
    /// - Throws: ``TokenizerError`` if the arrays differ in length, are empty, or a special id is out of range.
    public init(tokens: [String], scores: [Float], types: [Int32], bos: Int32, eos: Int32, unk: Int32?, pad: Int32?,
                addBOS: Bool, addEOS: Bool, addSpacePrefix: Bool) throws {
        guard tokens.count == scores.count, tokens.count == types.count else {
            throw TokenizerError.inconsistentVocabulary(tokens: tokens.count, scores: scores.count, types: types.count)
        }
        guard !tokens.isEmpty else { throw TokenizerError.emptyVocabulary }
        let size = tokens.count
        let specials: [(String, Int32?)] = [("bos", bos), ("eos", eos), ("unk", unk), ("pad", pad)]
        for case let (name, id?) in specials where id < 0 || Int(id) >= size {
            throw TokenizerError.specialTokenOutOfRange(name: name, id: id, vocabularySize: size)
        }
        self.tokens = tokens
        self.scores = scores
        self.types = types.map { TokenType(rawValue: $0) ?? .undefined }
        self.bos = bos
        self.eos = eos
        self.unk = unk
        self.pad = pad
        self.addBOS = addBOS
        self.addEOS = addEOS
        self.addSpacePrefix = addSpacePrefix
    }

    /// The number of tokens.
    public var count: Int { tokens.count }
}
