import RedflagGGUF

extension Tokenizer {
    /// Reads the tokenizer stored in a GGUF file's `tokenizer.ggml.*` metadata.
    ///
    /// Absent keys take llama.cpp's defaults for SentencePiece vocabularies: scores 0, type normal,
    /// `bos` 1, `eos` 2, `unk` 0, no padding, `add_bos_token` true, `add_eos_token` false,
    /// `add_space_prefix` true. A special id outside the vocabulary is ignored in favour of the default.
    ///
    /// - Throws: ``TokenizerError/unsupportedModel(found:)`` unless `tokenizer.ggml.model` is `llama`;
    ///   ``TokenizerError/missingMetadata(key:expected:)`` if the token list is missing.
    public convenience init(gguf: GGUFFile) throws {
        let model = gguf.string(GGUFKeys.tokenizerModel)
        guard model == "llama" else { throw TokenizerError.unsupportedModel(found: model ?? "(missing)") }
        guard let tokens = gguf.stringArray(GGUFKeys.tokenizerTokens) else {
            throw TokenizerError.missingMetadata(key: GGUFKeys.tokenizerTokens, expected: "an array of strings")
        }
        let scores = gguf.floatArray(GGUFKeys.tokenizerScores) ?? [Float](repeating: 0, count: tokens.count)
        let types = gguf.intArray(GGUFKeys.tokenizerTokenType)?.map { Int32(truncatingIfNeeded: $0) }
            ?? [Int32](repeating: TokenType.normal.rawValue, count: tokens.count)

        func specialID(_ key: String) -> Int32? {
            guard let id = gguf.int(key), id >= 0, id < tokens.count else { return nil }
            return Int32(id)
        }
        let vocabulary = try Vocabulary(
            tokens: tokens, scores: scores, types: types,
            bos: specialID(GGUFKeys.tokenizerBOS) ?? 1,
            eos: specialID(GGUFKeys.tokenizerEOS) ?? 2,
            unk: specialID(GGUFKeys.tokenizerUnknown) ?? 0,
            pad: specialID(GGUFKeys.tokenizerPadding),
            addBOS: gguf.bool(GGUFKeys.tokenizerAddBOS) ?? true,
            addEOS: gguf.bool(GGUFKeys.tokenizerAddEOS) ?? false,
            addSpacePrefix: gguf.bool(GGUFKeys.tokenizerAddSpacePrefix) ?? true)
        try self.init(vocabulary: vocabulary)
    }
}
