import RedflagGeneration
import RedflagModel
import RedflagTestSupport
import XCTest

/// A prompt answered from the KV cache starts from exactly the logits a fresh evaluation gives: the last prompt
/// token always takes the one-token path, so a repeated greedy request (the server reuses the cache of the
/// previous one) cannot answer differently from the first at a near-tie.
final class PrimeDeterminismTests: XCTestCase {
    func testCachedPromptGivesBitIdenticalFirstLogits() throws {
        let prompt: [Int32] = [TinyModel.bosID] + (0..<20).map { TinyModel.firstNormalID + Int32($0 % 7) }
        for format in [WeightFormat.quantized, .exact] {
            let (model, tokenizer) = try TinyFixture.load(TinyModel.Spec(), format: format)
            let context = try InferenceContext(model: model, contextSize: 64)
            let gen = Generator(model: model, tokenizer: tokenizer, context: context)
            XCTAssertEqual(try gen.prime(prompt), prompt.count)
            _ = gen.project()
            let fresh = Array(gen.lastLogits)
            try context.evaluate(token: TinyModel.firstNormalID + 3)   // the answer moves on, as a generation would
            XCTAssertEqual(try gen.prime(prompt), 1, "\(format): only the last prompt token is re-run")
            _ = gen.project()
            let cached = Array(gen.lastLogits)
            XCTAssertEqual(cached.count, fresh.count)
            let worst = zip(cached, fresh).map { abs($0 - $1) }.max() ?? .nan
            XCTAssertEqual(worst, 0, "\(format): first logits from the cache differ from the fresh ones by up to \(worst)")
        }
    }
}
