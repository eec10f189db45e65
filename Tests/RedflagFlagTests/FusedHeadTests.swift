import Foundation
import RedflagFlag
import RedflagGGUF
import RedflagKernels
import RedflagModel
import RedflagTestSupport
import XCTest

/// `FusedLMHead.project` (online log-sum-exp inside the GEMV) against the two-pass `referenceReading` over the
/// plain logits, for every weight type the head runs on, thread counts 1…8, row counts that are not multiples
/// of the tile, random and real hidden states.
final class FusedHeadTests: XCTestCase {
    /// Fused p(<rf>) vs the two-pass reference, relative.
    static let probabilityTolerance: Float = 1e-5
    /// Fused log-sum-exp vs the two-pass reference, relative to max(1, |lse|).
    static let logSumExpTolerance: Float = 1e-5
    /// Plain head logits vs a float64 dot product, f32 weights: relative to Σ|w·h|.
    static let f32LogitTolerance = 1e-5
    /// Float slack on top of the int8-activation error bound for quantized weights, relative to Σ|w·h|.
    static let quantizedLogitSlack = 1e-4
    static let threadCounts = Array(1...8)
    static let rowCounts = [1000, 4099]
    static let columns = 128
    static let types: [TensorType] = [.f32, .q8_0, .q4_0, .q4_1]

    /// A random matrix in `type`; the f32 values it dequantizes to are returned too.
    final class Matrix {
        let weights: WeightMatrix
        let storage: UnsafeMutableRawPointer
        /// Dequantized rows (`rows × columns`).
        let values: [Float]

        /// Rows of random scales in 0.05…0.35 (the logits spread over a wide range); `strongRows` get scale 0.5.
        init(rows: Int, columns: Int, type: TensorType, seed: UInt64, strongRows: Set<Int> = []) {
            var rng = TestRNG(seed: seed)
            var src = [Float](repeating: 0, count: rows * columns)
            for r in 0..<rows {
                let scale = strongRows.contains(r) ? 0.5 : 0.05 + 0.3 * rng.unit()
                for c in 0..<columns { src[r * columns + c] = scale * rng.normal() }
            }
            let rowBytes = type.rowBytes(columns)!
            let out = UnsafeMutableRawPointer.allocate(byteCount: rows * rowBytes, alignment: 64)
            src.withUnsafeBufferPointer { s in
                for r in 0..<rows { Quantize.row(type, from: s.baseAddress! + r * columns, count: columns, into: out + r * rowBytes) }
            }
            let w = WeightMatrix(rows: rows, columns: columns, type: type, data: UnsafeRawPointer(out))
            var deq = [Float](repeating: 0, count: rows * columns)
            deq.withUnsafeMutableBufferPointer { d in
                for r in 0..<rows { w.dequantizeRow(r, into: d.baseAddress! + r * columns) }
            }
            storage = out
            weights = w
            values = deq
        }

        init(converting m: WeightMatrix, rows: Int, to type: TensorType) {
            let columns = m.columns
            var deq = [Float](repeating: 0, count: rows * columns)
            deq.withUnsafeMutableBufferPointer { d in
                for r in 0..<rows { m.dequantizeRow(r, into: d.baseAddress! + r * columns) }
            }
            let rowBytes = type.rowBytes(columns)!
            let out = UnsafeMutableRawPointer.allocate(byteCount: rows * rowBytes, alignment: 64)
            deq.withUnsafeBufferPointer { s in
                for r in 0..<rows { Quantize.row(type, from: s.baseAddress! + r * columns, count: columns, into: out + r * rowBytes) }
            }
            let w = WeightMatrix(rows: rows, columns: columns, type: type, data: UnsafeRawPointer(out))
            deq.withUnsafeMutableBufferPointer { d in
                for r in 0..<rows { w.dequantizeRow(r, into: d.baseAddress! + r * columns) }
            }
            storage = out
            weights = w
            values = deq
        }

        deinit { storage.deallocate() }
    }

    struct Run {
        var reading: FlagReading
        var fused: [Float]
        var plain: [Float]
        var reference: FlagReading
    }

    /// One fused and one plain projection of `hidden` with `threads` threads, and the reference over the plain logits.
    func run(_ w: WeightMatrix, _ hidden: [Float], flag: Int32, threads: Int) -> Run {
        let acts = QuantizedActivations(capacity: w.columns)
        let fusedHead = FusedLMHead(weights: w, flagToken: flag)
        let plainHead = FusedLMHead(weights: w, flagToken: nil)
        var fused = [Float](repeating: .nan, count: w.rows)
        var plain = [Float](repeating: .nan, count: w.rows)
        let reading = fused.withUnsafeMutableBufferPointer { fusedHead.project(hidden, into: $0.baseAddress!, activations: acts, threads: threads) }
        let empty = plain.withUnsafeMutableBufferPointer { plainHead.project(hidden, into: $0.baseAddress!, activations: acts, threads: threads) }
        XCTAssertEqual(empty.flagLogit, -.infinity, "no flag token: no flag logit")
        XCTAssertEqual(empty.probability, 0)
        return Run(reading: reading, fused: fused, plain: plain,
                   reference: FusedLMHead.referenceReading(logits: plain, count: w.rows, flagToken: flag))
    }

    /// The fused reading equals the reference; the fused logits equal the plain ones except the masked flag.
    func check(_ r: Run, flag: Int32, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        let f = Int(flag)
        XCTAssertEqual(r.fused[f], -.infinity, "flag logit masked (\(label))", file: file, line: line)
        XCTAssertTrue(r.plain[f].isFinite, label, file: file, line: line)
        XCTAssertEqual(r.reading.flagLogit, r.plain[f], "flag logit (\(label))", file: file, line: line)
        var mismatches = 0
        for i in r.fused.indices where i != f && r.fused[i] != r.plain[i] { mismatches += 1 }
        XCTAssertEqual(mismatches, 0, "fused logits differ from plain ones at \(mismatches) ids (\(label))", file: file, line: line)
        XCTAssertFalse(r.plain.contains { !$0.isFinite }, "every row written (\(label))", file: file, line: line)
        let lse = r.reference.logSumExp
        XCTAssertEqual(r.reading.logSumExp, lse, accuracy: Self.logSumExpTolerance * max(1, abs(lse)), "lse (\(label))", file: file, line: line)
        let p = r.reference.probability
        XCTAssertGreaterThan(p, 0, label, file: file, line: line)
        XCTAssertEqual(r.reading.probability, p, accuracy: Self.probabilityTolerance * p, "p(<rf>) (\(label))", file: file, line: line)
    }

    /// Every plain logit against a float64 dot product of the dequantized row with the hidden state; for quantized
    /// weights within the bound the int8 activation rounding allows (per block, |Δx| ≤ max|x|/254).
    func checkLogits(_ plain: [Float], _ m: Matrix, _ hidden: [Float], _ label: String) {
        let cols = m.weights.columns, quantized = m.weights.type != .f32
        var bad = 0, worst = ""
        for r in 0..<m.weights.rows {
            var exact = 0.0, magnitude = 0.0, bound = 0.0
            for b in 0..<(cols / 32) {
                var amax: Float = 0, wsum = 0.0
                for c in (b * 32)..<(b * 32 + 32) {
                    let w = Double(m.values[r * cols + c]), x = Double(hidden[c])
                    exact += w * x
                    magnitude += abs(w * x)
                    wsum += abs(w)
                    amax = max(amax, abs(hidden[c]))
                }
                bound += Double(amax) / 254 * wsum
            }
            let tol = quantized ? bound * 1.001 + Self.quantizedLogitSlack * magnitude : Self.f32LogitTolerance * magnitude
            if abs(Double(plain[r]) - exact) > tol {
                bad += 1
                if worst.isEmpty { worst = "row \(r): \(plain[r]) vs \(exact) (tolerance \(tol))" }
            }
        }
        XCTAssertEqual(bad, 0, "\(label): \(worst)")
    }

    func randomHidden(_ n: Int, seed: UInt64, scale: Float) -> [Float] {
        var rng = TestRNG(seed: seed)
        return (0..<n).map { _ in scale * rng.normal() }
    }

    // MARK: - random matrices

    func testFusedReadingMatchesTheReferenceOnRandomMatrices() {
        for type in Self.types {
            for rows in Self.rowCounts {
                // The flag in a middle tile and in the ragged last tile.
                let flags = [rows / 2 + 1, rows - 1]
                let m = Matrix(rows: rows, columns: Self.columns, type: type, seed: UInt64(rows) &* 31 &+ UInt64(type.rawValue),
                               strongRows: Set(flags))
                for flag in flags.map(Int32.init) {
                    var hiddens = (0..<2).map { randomHidden(Self.columns, seed: UInt64(flag) &+ UInt64($0) &* 7, scale: 1 + 3 * Float($0)) }
                    // A hidden state along the (strong) flag row: p(<rf>) is large (≈ 0.95 or more).
                    let row = Array(m.values[(Int(flag) * Self.columns)..<(Int(flag) * Self.columns + Self.columns)])
                    let norm = row.reduce(0) { $0 + $1 * $1 }.squareRoot()
                    hiddens.append(row.map { 2 * $0 / norm })
                    for (hi, h) in hiddens.enumerated() {
                        var first: [Float]?
                        for t in Self.threadCounts {
                            let label = "\(type), \(rows) rows, flag \(flag), hidden \(hi), \(t) threads"
                            let r = run(m.weights, h, flag: flag, threads: t)
                            check(r, flag: flag, label)
                            // The logits do not depend on the thread count.
                            if let f = first { XCTAssertEqual(r.plain, f, label) } else {
                                first = r.plain
                                checkLogits(r.plain, m, h, label)
                            }
                            if hi == 2 { XCTAssertGreaterThan(r.reading.probability, 0.5, label) }
                        }
                    }
                }
            }
        }
    }

    func testProbabilityOfADominantFlagLogit() {
        // Hand-made f32 rows: the flag row scores 10 above the 999 others (all 0): p = e¹⁰ / (e¹⁰ + 999).
        let rows = 1000, cols = 32, flag = 517
        var values = [Float](repeating: 0, count: rows * cols)
        values[flag * cols] = 10
        values.withUnsafeBufferPointer { v in
            let w = WeightMatrix(rows: rows, columns: cols, type: .f32, data: UnsafeRawPointer(v.baseAddress!))
            var hidden = [Float](repeating: 0, count: cols)
            hidden[0] = 1
            for t in Self.threadCounts {
                let r = run(w, hidden, flag: Int32(flag), threads: t)
                let e10 = exp(10.0)
                XCTAssertEqual(Double(r.reading.probability), e10 / (e10 + 999), accuracy: 1e-6, "\(t) threads")
                XCTAssertEqual(Double(r.reading.logSumExp), log(e10 + 999), accuracy: 1e-5, "\(t) threads")
                check(r, flag: Int32(flag), "\(t) threads")
            }
        }
    }

    // MARK: - the real model

    /// The real model (quantized weights) and final hidden states of a short prompt.
    static let real: Result<(Gemma3Model, [[Float]]), any Error> = Result {
        let model = try Gemma3Model(path: TestPaths.modelPath, format: .quantized, threads: 2)
        let g = try TestPaths.golden("logits")
        let cases = g["cases"] as! [[String: Any]]
        let ids = (cases[0]["prompt_token_ids"] as! [Int]).map(Int32.init)
        let ctx = try InferenceContext(model: model, contextSize: 64, threads: 2)
        try ctx.evaluate(ids, outputs: .all)
        let d = model.config.hiddenSize
        let rows = (0..<ctx.hiddenRows).map { Array(UnsafeBufferPointer(start: ctx.hidden + $0 * d, count: d)) }
        return (model, rows)
    }

    func realModel() throws -> (Gemma3Model, [[Float]]) {
        struct ModelMissing: Error {}
        guard TestPaths.modelExists else {
            XCTFail(TestPaths.modelMissingMessage)
            throw ModelMissing()
        }
        return try Self.real.get()
    }

    func testFusedReadingMatchesTheReferenceOnTheRealModel() throws {
        // The whole vocabulary once (a full-vocabulary GEMV takes ~20 s in a debug build): the fused head against
        // the model's plain head (`InferenceContext.logits`); every thread count runs on real rows below.
        let (model, _) = try realModel()
        let w = model.weights.output
        let n = model.config.vocabularySize
        XCTAssertEqual(w.rows, n)
        XCTAssertEqual(n % FusedLMHead.tileRows, 0, "262,144 rows: whole tiles (ragged tiles are covered by the slices)")
        let ctx = try InferenceContext(model: model, contextSize: 16, threads: 3)
        try ctx.evaluate([2, 818, 5279, 563])
        var plain = [Float](repeating: .nan, count: n), fused = [Float](repeating: .nan, count: n)
        plain.withUnsafeMutableBufferPointer { ctx.logits(row: 0, into: $0.baseAddress!) }
        let flag: Int32 = 6   // <unused0>
        let head = FusedLMHead(weights: w, flagToken: flag)
        let reading = fused.withUnsafeMutableBufferPointer {
            head.project(ctx.hidden, into: $0.baseAddress!, activations: ctx.activations, threads: ctx.threads)
        }
        check(Run(reading: reading, fused: fused, plain: plain,
                  reference: FusedLMHead.referenceReading(logits: plain, count: n, flagToken: flag)),
              flag: flag, "real \(w.type) head, whole vocabulary")
    }

    func testFusedReadingOnRealRowsInEveryWeightType() throws {
        let (model, hiddens) = try realModel()
        // The first 4099 rows of the real embedding (ragged last tile), re-quantized to each type.
        let rows = 4099
        for type in Self.types {
            let m = Matrix(converting: model.weights.output, rows: rows, to: type)
            // Flag in the first tile with the first position, in the ragged last tile with the last position.
            for (flag, i) in [(Int32(6), 0), (Int32(rows - 1), hiddens.count - 1)] {
                do {
                    let h = hiddens[i]
                    for t in Self.threadCounts {
                        let label = "real rows as \(type), flag \(flag), position \(i), \(t) threads"
                        let r = run(m.weights, h, flag: flag, threads: t)
                        check(r, flag: flag, label)
                        if t == 1 { checkLogits(r.plain, m, h, label) }
                    }
                }
            }
        }
    }
}
