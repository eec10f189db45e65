import XCTest
import Foundation
import RedflagGeneration
import RedflagTestSupport
final class ZZDebug: XCTestCase {
    func testZZPrint() throws {
        for fx in try tinyFixtures() {
            print("FX \(fx.format) k=\(fx.trigger) tau=\(fx.threshold) prompt=\(fx.prompt.count)")
            print("FX greedy \(fx.greedy) text=\(try fx.tokenizer.decode(fx.greedy).debugDescription)")
            print("FX p \(fx.probabilities)")
        }
        let fx = try exactFixture()
        let gen = try fx.generator(contextSize: 30064)
        let t0 = Date()
        let r = try gen.generate(prompt: fx.prompt, options: GenerationOptions(maxTokens: 2000, flag: fx.flag(.off)))
        print("FX 2000 tokens in \(Date().timeIntervalSince(t0)) s, reason \(r.stats.finishReason)")
    }
}
