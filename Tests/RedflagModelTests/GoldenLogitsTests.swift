import RedflagGGUF
import RedflagKernels
@testable import RedflagModel
import RedflagTestSupport
import XCTest

/// The exact (f32) forward pass against the float64 reference, and the quantized path against llama.cpp.
final class GoldenLogitsTests: XCTestCase {
    /// f32 engine vs exact float64 reference: top-10 logits within this.
    static let exactLogitTolerance: Float = 0.02
    /// Greedy continuations must agree up to the first step whose top1–top2 gap is below this.
    static let greedyGapThreshold: Double = 0.05
    /// Quantized path (int8 activations) vs llama.cpp (also 8-bit activations): loose checks.
    static let looseLogitTolerance: Float = 1.0
    static let looseMinTop10Overlap = 8

    struct Case {
        let name: String
        let ids: [Int32]
        let exactTop10: [(Int, Double)]
        let exactGreedy: [Int]
        let exactGaps: [Double]
        let llamaTop10: [(Int, Double)]
    }

    static func cases() throws -> [Case] {
        let g = try TestPaths.golden("logits")
        let list = g["cases"] as! [[String: Any]]
        return list.map { c in
            let ex = c["exact_reference_f64"] as! [String: Any]
            func top(_ a: Any?) -> [(Int, Double)] {
                (a as! [[String: Any]]).map { ($0["id"] as! Int, ($0["logit"] as! NSNumber).doubleValue) }
            }
            let steps = ex["greedy_steps"] as! [[String: Any]]
            let gaps = steps.map { s -> Double in
                let t5 = s["top5"] as! [[Any]]
                return (t5[0][1] as! NSNumber).doubleValue - (t5[1][1] as! NSNumber).doubleValue
            }
            return Case(name: c["name"] as! String,
                        ids: (c["prompt_token_ids"] as! [Int]).map(Int32.init),
                        exactTop10: top(ex["top10_last_position"]),
                        exactGreedy: ex["greedy_continuation_ids"] as! [Int],
                        exactGaps: gaps,
                        llamaTop10: top(c["top10_last_position"]))
        }
    }

    static func topK(_ logits: UnsafePointer<Float>, _ n: Int, _ k: Int) -> [(Int, Float)] {
        var best: [(Int, Float)] = []
        for i in 0..<n {
            let v = logits[i]
            if best.count < k || v > best[best.count - 1].1 {
                best.append((i, v))
                best.sort { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
                if best.count > k { best.removeLast() }
            }
        }
        return best
    }

    func runGreedy(_ ctx: InferenceContext, _ ids: [Int32], steps: Int) throws -> (top10: [(Int, Float)], greedy: [Int]) {
        let vocab = ctx.model.config.vocabularySize
        let logits = UnsafeMutablePointer<Float>.allocate(capacity: vocab)
        defer { logits.deallocate() }
        ctx.reset()
        try ctx.evaluate(ids)
        ctx.logits(row: 0, into: logits)
        let top10 = Self.topK(logits, vocab, 10)
        var greedy: [Int] = []
        var next = top10[0].0
        for s in 0..<steps {
            greedy.append(next)
            if s == steps - 1 { break }
            try ctx.evaluate([Int32(next)])
            ctx.logits(row: 0, into: logits)
            next = Self.topK(logits, vocab, 1)[0].0
        }
        return (top10, greedy)
    }

    /// `REDFLAG_EMULATED=1` (set by tools/arm64-check.sh, which runs the suite under qemu-user): skip a test that
    /// takes minutes there because qemu emulates float SIMD in software.
    static func skipIfEmulated(_ why: String) throws {
        if ProcessInfo.processInfo.environment["REDFLAG_EMULATED"] == "1" { throw XCTSkip("REDFLAG_EMULATED=1: \(why)") }
    }

    func testExactPathMatchesFloat64Reference() throws {
        try Self.skipIfEmulated("≈ 11 min under qemu-user (24 s native); tools/arm64-check.sh compares the exact path's greedy continuation with x86 instead")
        guard TestPaths.modelExists else { return XCTFail(TestPaths.modelMissingMessage) }
        let model = try Gemma3Model(path: TestPaths.modelPath, format: .exact, threads: 2)
        let ctx = try InferenceContext(model: model, contextSize: 512, maxBatch: 64, threads: 2)
        for c in try Self.cases() {
            let (top10, greedy) = try runGreedy(ctx, c.ids, steps: c.exactGreedy.count)
            XCTAssertEqual(top10.map(\.0), c.exactTop10.map(\.0), "\(c.name): top-10 ids")
            for ((id, v), (eid, ev)) in zip(top10, c.exactTop10) where id == eid {
                XCTAssertEqual(Double(v), ev, accuracy: Double(Self.exactLogitTolerance), "\(c.name): logit of \(id)")
            }
            // Compare the continuation up to the first near-tie of the reference.
            let stable = c.exactGaps.firstIndex { $0 < Self.greedyGapThreshold } ?? c.exactGreedy.count
            XCTAssertEqual(Array(greedy.prefix(stable + 1)), Array(c.exactGreedy.prefix(stable + 1)),
                           "\(c.name): greedy continuation (compared through step \(stable))")
        }
    }

    func testQuantizedPathMatchesLlamaCppLoosely() throws {
        try Self.skipIfEmulated("≈ 4 min under qemu-user (1.6 s native); tools/arm64-check.sh requires the quantized path's greedy continuations of these prompts to equal x86's instead")
        guard TestPaths.modelExists else { return XCTFail(TestPaths.modelMissingMessage) }
        let model = try Gemma3Model(path: TestPaths.modelPath, format: .quantized, threads: 2)
        let ctx = try InferenceContext(model: model, contextSize: 512, maxBatch: 64, threads: 2)
        for c in try Self.cases() {
            let (top10, _) = try runGreedy(ctx, c.ids, steps: 1)
            XCTAssertEqual(top10[0].0, c.llamaTop10[0].0, "\(c.name): top-1")
            let overlap = Set(top10.map(\.0)).intersection(c.llamaTop10.map(\.0)).count
            XCTAssertGreaterThanOrEqual(overlap, Self.looseMinTop10Overlap, "\(c.name): top-10 overlap with llama.cpp")
            let mine = Dictionary(uniqueKeysWithValues: top10.map { ($0.0, $0.1) })
            for (id, v) in c.llamaTop10 { if let m = mine[id] {
                XCTAssertEqual(Double(m), v, accuracy: Double(Self.looseLogitTolerance), "\(c.name): logit of \(id) vs llama.cpp")
            } }
        }
    }
}
