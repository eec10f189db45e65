import RedflagGGUF
import RedflagModel
import RedflagTestSupport
import XCTest

/// Resource limits refused before anything is allocated, with the numbers in the message. (The prompt-length and
/// max-tokens limits are in GeneratorFlagTests; the CLI's in CLITests; tensor sizes past the end of the file in
/// GGUFHostileInputTests.)
final class LimitsTests: XCTestCase {
    static func model() throws -> Gemma3Model {
        try Gemma3Model(gguf: try GGUFFile(bytes: TinyModel.bytes(TinyModel.Spec())), format: .exact)
    }

    func testMemoryBudgetRefusesTheContextBeforeAllocating() throws {
        let m = try Self.model()
        let c = m.config
        let kv = KVCache.bytesNeeded(layerCount: c.layerCount, contextSize: 32768, kvDim: c.kvDim)
        XCTAssertEqual(kv, 2 * 6 * 32768 * 32 * 4, "the tiny model's KV cache at 32k: 48 MiB")
        XCTAssertThrowsError(try InferenceContext(model: m, contextSize: 32768, memoryBudget: 1 << 20)) { e in
            guard case let .memoryBudgetExceeded(needed, budget, _)? = e as? ModelError else { return XCTFail("\(e)") }
            XCTAssertEqual(budget, 1 << 20)
            XCTAssertGreaterThanOrEqual(needed, kv, "the estimate covers at least the KV cache")
            XCTAssertEqual("\(e)", "a context of 32768 tokens (KV cache and buffers) needs \(needed >> 20) MiB, more than the memory budget of 1 MiB")
        }
        // The same context fits a budget of what it said it needs.
        let needed: Int
        do { _ = try InferenceContext(model: m, contextSize: 32768, memoryBudget: 1 << 20); return XCTFail("no error") } catch let ModelError.memoryBudgetExceeded(n, _, _) { needed = n }
        XCTAssertNoThrow(try InferenceContext(model: m, contextSize: 32768, memoryBudget: needed))
    }

    func testContextBeyondTheTrainedLengthOrBelowOne() throws {
        let m = try Self.model()
        XCTAssertThrowsError(try InferenceContext(model: m, contextSize: 32769)) { e in
            XCTAssertEqual("\(e)", "context size 32769 is larger than the model's maximum 32768")
        }
        XCTAssertThrowsError(try InferenceContext(model: m, contextSize: 0)) { e in
            XCTAssertEqual("\(e)", "invalid model configuration: context size 0 must be at least 1")
        }
    }
}
