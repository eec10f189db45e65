import RedflagKernels
import RedflagTokenizer
import XCTest

/// Flag integrity on the real vocabulary: no user-supplied text becomes a control token (the red flag `<rf>` = id 6
/// `<unused0>`, the turn markers, BOS/EOS) unless special parsing is asked for, and typed text decodes back to itself.
/// The fuzz target `Fuzz/TokenizerEncode` checks the same properties on arbitrary bytes for minutes; these run the
/// deterministic cases in the suite.
final class FlagIntegrityTests: XCTestCase {
    /// Random texts per property run (each a few dozen characters).
    static let randomTexts = 3000

    /// Control-token ids and their literals (`<bos>`, `<start_of_turn>`, `<unused0>` … `<unused6241>`).
    func controlLiterals(_ tok: Tokenizer) throws -> [(Int32, String)] {
        try (0..<Int32(tok.count)).filter { tok.tokenType($0) == .control }.map { ($0, try tok.piece($0)) }
    }

    func assertPlainText(_ tok: Tokenizer, _ text: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let ids = tok.encode(text, addBOS: false)
        if let bad = ids.first(where: { tok.tokenType($0) == .control }) {
            XCTFail("user text \(text.debugDescription) produced control token \(bad) '\(try tok.piece(bad))'", file: file, line: line)
        }
        // SentencePiece writes spaces as U+2581, so a typed U+2581 decodes as a space (as in llama.cpp).
        var expected = String.UnicodeScalarView()
        expected.append(contentsOf: text.unicodeScalars.map { $0 == "\u{2581}" ? " " : $0 })
        XCTAssertEqual(Array(try tok.decode(ids).utf8), Array(String(expected).utf8), "round trip of \(text.debugDescription)",
                       file: file, line: line)
    }

    func testEveryControlLiteralStaysTextUnlessSpecialParsingIsAsked() throws {
        let tok = try gemmaTokenizer()
        let controls = try controlLiterals(tok)
        XCTAssertGreaterThan(controls.count, 6000, "Gemma 3 has thousands of <unusedN> control tokens")
        XCTAssert(controls.contains { $0 == (6, "<unused0>") }, "<rf> is the control token <unused0>")
        for (id, literal) in controls {
            let text = "a" + literal + " b"
            try assertPlainText(tok, text)
            XCTAssert(tok.encode(text, addBOS: false, parseSpecial: true).contains(id), "\(literal) with special parsing")
        }
        // All of them in one text, and each one glued to the next.
        try assertPlainText(tok, controls.map(\.1).joined(separator: " "))
        try assertPlainText(tok, controls.prefix(500).map(\.1).joined())
    }

    func testByteFallbackLiteralsAreText() throws {
        let tok = try gemmaTokenizer()
        let hex = Array("0123456789ABCDEF")
        for b in 0..<256 {
            let literal = "<0x\(hex[b >> 4])\(hex[b & 15])>"
            try assertPlainText(tok, literal)
            try assertPlainText(tok, "x" + literal + literal.lowercased())
            // The literal is never the byte it names: "<0x41>" is six characters, not "A".
            XCTAssertNotEqual(try tok.decode(tok.encode(literal, addBOS: false)), String(decoding: [UInt8(b)], as: UTF8.self))
        }
    }

    func testRandomTextNeverYieldsControlIDs() throws {
        let tok = try gemmaTokenizer()
        let controls = try controlLiterals(tok).map(\.1)
        // Pieces of the grammar attackers use: special literals whole and cut, byte-fallback literals, SentencePiece's
        // space, turn-format newlines, HTML-like user-defined tokens, emoji and combining marks.
        let fragments = controls.prefix(40) + ["<", ">", "<0x", "0A>", "<0x41>", "<0xFF>", "\u{2581}", "\n", "\n\n", "  ", "\t",
                                              "<table>", "<unused", "0>", "start_of_turn", "<start_of", "_turn>", "model\n", "user\n",
                                              "🦙", "e\u{301}", "\u{656}", "\u{FFFD}", "\0", "日本"]
        var rng = SplitMix64(seed: 9)
        for _ in 0..<Self.randomTexts {
            var text = ""
            for _ in 0..<(1 + Int(rng.next() % 12)) {
                switch rng.next() % 3 {
                case 0: text += fragments[Int(rng.next() % UInt64(fragments.count))]
                case 1: text += String(UnicodeScalar(UInt8(32 + rng.next() % 95)))
                default:
                    // Any scalar (surrogates excluded by construction).
                    let v = UInt32(rng.next() % 0x10FFFF)
                    text.unicodeScalars.append(UnicodeScalar(v) ?? "\u{FFFD}")
                }
            }
            try assertPlainText(tok, text)
        }
    }
}
