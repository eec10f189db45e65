import RedflagTokenizer
import XCTest

final class StreamingDecoderTests: XCTestCase {
    private func byteToken(_ tokenizer: Tokenizer, _ byte: UInt8) throws -> Int32 {
        let hex = String(byte, radix: 16, uppercase: true)
        return try XCTUnwrap(tokenizer.id(of: "<0x\(hex.count == 1 ? "0" : "")\(hex)>"))
    }

    func testEmojiSplitOverByteTokensIsHeldUntilComplete() throws {
        let tokenizer = try gemmaTokenizer()
        let ids = tokenizer.encode("I love 🦙!", addBOS: false)
        let llama = try [0xF0, 0x9F, 0xA6, 0x99].map { try byteToken(tokenizer, $0) }
        XCTAssertTrue(ids.split(separator: llama[0]).count > 1, "the llama emoji should use byte fallback")

        var decoder = StreamingDecoder(tokenizer: tokenizer)
        XCTAssertEqual(try decoder.push(llama[0]), "")
        XCTAssertEqual(try decoder.push(llama[1]), "")
        XCTAssertEqual(try decoder.push(llama[2]), "")
        XCTAssertEqual(try decoder.push(llama[3]), "🦙")
        XCTAssertEqual(decoder.flush(), "")

        var whole = StreamingDecoder(tokenizer: tokenizer)
        let pieces = try ids.map { try whole.push($0) }
        XCTAssertEqual(pieces.joined() + whole.flush(), "I love 🦙!")
        XCTAssertTrue(pieces.contains("🦙"))
    }

    func testInvalidSequencesAreReplacedNotHeld() throws {
        let tokenizer = try gemmaTokenizer()
        let a = try XCTUnwrap(tokenizer.id(of: "A"))
        var decoder = StreamingDecoder(tokenizer: tokenizer)
        XCTAssertEqual(try decoder.push(byteToken(tokenizer, 0x80)), "\u{FFFD}")
        XCTAssertEqual(try decoder.push(byteToken(tokenizer, 0xF0)), "")
        XCTAssertEqual(try decoder.push(a), "\u{FFFD}A")
        XCTAssertEqual(try decoder.push(byteToken(tokenizer, 0xED)), "")
        XCTAssertEqual(try decoder.push(byteToken(tokenizer, 0xA0)), "\u{FFFD}\u{FFFD}")
        XCTAssertEqual(try decoder.push(byteToken(tokenizer, 0xC0)), "\u{FFFD}")
        XCTAssertEqual(try decoder.push(byteToken(tokenizer, 0xE6)), "")
        XCTAssertEqual(try decoder.push(byteToken(tokenizer, 0x97)), "")
        XCTAssertEqual(decoder.flush(), "\u{FFFD}")
        XCTAssertEqual(decoder.flush(), "")
    }

    func testRenderSpecial() throws {
        let tokenizer = try gemmaTokenizer()
        let turn = try XCTUnwrap(tokenizer.id(of: "<start_of_turn>"))
        var plain = StreamingDecoder(tokenizer: tokenizer)
        var rendered = StreamingDecoder(tokenizer: tokenizer, renderSpecial: true)
        XCTAssertEqual(try plain.push(turn), "")
        XCTAssertEqual(try rendered.push(turn), "<start_of_turn>")
    }
}
