import Foundation
import RedflagGGUF
import RedflagTokenizer
import XCTest

/// The Gemma 3 tokenizer loaded once from the real model, plus the llama.cpp goldens.
enum TokenizerFixture {
    static let repoRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var modelPath: String {
        ProcessInfo.processInfo.environment["REDFLAG_MODEL"]
            ?? repoRoot.appendingPathComponent("models/gemma-3-270m-q4_k_m.gguf").path
    }

    struct ModelMissing: Error, CustomStringConvertible {
        let path: String
        var description: String { "model missing: run `python3 tools/fetch_model.py` (looked for \(path))" }
    }

    /// Loaded on first use, shared by every test class.
    static let tokenizer: Result<Tokenizer, any Error> = {
        let path = modelPath
        guard FileManager.default.fileExists(atPath: path) else { return .failure(ModelMissing(path: path)) }
        return Result { try Tokenizer(gguf: GGUFFile(path: path)) }
    }()

    struct Golden: Decodable {
        let cases: [Case]
    }

    struct Case: Decodable {
        let name: String
        let text: String
        let ids_bos1_special1: [Int32]
        let ids_bos1_special0: [Int32]
        let ids_bos0_special1: [Int32]
        let ids_bos0_special0: [Int32]
        let pieces_bos0_special1: [String]
        let pieces_bos0_special0: [String]
        let detokenize_bos0_special0: String
    }

    static let goldenCases: Result<[Case], any Error> = Result {
        let url = repoRoot.appendingPathComponent("Tests/Golden/tokenizer.json")
        return try JSONDecoder().decode(Golden.self, from: Data(contentsOf: url)).cases
    }
}

extension XCTestCase {
    /// The shared tokenizer; records a failure (never a skip) when the model is missing.
    func gemmaTokenizer(file: StaticString = #filePath, line: UInt = #line) throws -> Tokenizer {
        do {
            return try TokenizerFixture.tokenizer.get()
        } catch {
            XCTFail("\(error)", file: file, line: line)
            throw error
        }
    }

    func goldenCases(file: StaticString = #filePath, line: UInt = #line) throws -> [TokenizerFixture.Case] {
        let cases = try TokenizerFixture.goldenCases.get()
        XCTAssertFalse(cases.isEmpty, "no golden cases", file: file, line: line)
        return cases
    }
}
