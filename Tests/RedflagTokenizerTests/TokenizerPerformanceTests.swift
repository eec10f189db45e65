import Foundation
import RedflagGGUF
import RedflagTokenizer
import XCTest

/// Reports build time and encode throughput; the bounds are loose enough for debug builds.
final class TokenizerPerformanceTests: XCTestCase {
    func testBuildAndEncodeSpeed() throws {
        let shared = try gemmaTokenizer()
        let clock = ContinuousClock()
        var rebuilt: Tokenizer?
        let build = clock.measure { rebuilt = try? Tokenizer(vocabulary: shared.vocabulary) }
        XCTAssertNotNil(rebuilt)

        var text = ""
        for c in try goldenCases() { text += c.text + "\n" }
        text = String(repeating: text, count: 100)
        var ids: [Int32] = []
        let encode = clock.measure { ids = shared.encode(text) }
        let seconds = Double(encode.components.attoseconds) / 1e18 + Double(encode.components.seconds)
        print("tokenizer build from vocabulary: \(build); encode \(text.utf8.count) bytes -> \(ids.count) tokens in \(encode) (\(Int(Double(ids.count) / seconds)) tokens/s)")
        XCTAssertLessThan(build, .seconds(5))
        XCTAssertLessThan(encode, .seconds(10))
    }
}
