import XCTest
import Foundation
import RedflagFlag
import RedflagModel
import RedflagKernels
import RedflagTestSupport
final class ZZTiming: XCTestCase {
    func testZZTiming() throws {
        var t0 = Date()
        let model = try Gemma3Model(path: TestPaths.modelPath, format: .quantized, threads: 2)
        print("ZZ load \(Date().timeIntervalSince(t0)) output type \(model.weights.output.type) embd \(model.gguf.tensor("token_embd.weight")!.type)")
        t0 = Date()
        let ctx = try InferenceContext(model: model, contextSize: 64, threads: 2)
        try ctx.evaluate([2, 818, 5279, 563, 1000, 2000, 3000], outputs: .all)
        print("ZZ eval \(Date().timeIntervalSince(t0))")
        let n = model.config.vocabularySize
        var out = [Float](repeating: 0, count: n)
        let head = FusedLMHead(weights: model.weights.output, flagToken: 6)
        for t in [1, 2, 4] {
            t0 = Date()
            _ = out.withUnsafeMutableBufferPointer { head.project(ctx.hidden, into: $0.baseAddress!, activations: ctx.activations, threads: t) }
            print("ZZ fused \(t) threads \(Date().timeIntervalSince(t0))")
        }
        t0 = Date()
        out.withUnsafeMutableBufferPointer { ctx.logits(row: 0, into: $0.baseAddress!) }
        print("ZZ plain logits \(Date().timeIntervalSince(t0))")
    }
}
