import RedflagTokenizer
import XCTest

/// The SentencePiece merge rules and special-token partition on small hand-built vocabularies.
final class MergeRuleTests: XCTestCase {
    private func tokenizer(_ entries: [(String, Float, TokenType)], addSpacePrefix: Bool = false, addEOS: Bool = false,
                           unk: Int32? = 0) throws -> Tokenizer {
        let base: [(String, Float, TokenType)] = [("<unk>", 0, .unknown), ("<s>", 0, .control), ("</s>", 0, .control)]
        let all = base + entries
        return try Tokenizer(vocabulary: Vocabulary(
            tokens: all.map(\.0), scores: all.map(\.1), types: all.map(\.2.rawValue), bos: 1, eos: 2, unk: unk, pad: nil,
            addBOS: true, addEOS: addEOS, addSpacePrefix: addSpacePrefix))
    }

    private func pieces(_ t: Tokenizer, _ text: String, parseSpecial: Bool = false) throws -> [String] {
        try t.encode(text, addBOS: false, parseSpecial: parseSpecial).map(t.piece)
    }

    func testHigherScoreMergesFirst() throws {
        let bcWins = try tokenizer([("a", -10, .normal), ("b", -10, .normal), ("c", -10, .normal), ("ab", -2, .normal), ("bc", -1, .normal)])
        XCTAssertEqual(try pieces(bcWins, "abc"), ["a", "bc"])
        let abWins = try tokenizer([("a", -10, .normal), ("b", -10, .normal), ("c", -10, .normal), ("ab", -1, .normal), ("bc", -2, .normal)])
        XCTAssertEqual(try pieces(abWins, "abc"), ["ab", "c"])
    }

    func testTiesMergeLeftmostFirst() throws {
        let t = try tokenizer([("a", -10, .normal), ("b", -10, .normal), ("c", -10, .normal), ("ab", -1, .normal), ("bc", -1, .normal),
                               ("aa", -1, .normal)])
        XCTAssertEqual(try pieces(t, "abc"), ["ab", "c"])
        XCTAssertEqual(try pieces(t, "aaa"), ["aa", "a"])
        XCTAssertEqual(try pieces(t, "aaaaa"), ["aa", "aa", "a"])
    }

    func testMergesChainThroughIntermediatePieces() throws {
        let t = try tokenizer([("a", -10, .normal), ("b", -10, .normal), ("c", -10, .normal), ("ab", -3, .normal), ("abc", -5, .normal),
                               ("▁", -10, .normal), ("▁abc", -4, .normal)])
        XCTAssertEqual(try pieces(t, "abc"), ["abc"])
        XCTAssertEqual(try pieces(t, "abc abc"), ["abc", "▁abc"])
        // Without "bc", "abc" is only reachable through "ab".
        XCTAssertEqual(try pieces(t, "cab"), ["c", "ab"])
    }

    func testPiecesSpanningAnEscapedSpaceStillMerge() throws {
        let entries: [(String, Float, TokenType)] = [("a", -10, .normal), ("b", -10, .normal), ("▁", -10, .normal), ("▁b", -5, .normal)]
        let split = try tokenizer(entries)
        XCTAssertEqual(try pieces(split, "a b a b"), ["a", "▁b", "▁", "a", "▁b"])
        let joined = try tokenizer(entries + [("a▁b", -1, .normal)])
        XCTAssertEqual(try pieces(joined, "a b a b"), ["a▁b", "▁", "a▁b"])
        XCTAssertEqual(try joined.decode(joined.encode("a b a b", addBOS: false)), "a b a b")
    }

    func testByteFallbackAndUnknown() throws {
        let t = try tokenizer([("a", -1, .normal), ("<0xC3>", 0, .byte), ("<0xA9>", 0, .byte), ("<0x41>", 0, .byte)])
        XCTAssertEqual(try pieces(t, "aéa"), ["a", "<0xC3>", "<0xA9>", "a"])
        XCTAssertEqual(try t.decode(t.encode("aéa", addBOS: false)), "aéa")
        // No byte token for "z": unk.
        XCTAssertEqual(t.encode("z", addBOS: false), [0])
        XCTAssertEqual(try t.decode([0]), "")
        XCTAssertEqual(try t.decode([0], renderSpecial: true), "<unk>")
        // A literal "<0x41>" is text, not the byte token.
        XCTAssertFalse(t.encode("<0x41>", addBOS: false).contains(6))
    }

    func testSpacePrefixAndEOS() throws {
        let t = try tokenizer([("a", -1, .normal), ("▁", -2, .normal), ("▁a", -1, .normal), ("<x>", 0, .control)],
                              addSpacePrefix: true, addEOS: true)
        XCTAssertEqual(try t.encode("a").map(t.piece), ["<s>", "▁a", "</s>"])
        XCTAssertEqual(try pieces(t, "a<x>a", parseSpecial: true), ["▁a", "<x>", "▁a"])
        XCTAssertEqual(try pieces(t, "a"), ["▁a"])
    }

    func testSpecialTokensClaimLongestFirstThenByOrder() throws {
        let t = try tokenizer([("a", -1, .normal), ("b", -1, .normal), ("c", -1, .normal), ("d", -1, .normal),
                               ("ab", 0, .userDefined), ("bcd", 0, .userDefined), ("<c>", 0, .control)])
        // "bcd" is longer, so it claims its occurrence before "ab" gets a chance.
        XCTAssertEqual(try pieces(t, "abcd"), ["a", "bcd"])
        XCTAssertEqual(try pieces(t, "abab"), ["ab", "ab"])
        XCTAssertEqual(try pieces(t, "a<c>b", parseSpecial: true), ["a", "<c>", "b"])
        XCTAssertEqual(try pieces(t, "a<c>b"), ["a", "<unk>", "c", "<unk>", "b"])
    }
}
