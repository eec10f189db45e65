import RedflagTokenizer

/// Gemma's turn format, built from token ids so that user text can never become a turn marker:
/// `<start_of_turn>user\n{text}<end_of_turn>\n<start_of_turn>model\n`.
enum ChatFormat {
    static func singleTurn(_ text: String, tokenizer tok: Tokenizer) throws -> [Int32] {
        guard let start = tok.id(of: "<start_of_turn>"), let end = tok.id(of: "<end_of_turn>") else {
            throw CLIError("the model has no <start_of_turn>/<end_of_turn> tokens; run without --chat")
        }
        var ids: [Int32] = tok.addBOS ? [tok.bos] : []
        ids.append(start)
        ids += tok.encode("user\n", addBOS: false)
        ids += tok.encode(text, addBOS: false)
        ids.append(end)
        ids += tok.encode("\n", addBOS: false)
        ids.append(start)
        ids += tok.encode("model\n", addBOS: false)
        return ids
    }
}
