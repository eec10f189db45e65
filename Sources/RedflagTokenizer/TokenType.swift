/// The kind of a vocabulary entry, as stored in `tokenizer.ggml.token_type`.
///
/// The raw values are the GGUF (and SentencePiece) numbering.
public enum TokenType: Int32, Sendable {
    case undefined = 0
    /// An ordinary piece; `▁` stands for a space.
    case normal = 1
    /// The unknown-piece token.
    case unknown = 2
    /// A control token such as `<bos>` or `<start_of_turn>`: matched in text only when special
    /// parsing is on, and decoded to nothing unless special rendering is asked for.
    case control = 3
    /// A user-defined token (runs of newlines, spaces or tabs, HTML tags): always matched in text
    /// before segmentation and always decoded to its text.
    case userDefined = 4
    case unused = 5
    /// A byte-fallback token spelled `<0xNN>`.
    case byte = 6
}
