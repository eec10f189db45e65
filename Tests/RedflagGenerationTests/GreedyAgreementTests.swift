import RedflagGeneration
import RedflagModel
import XCTest

/// `FlagEvaluator.agreement`: teacher-forced top-1 agreement of a reference model along a given continuation, on
/// the tiny model whose masked greedy continuation is known (`TinyFixture.greedy`).
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
}
