import Foundation
import RedflagGeneration
import RedflagModel
import RedflagTestSupport
import XCTest

/// `Perplexity.evaluate` on the real Q4_K_M file against llama-perplexity's golden run (same tokens, same chunking).
final class PerplexityGoldenTests: XCTestCase {
    /// Quantized path vs llama.cpp on the same file: the bound, on the perplexity over all scored chunks.
    static let llamaRelativeTolerance = 0.01
    /// The running values after the first chunks rest on few tokens (255 after chunk 1) and move with the BLAS
    /// kernels alone: on one AVX2-only host, OpenBLAS's Zen kernels gave chunk 1 at 1.0178 × llama.cpp and its
    /// Sandybridge kernels (OPENBLAS_CORETYPE=Sandybridge) 1.0080, chunk 8 at 0.9983 and 0.9942. Earlier chunks are
    /// held to this looser bound; the last one to `llamaRelativeTolerance`.
    static let llamaRunningRelativeTolerance = 0.025
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
        let (tokens, n, g) = try TestPaths.goldenPerplexityText()
        let llama = ((g["results"] as! [String: Any])["Q4_K_M"] as! [String: Any])["running_ppl"] as! [Double]
        let model = try Gemma3Model(path: TestPaths.modelPath, format: .quantized, threads: 2)
        let ctx = try InferenceContext(model: model, contextSize: n, maxBatch: n, threads: 2)
        let r = try Perplexity.evaluate(tokens: tokens, bos: 2, chunkSize: n, context: ctx, maxChunks: Self.chunks)
        XCTAssertEqual(r.chunks, Self.chunks)
        XCTAssertEqual(r.scoredTokens, Self.chunks * (n / 2 - 1))
        for (c, (ours, theirs)) in zip(r.running, llama).enumerated() {
            let last = c + 1 == Self.chunks
            XCTAssertEqual(ours / theirs, 1, accuracy: last ? Self.llamaRelativeTolerance : Self.llamaRunningRelativeTolerance,
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
