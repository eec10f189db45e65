import RedflagTokenizer
import XCTest

/// Token ids, pieces and detokenization must match llama.cpp exactly on every golden case.
final class GoldenTokenizerTests: XCTestCase {
    func testModelMetadata() throws {
        let tokenizer = try gemmaTokenizer()
        XCTAssertEqual(tokenizer.count, 262_144)
        XCTAssertEqual(tokenizer.bos, 2)
        XCTAssertEqual(tokenizer.eos, 1)
        XCTAssertTrue(tokenizer.addBOS)
        XCTAssertFalse(tokenizer.vocabulary.addSpacePrefix)
        XCTAssertEqual(tokenizer.id(of: "<unused0>"), 6)
        XCTAssertEqual(tokenizer.id(of: "<start_of_turn>"), 105)
        XCTAssertEqual(tokenizer.id(of: "<end_of_turn>"), 106)
        XCTAssertEqual(tokenizer.tokenType(105), .control)
        XCTAssertEqual(tokenizer.tokenType(107), .userDefined)
        XCTAssertEqual(tokenizer.tokenType(238), .byte)
        XCTAssertNil(tokenizer.tokenType(262_144))
        XCTAssertNil(tokenizer.id(of: "definitely not a piece"))
    }

    func testGoldenIDs() throws {
        let tokenizer = try gemmaTokenizer()
        for c in try goldenCases() {
            XCTAssertEqual(tokenizer.encode(c.text, addBOS: true, parseSpecial: true), c.ids_bos1_special1, "\(c.name) bos1 special1")
            XCTAssertEqual(tokenizer.encode(c.text, addBOS: true, parseSpecial: false), c.ids_bos1_special0, "\(c.name) bos1 special0")
            XCTAssertEqual(tokenizer.encode(c.text, addBOS: false, parseSpecial: true), c.ids_bos0_special1, "\(c.name) bos0 special1")
            XCTAssertEqual(tokenizer.encode(c.text, addBOS: false, parseSpecial: false), c.ids_bos0_special0, "\(c.name) bos0 special0")
            XCTAssertEqual(tokenizer.encode(c.text), c.ids_bos1_special0, "\(c.name) model default")
        }
    }

    func testGoldenPieces() throws {
        let tokenizer = try gemmaTokenizer()
        for c in try goldenCases() {
            XCTAssertEqual(try c.ids_bos0_special1.map(tokenizer.piece), c.pieces_bos0_special1, "\(c.name) special1")
            XCTAssertEqual(try c.ids_bos0_special0.map(tokenizer.piece), c.pieces_bos0_special0, "\(c.name) special0")
        }
    }

    func testGoldenDetokenize() throws {
        let tokenizer = try gemmaTokenizer()
        for c in try goldenCases() {
            XCTAssertEqual(try tokenizer.decode(c.ids_bos0_special0), c.detokenize_bos0_special0, c.name)
            // The BOS token decodes to nothing and no leading space is stripped after it.
            XCTAssertEqual(try tokenizer.decode(c.ids_bos1_special0), c.detokenize_bos0_special0, c.name)
            // With special tokens parsed and rendered, the text comes back too.
            XCTAssertEqual(try tokenizer.decode(c.ids_bos0_special1, renderSpecial: true), c.text, c.name)
        }
    }

    func testStreamingDecodeMatchesFullDecodeOnGoldens() throws {
        let tokenizer = try gemmaTokenizer()
        for c in try goldenCases() {
            for (ids, render) in [(c.ids_bos1_special0, false), (c.ids_bos1_special1, false), (c.ids_bos1_special1, true)] {
                var decoder = StreamingDecoder(tokenizer: tokenizer, renderSpecial: render)
                var streamed = ""
                for id in ids { streamed += try decoder.push(id) }
                streamed += decoder.flush()
                XCTAssertEqual(streamed, try tokenizer.decode(ids, renderSpecial: render), "\(c.name) render \(render)")
            }
        }
    }
}
