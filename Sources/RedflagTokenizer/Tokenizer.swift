/// Gemma 3's SentencePiece-style tokenizer, producing the same ids as llama.cpp's `llama` (SPM)
/// tokenizer.
///
/// Encoding first splits the text at special tokens (see ``encode(_:addBOS:parseSpecial:)``),
/// then segments each remaining fragment by score-ordered pair merges with byte fallback.
public final class Tokenizer: Sendable {
    public let vocabulary: Vocabulary
    private let pieces: PieceTable
    private let partitioner: SpecialTokenPartition
    private let encoder: SPMEncoder

    private static let spaceEscape: [UInt8] = Array("\u{2581}".utf8)

    /// Builds lookup tables for `vocabulary`.
    public init(vocabulary: Vocabulary) throws {
        self.vocabulary = vocabulary
        let pieces = PieceTable(vocabulary.tokens)
        self.pieces = pieces
        self.partitioner = SpecialTokenPartition(vocabulary: vocabulary)
        let hexDigits = Array("0123456789ABCDEF")
        let byteTokens: [Int32?] = (0..<256).map { byte in
            let hex = "<0x\(hexDigits[byte >> 4])\(hexDigits[byte & 15])>"
            if let id = pieces.lookup(hex) { return id }
            if byte < 0x80, let id = pieces.lookup(String(decoding: [UInt8(byte)], as: UTF8.self)) { return id }
            return vocabulary.unk
        }
        self.encoder = SPMEncoder(pieces: pieces, scores: vocabulary.scores, byteTokens: byteTokens, tokens: vocabulary.tokens)
    }

    /// The vocabulary size.
    public var count: Int { vocabulary.count }
    /// The beginning-of-sequence token id.
    public var bos: Int32 { vocabulary.bos }
    /// The end-of-sequence token id.
    public var eos: Int32 { vocabulary.eos }
    /// Whether ``encode(_:addBOS:parseSpecial:)`` adds `bos` when not told otherwise.
    public var addBOS: Bool { vocabulary.addBOS }

    /// Encodes text into token ids.
    ///
    /// - Parameters:
    ///   - addBOS: whether to start with `bos`; `nil` uses the model default (``addBOS``). When the
    ///     vocabulary asks for `eos` (`addEOS`), it is appended unless `addBOS` is `false`.
    ///   - parseSpecial: whether control tokens written in the text (`<start_of_turn>`, `<bos>`)
    ///     become their ids. User-defined tokens (runs of newlines, spaces, tabs; HTML tags) are
    ///     matched either way, as in llama.cpp.
    public func encode(_ text: String, addBOS: Bool? = nil, parseSpecial: Bool = false) -> [Int32] {
        var text = text
        return text.withUTF8 { encode(utf8: $0, addBOS: addBOS, parseSpecial: parseSpecial) }
    }

    private func encode(utf8 text: UnsafeBufferPointer<UInt8>, addBOS: Bool?, parseSpecial: Bool) -> [Int32] {
        var output: [Int32] = []
        output.reserveCapacity(text.count / 3 + 2)
        if addBOS ?? vocabulary.addBOS { output.append(vocabulary.bos) }
        var escaped: [UInt8] = []
        var previousWasSpecial = true
        for fragment in partitioner.partition(text, parseSpecial: parseSpecial) {
            switch fragment {
            case let .token(id):
                output.append(id)
                previousWasSpecial = true
            case let .text(range):
                escaped.removeAll(keepingCapacity: true)
                if vocabulary.addSpacePrefix && previousWasSpecial { escaped.append(contentsOf: Self.spaceEscape) }
                for byte in UnsafeBufferPointer(rebasing: text[range]) {
                    if byte == 0x20 { escaped.append(contentsOf: Self.spaceEscape) } else { escaped.append(byte) }
                }
                escaped.withUnsafeBufferPointer { encoder.encode($0, into: &output) }
                previousWasSpecial = false
            }
        }
        if vocabulary.addEOS && addBOS != false { output.append(vocabulary.eos) }
        return output
    }

    /// The raw vocabulary piece of `id` (with `▁` for spaces and `<0xNN>` for byte tokens).
    ///
    /// - Throws: ``TokenizerError/tokenOutOfRange(id:vocabularySize:)``.
    public func piece(_ id: Int32) throws -> String {
        try checkRange(id)
        return vocabulary.tokens[Int(id)]
    }

    /// Decodes ids into text.
    ///
    /// Normal pieces turn `▁` back into spaces, byte tokens become their byte, user-defined
    /// tokens their text. Control and unknown tokens produce nothing unless `renderSpecial`.
    /// Bytes that do not form valid UTF-8 are replaced by U+FFFD.
    ///
    /// - Throws: ``TokenizerError/tokenOutOfRange(id:vocabularySize:)`` for an id outside the vocabulary.
    public func decode(_ ids: [Int32], renderSpecial: Bool = false) throws -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 4)
        for id in ids { try appendBytes(of: id, renderSpecial: renderSpecial, to: &bytes) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The id whose piece is exactly `piece`, e.g. `"<start_of_turn>"` or `"▁the"`.
    public func id(of piece: String) -> Int32? { pieces.lookup(piece) }

    /// The type of `id`, or nil if it is outside the vocabulary.
    public func tokenType(_ id: Int32) -> TokenType? {
        id >= 0 && Int(id) < vocabulary.count ? vocabulary.types[Int(id)] : nil
    }

    /// Appends the bytes `id` decodes to.
    func appendBytes(of id: Int32, renderSpecial: Bool, to bytes: inout [UInt8]) throws {
        try checkRange(id)
        switch vocabulary.types[Int(id)] {
        case .normal:
            pieces.withBytes(of: id) { piece in
                var i = 0
                while i < piece.count {
                    if i + 2 < piece.count, piece[i] == 0xE2, piece[i + 1] == 0x96, piece[i + 2] == 0x81 {
                        bytes.append(0x20)
                        i += 3
                    } else {
                        bytes.append(piece[i])
                        i += 1
                    }
                }
            }
        case .byte:
            if let byte = pieces.withBytes(of: id, Self.byteValue) { bytes.append(byte) }
        case .userDefined:
            pieces.withBytes(of: id) { bytes.append(contentsOf: $0) }
        case .control, .unknown:
            if renderSpecial { pieces.withBytes(of: id) { bytes.append(contentsOf: $0) } }
        case .unused, .undefined:
            break
        }
    }

    /// The byte of a `<0xNN>` piece.
    private static func byteValue(_ piece: UnsafeBufferPointer<UInt8>) -> UInt8? {
        guard piece.count == 6, piece[0] == UInt8(ascii: "<"), piece[1] == UInt8(ascii: "0"),
              piece[2] == UInt8(ascii: "x"), piece[5] == UInt8(ascii: ">"),
              let high = hexValue(piece[3]), let low = hexValue(piece[4]) else { return nil }
        return high << 4 | low
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        default: return nil
        }
    }

    private func checkRange(_ id: Int32) throws {
        guard id >= 0, Int(id) < vocabulary.count else {
            throw TokenizerError.tokenOutOfRange(id: id, vocabularySize: vocabulary.count)
        }
    }
}
