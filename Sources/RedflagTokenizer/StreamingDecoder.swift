/// Decodes ids one at a time into text, emitting only complete UTF-8 characters.
///
/// A character split over several byte tokens (an emoji as `<0xF0>` `<0x9F>` `<0xA6>` `<0x99>`)
/// is held back until its last byte arrives. Bytes that cannot start or continue a valid
/// character are emitted as U+FFFD at once, so nothing is held forever. The concatenation of all
/// `push` results and a final ``flush()`` equals ``Tokenizer/decode(_:renderSpecial:)`` of the same ids.
public struct StreamingDecoder: Sendable {
    public let tokenizer: Tokenizer
    public let renderSpecial: Bool
    private var pending: [UInt8] = []

    public init(tokenizer: Tokenizer, renderSpecial: Bool = false) {
        self.tokenizer = tokenizer
        self.renderSpecial = renderSpecial
    }

    /// Adds one id and returns the text it completes (possibly empty).
    ///
    /// - Throws: ``TokenizerError/tokenOutOfRange(id:vocabularySize:)``; the decoder is unchanged.
    public mutating func push(_ id: Int32) throws -> String {
        try tokenizer.appendBytes(of: id, renderSpecial: renderSpecial, to: &pending)
        let end = Self.completePrefixLength(pending)
        guard end > 0 else { return "" }
        let text = String(decoding: pending[..<end], as: UTF8.self)
        pending.removeFirst(end)
        return text
    }

    /// Returns whatever is held back (an incomplete character becomes U+FFFD) and resets.
    public mutating func flush() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// The length of `bytes` without a trailing incomplete-but-so-far-valid UTF-8 sequence.
    static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        let n = bytes.count
        var lead = n - 1
        while lead >= 0, lead >= n - 4, bytes[lead] & 0xC0 == 0x80 { lead -= 1 }
        guard lead >= 0, lead >= n - 4 else { return n }
        let b0 = bytes[lead]
        let width: Int
        switch b0 {
        case 0xC2...0xDF: width = 2
        case 0xE0...0xEF: width = 3
        case 0xF0...0xF4: width = 4
        default: return n
        }
        let have = n - lead
        guard have < width else { return n }
        if have >= 2 {
            let b1 = bytes[lead + 1]
            let valid: ClosedRange<UInt8>
            switch b0 {
            case 0xE0: valid = 0xA0...0xBF
            case 0xED: valid = 0x80...0x9F
            case 0xF0: valid = 0x90...0xBF
            case 0xF4: valid = 0x80...0x8F
            default: valid = 0x80...0xBF
            }
            guard valid.contains(b1) else { return n }
        }
        return lead
    }
}
