import RedflagKernels
@testable import RedflagModel
import RedflagTestSupport
import XCTest

/// `InferenceContext.threads` can be raised after construction: the products' scratch grows with it.
final class InferenceContextThreadsTests: XCTestCase {
    func testRaisingThreadsGrowsTheScratchAndKeepsResults() throws {
        var spec = TinyModel.Spec()
        spec.layerType = .q8_0
        let model = try Gemma3Model(gguf: try TinyModel.gguf(spec), format: .quantized)
        let prompt: [Int32] = [TinyModel.bosID] + (0..<11).map { TinyModel.firstNormalID + Int32($0 % 20) }

        func run(_ ctx: InferenceContext) throws -> [Float] {
            try ctx.evaluate(prompt, outputs: .all)          // a batch: the batched products and their scratch
            try ctx.evaluate(token: TinyModel.firstNormalID)  // one token: the GEMV path
            return Array(UnsafeBufferPointer(start: ctx.hidden, count: model.config.hiddenSize))
        }
        let grown = try InferenceContext(model: model, contextSize: 64, threads: 1)
        let small = grown.matScratchCount
        grown.threads = 64   // past the point where QuantizedGEMM's per-thread tiles outgrow the f32 tiles (≈ 57)
        XCTAssertGreaterThanOrEqual(grown.matScratchCount, InferenceContext.scratchCount(config: model.config, threads: 64))
        XCTAssertGreaterThan(grown.matScratchCount, small)
        let built = try InferenceContext(model: model, contextSize: 64, threads: 64)
        XCTAssertEqual(try run(grown), try run(built))
        grown.threads = 0
        XCTAssertEqual(grown.threads, 1, "clamped to one thread")
    }
}
