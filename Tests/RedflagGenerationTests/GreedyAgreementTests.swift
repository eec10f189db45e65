import RedflagGeneration
import RedflagModel
import XCTest

/// `FlagEvaluator.agreement` and `FlagEvaluator.flagTrace`: teacher-forced top-1 agreement and p(<rf>) of a reference
/// model along a given continuation, on the tiny model whose masked greedy continuation is known (`TinyFixture.greedy`).
final class GreedyAgreementTests: XCTestCase {
    func testTheModelAgreesWithItsOwnGreedyAnswerAtEveryPosition() throws {
        for fx in try tinyFixtures() {
            let n = try FlagEvaluator.agreement(reference: try fx.generator(), prompt: fx.prompt, continuation: fx.greedy,
                                            flagToken: fx.flag(.monitor).tokenID)
            XCTAssertEqual(n, fx.greedy.count, "\(fx.format)")
        }
    }

    /// The first k greedy tokens then a token the model would not pick: exactly k positions agree, so position i is
    /// compared with the reference's prediction after `prompt + continuation[..<i]` and nothing else.
    func testAgreementStopsAtTheFirstForeignToken() throws {
        for fx in try tinyFixtures() {
            let ref = try fx.generator()
            for k in [0, 1, 5, fx.greedy.count - 1] {
                let foreign = (0..<Int32(fx.model.config.vocabularySize)).first {
                    $0 != fx.greedy[k] && $0 != fx.flag(.monitor).tokenID && $0 > 2
                }!
                let continuation = Array(fx.greedy[..<k]) + [foreign]
                let n = try FlagEvaluator.agreement(reference: ref, prompt: fx.prompt, continuation: continuation,
                                                    flagToken: fx.flag(.monitor).tokenID)
                XCTAssertEqual(n, k, "\(fx.format), foreign token at \(k)")
            }
            XCTAssertEqual(try FlagEvaluator.agreement(reference: ref, prompt: fx.prompt, continuation: [],
                                                       flagToken: fx.flag(.monitor).tokenID), 0)
        }
    }

    /// Teacher-forced along the model's own monitor-policy answer, the flag trace is generation's own, bit for bit;
    /// along a continuation that leaves the answer at position k, the first k + 1 entries (the prompt and the k shared
    /// tokens) still are and the entry after the foreign token is not.
    func testTeacherForcedFlagTraceIsGenerationsOwn() throws {
        for fx in try tinyFixtures() {
            let gen = try fx.generator()
            let r = try gen.generate(prompt: fx.prompt, options: GenerationOptions(maxTokens: fx.greedy.count, flag: fx.flag(.monitor)))
            XCTAssertEqual(r.tokens, fx.greedy, "\(fx.format)")
            XCTAssertEqual(r.flagTrace.count, r.tokens.count + 1)
            XCTAssertGreaterThan(Set(r.flagTrace).count, 1, "\(fx.format): the trace varies, so equality means something")
            let tokenID = fx.flag(.monitor).tokenID
            let forced = try FlagEvaluator.flagTrace(reference: try fx.generator(), prompt: fx.prompt, continuation: r.tokens, flagToken: tokenID)
            XCTAssertEqual(forced.map(\.bitPattern), r.flagTrace.map(\.bitPattern), "\(fx.format)")

            let k = 3
            let foreign = (0..<Int32(fx.model.config.vocabularySize)).first { $0 != fx.greedy[k] && $0 != tokenID && $0 > 2 }!
            let parted = try FlagEvaluator.flagTrace(reference: gen, prompt: fx.prompt, continuation: Array(fx.greedy[..<k]) + [foreign],
                                                     flagToken: tokenID)
            XCTAssertEqual(parted.count, k + 2)
            XCTAssertEqual(parted[...k].map(\.bitPattern), r.flagTrace[...k].map(\.bitPattern), "\(fx.format)")
            XCTAssertNotEqual(parted[k + 1], r.flagTrace[k + 1], "\(fx.format): the foreign token changes what follows")
        }
    }
}
