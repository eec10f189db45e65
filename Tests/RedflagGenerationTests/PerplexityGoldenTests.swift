import Foundation
import RedflagGeneration
import RedflagModel
import RedflagTestSupport
import XCTest

/// `Perplexity.evaluate` on the real Q4_K_M file against llama-perplexity's golden run (same tokens, same chunking).
final class PerplexityGoldenTests: XCTestCase {
    /// Quantized path vs llama.cpp on the same file: the bound.
    static let llamaRelativeTolerance = 0.01
    /// Chunks scored (of 29): the golden file records llama-perplexity's running value after each chunk.
    static let chunks = 8
    /// Renormalizing without a token the base model never predicts moves the perplexity by less than this (relative).
    static let unusedTokenRelativeEffect = 1e-3
    /// …and without the text's most frequent token by at least this (it is often predicted, rarely the target's rival
    /// only by a little).
    static let commonTokenMinimumEffect = 0.005

    func testQuantizedPathMatchesLlamaPerplexity() throws {
        if ProcessInfo.processInfo.environment["REDFLAG_EMULATED"] == "1" { throw XCTSkip("REDFLAG_EMULATED=1: minutes under qemu-user") }
        guard TestPaths.modelExists else { return XCTFail(TestPaths.modelMissingMessage) }
        let g = try TestPaths.golden("perplexity")
        let tokens = (g["token_ids_used"] as! [Int]).map(Int32.init)
        let n = g["n_ctx"] as! Int
        let llama = ((g["results"] as! [String: Any])["Q4_K_M"] as! [String: Any])["running_ppl"] as! [Double]
        let model = try Gemma3Model(path: TestPaths.modelPath, format: .quantized, threads: 2)
        let ctx = try InferenceContext(model: model, contextSize: n, maxBatch: n, threads: 2)
        let r = try Perplexity.evaluate(tokens: tokens, bos: 2, chunkSize: n, context: ctx, maxChunks: Self.chunks)
        XCTAssertEqual(r.chunks, Self.chunks)
        XCTAssertEqual(r.scoredTokens, Self.chunks * (n / 2 - 1))
        for (c, (ours, theirs)) in zip(r.running, llama).enumerated() {
            XCTAssertEqual(ours / theirs, 1, accuracy: Self.llamaRelativeTolerance,
                           "running perplexity after chunk \(c + 1): \(ours) vs llama.cpp \(theirs)")
        }
        // <unused0> (id 6, the red-flag token of an adapter) has ~0 probability under the base model.
        let excluded = try Perplexity.evaluate(tokens: tokens, bos: 2, chunkSize: n, context: ctx, maxChunks: Self.chunks, excluding: 6)
        XCTAssertLessThanOrEqual(excluded.perplexity, r.perplexity)
        XCTAssertEqual(excluded.perplexity / r.perplexity, 1, accuracy: Self.unusedTokenRelativeEffect)
        // Excluding a token the model does predict often (the text's most frequent one) moves mass to the others.
        var counts: [Int32: Int] = [:]
        for t in tokens { counts[t, default: 0] += 1 }
        let common = counts.max { $0.value < $1.value }!.key
        let withoutCommon = try Perplexity.evaluate(tokens: tokens, bos: 2, chunkSize: n, context: ctx, maxChunks: Self.chunks,
                                                    excluding: common)
        XCTAssertLessThan(withoutCommon.perplexity, r.perplexity * (1 - Self.commonTokenMinimumEffect),
                          "excluding token \(common): \(withoutCommon.perplexity) vs \(r.perplexity)")
    }
}
