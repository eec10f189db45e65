import RedflagKernels
@testable import RedflagModel
import RedflagTestSupport
import XCTest

/// The decode step's attention (`decodeAttention`: heads over threads, plain SIMD loops) against the batched path
/// (`sgemm` per head) on the same positions, f32 weights so only the attention code differs.
final class DecodeAttentionTests: XCTestCase {
    /// Largest |difference| of final hidden states between the two paths (they sum in different orders).
    static let tolerance: Float = 2e-4

    func testOneTokenStepsMatchTheBatchedPass() throws {
        let spec = TinyModel.Spec()   // sliding window 16: 40 positions cross it on the local layers
        let model = try Gemma3Model(gguf: try TinyModel.gguf(spec), format: .exact)
        let d = model.config.hiddenSize
        let tokens: [Int32] = [TinyModel.bosID] + (0..<39).map { TinyModel.firstNormalID + Int32(($0 * 7) % 30) }
        for threads in [1, 2, 3] {
            let batched = try InferenceContext(model: model, contextSize: 64, threads: threads)
            try batched.evaluate(tokens, outputs: .all)
            let stepped = try InferenceContext(model: model, contextSize: 64, threads: threads)
            try stepped.evaluate([tokens[0]])
            var worst: Float = 0
            for (i, t) in tokens.enumerated().dropFirst() {
                try stepped.evaluate(token: t)
                for j in 0..<d { worst = max(worst, abs(stepped.hidden[j] - batched.hidden[i * d + j])) }
            }
            XCTAssertLessThan(worst, Self.tolerance, "\(threads) threads")
            let norm = (0..<d).map { abs(batched.hidden[39 * d + $0]) }.max()!
            XCTAssertGreaterThan(norm, 0.1, "hidden states are not trivially zero")
        }
    }
}
