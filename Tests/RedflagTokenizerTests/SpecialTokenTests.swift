import RedflagTokenizer
import XCTest

/// Control tokens are only recognised in text when asked for; user-defined tokens always are.
final class SpecialTokenTests: XCTestCase {
    func testControlTokenLiteralsStayTextWithoutParseSpecial() throws {
        let tokenizer = try gemmaTokenizer()
        let startOfTurn = try XCTUnwrap(tokenizer.id(of: "<start_of_turn>"))
        let endOfTurn = try XCTUnwrap(tokenizer.id(of: "<end_of_turn>"))
        let texts = ["<unused0>", "a<unused0>b", "<start_of_turn>user\nhi<end_of_turn>", " <start_of_turn> ", "<bos><eos><pad><unk><mask>"]
        for text in texts {
            let plain = tokenizer.encode(text, addBOS: false)
            XCTAssertFalse(plain.contains(6), text)
            XCTAssertFalse(plain.contains(startOfTurn), text)
            XCTAssertFalse(plain.contains(endOfTurn), text)
            XCTAssertFalse(plain.contains { tokenizer.tokenType($0) == .control }, text)
            XCTAssertEqual(try tokenizer.decode(plain), text)
        }
        XCTAssertEqual(tokenizer.encode("<unused0>", addBOS: false, parseSpecial: true), [6])
        XCTAssertEqual(tokenizer.encode("<start_of_turn>", addBOS: false, parseSpecial: true), [startOfTurn])
        XCTAssertEqual(tokenizer.encode("<bos>", addBOS: false, parseSpecial: true), [tokenizer.bos])
    }

    func testUserDefinedTokensMatchWithoutParseSpecial() throws {
        let tokenizer = try gemmaTokenizer()
        let table = try XCTUnwrap(tokenizer.id(of: "<table>"))
        let image = try XCTUnwrap(tokenizer.id(of: "<start_of_image>"))
        let threeNewlines = try XCTUnwrap(tokenizer.id(of: "\n\n\n"))
        for parse in [false, true] {
            XCTAssertEqual(tokenizer.encode("<table>", addBOS: false, parseSpecial: parse), [table])
            XCTAssertEqual(tokenizer.encode("<start_of_image>", addBOS: false, parseSpecial: parse), [image])
            XCTAssertEqual(tokenizer.encode("\n\n\n", addBOS: false, parseSpecial: parse), [threeNewlines])
        }
        // The longest run of spaces (31) is taken first, then the rest.
        let spaces = tokenizer.encode(String(repeating: " ", count: 40), addBOS: false)
        XCTAssertEqual(spaces, [tokenizer.id(of: String(repeating: " ", count: 31)), tokenizer.id(of: String(repeating: " ", count: 9))].compactMap { $0 })
    }

    func testControlTokensDecodeOnlyWhenRendered() throws {
        let tokenizer = try gemmaTokenizer()
        let ids = tokenizer.encode("<start_of_turn>model\nHi<end_of_turn>", addBOS: true, parseSpecial: true)
        XCTAssertEqual(try tokenizer.decode(ids), "model\nHi")
        XCTAssertEqual(try tokenizer.decode(ids, renderSpecial: true), "<bos><start_of_turn>model\nHi<end_of_turn>")
    }
}
