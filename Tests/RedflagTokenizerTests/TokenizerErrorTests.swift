import RedflagGGUF
import RedflagTokenizer
import XCTest

final class TokenizerErrorTests: XCTestCase {
    func testOutOfRangeIDsThrowWithIDAndVocabularySize() throws {
        let tokenizer = try gemmaTokenizer()
        for bad: Int32 in [300_000, 262_144, -1] {
            XCTAssertThrowsError(try tokenizer.decode([2, bad, 5])) { error in
                XCTAssertEqual(error as? TokenizerError, .tokenOutOfRange(id: bad, vocabularySize: 262_144))
                let message = "\(error)"
                XCTAssertTrue(message.contains("\(bad)") && message.contains("262144"), message)
            }
            XCTAssertThrowsError(try tokenizer.piece(bad)) { error in
                XCTAssertEqual(error as? TokenizerError, .tokenOutOfRange(id: bad, vocabularySize: 262_144))
            }
        }
        var decoder = StreamingDecoder(tokenizer: tokenizer)
        XCTAssertEqual(try decoder.push(try XCTUnwrap(tokenizer.id(of: "<0xF0>"))), "")
        XCTAssertThrowsError(try decoder.push(Int32.max))
        for byte in ["<0x9F>", "<0xA6>"] { XCTAssertEqual(try decoder.push(try XCTUnwrap(tokenizer.id(of: byte))), "") }
        XCTAssertEqual(try decoder.push(try XCTUnwrap(tokenizer.id(of: "<0x99>"))), "🦙")
    }

    func testInvalidVocabulariesThrow() {
        XCTAssertThrowsError(try Vocabulary(tokens: ["a", "b"], scores: [0], types: [1, 1], bos: 0, eos: 1, unk: nil, pad: nil,
                                            addBOS: true, addEOS: false, addSpacePrefix: false)) { error in
            XCTAssertEqual(error as? TokenizerError, .inconsistentVocabulary(tokens: 2, scores: 1, types: 2))
        }
        XCTAssertThrowsError(try Vocabulary(tokens: ["a", "b"], scores: [0, 0], types: [1, 1], bos: 2, eos: 1, unk: nil, pad: nil,
                                            addBOS: true, addEOS: false, addSpacePrefix: false)) { error in
            XCTAssertEqual(error as? TokenizerError, .specialTokenOutOfRange(name: "bos", id: 2, vocabularySize: 2))
            XCTAssertTrue("\(error)".contains("bos"))
        }
        XCTAssertThrowsError(try Vocabulary(tokens: [], scores: [], types: [], bos: 0, eos: 0, unk: nil, pad: nil,
                                            addBOS: true, addEOS: false, addSpacePrefix: false))
    }

    private func ggufBytes(model: String?, tokens: [String]) -> [UInt8] {
        var writer = GGUFWriter()
        if let model { writer.set(GGUFKeys.tokenizerModel, .string(model)) }
        writer.set(GGUFKeys.tokenizerTokens, .array(.string, tokens.map { .string($0) }))
        writer.set(GGUFKeys.tokenizerScores, .array(.float32, tokens.indices.map { .float32(-Float($0)) }))
        writer.set(GGUFKeys.tokenizerTokenType, .array(.int32, tokens.map { .int32($0.hasPrefix("<") ? 3 : 1) }))
        writer.set(GGUFKeys.tokenizerBOS, .uint32(1))
        writer.set(GGUFKeys.tokenizerEOS, .uint32(2))
        writer.set(GGUFKeys.tokenizerAddSpacePrefix, .bool(false))
        return writer.bytes(data: { _ in [] })
    }

    func testGGUFModelMustBeLlama() throws {
        let tokens = ["<unk>", "<s>", "</s>", "a", "b", "ab"]
        XCTAssertThrowsError(try Tokenizer(gguf: GGUFFile(bytes: ggufBytes(model: "gpt2", tokens: tokens)))) { error in
            XCTAssertEqual(error as? TokenizerError, .unsupportedModel(found: "gpt2"))
            XCTAssertTrue("\(error)".contains("gpt2"))
        }
        XCTAssertThrowsError(try Tokenizer(gguf: GGUFFile(bytes: ggufBytes(model: nil, tokens: tokens)))) { error in
            guard case .unsupportedModel? = error as? TokenizerError else { return XCTFail("\(error)") }
        }
        let tokenizer = try Tokenizer(gguf: GGUFFile(bytes: ggufBytes(model: "llama", tokens: tokens)))
        XCTAssertEqual(tokenizer.count, 6)
        XCTAssertEqual(tokenizer.bos, 1)
        XCTAssertEqual(tokenizer.encode("abab"), [1, 5, 5])
    }
}
