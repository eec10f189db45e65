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
    }
}
