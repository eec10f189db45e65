import Foundation
import RedflagGGUF
import RedflagKernels
@testable import RedflagModel
import RedflagTestSupport
import XCTest

/// Merging a LoRA adapter at load (`Gemma3Weights`) and when baking a file (`Requantizer`): which tensors change, the
/// type they are stored as (`LoRAMergePrecision`), and how close the merged weights are to the exact f32 merge.
final class LoRAMergeTests: XCTestCase {
    /// Largest error of a Q8_0 re-rounding relative to the block's max |w| (half a step of max/127), plus f16 scale slack.
    static let int8Tolerance: Float = 0.5 / 127 + 2e-3
    /// The same for a 4-bit re-rounding: half a step of range/15 (range ≤ 2·max|w|), plus what `QuantizeSearch`'s
    /// shrunken ranges (down to 0.76×) may clip at the ends.
    static let int4Tolerance: Float = 1.0 / 15 + 0.12 + 2e-3

    static let rank = 2
    static let alpha: Float = 4
    static let adapted = ["blk.0.attn_q.weight", "blk.1.ffn_up.weight"]

    var spec: TinyModel.Spec {
        var s = TinyModel.Spec()
        s.layerType = .q4_1
        s.embeddingType = .q8_0
        return s
    }

    /// A rank-2 adapter for `adapted` plus an `<rf>` row, written to a temporary file.
    func writeAdapter(_ base: GGUFFile) throws -> (path: String, rfRow: [Float]) {
        var w = GGUFWriter()
        w.set(GGUFKeys.type, .string("adapter"))
        w.set(GGUFKeys.adapterType, .string("lora"))
        w.set(GGUFKeys.adapterLoraAlpha, .float32(Self.alpha))
        w.set(GGUFKeys.redflagTokenID, .uint32(6))
        var rng = TestRNG(seed: 11)
        var data: [[Float]] = []
        for name in Self.adapted {
            let t = try XCTUnwrap(base.tensor(name))
            w.addTensor(name: name + ".lora_a", dims: [t.columns, Self.rank], type: .f32)
            data.append((0..<(Self.rank * t.columns)).map { _ in 0.3 * rng.normal() })
            w.addTensor(name: name + ".lora_b", dims: [Self.rank, t.rows], type: .f32)
            data.append((0..<(t.rows * Self.rank)).map { _ in 0.3 * rng.normal() })
        }
        let hidden = spec.hidden
        let rf = (0..<hidden).map { _ in rng.normal() }
        w.addTensor(name: "token_embd.weight" + LoRAAdapter.rfRowSuffix, dims: [hidden], type: .f32)
        data.append(rf)
        let bytes = w.bytes { i in data[i].withUnsafeBytes { Array($0) } }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lora-\(UUID().uuidString).gguf").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return (path, rf)
    }

    /// Row `r` of `m` as floats.
    func row(_ m: WeightMatrix, _ r: Int) -> [Float] {
        var out = [Float](repeating: 0, count: m.columns)
        out.withUnsafeMutableBufferPointer { m.dequantizeRow(r, into: $0.baseAddress!) }
        return out
    }

    /// Every row of tensor `name` of `base` with the adapter's ΔW added in f32: the exact merge.
    func exactMerge(_ base: GGUFFile, _ adapter: LoRAAdapter, _ name: String) throws -> [[Float]] {
        let t = try XCTUnwrap(base.tensor(name))
        let m = WeightMatrix(rows: t.rows, columns: t.columns, type: t.type, data: base.bytes(of: t).baseAddress!)
        return (0..<t.rows).map { r in
            var x = row(m, r)
            x.withUnsafeMutableBufferPointer { adapter.addDelta(to: $0.baseAddress!, tensor: name, row: r) }
            return x
        }
    }

    /// max over rows and 32-blocks of max|merged − exact| / max|exact| in that block.
    func relativeBlockError(_ merged: WeightMatrix, _ exact: [[Float]]) -> Float {
        var worst: Float = 0
        for r in 0..<merged.rows {
            let got = row(merged, r)
            for b in stride(from: 0, to: got.count, by: 32) {
                let scale = exact[r][b..<(b + 32)].map(abs).max()!
                let err = (b..<(b + 32)).map { abs(got[$0] - exact[r][$0]) }.max()!
                worst = max(worst, err / scale)
            }
        }
        return worst
    }

    func layerMatrix(_ w: Gemma3Weights, _ name: String) -> WeightMatrix {
        name == "blk.0.attn_q.weight" ? w.layers[0].q : w.layers[1].up
    }

    /// Final-normed hidden states of every position of `tokens`, `(tokens.count × hidden)`: the batched pass, or one
    /// token at a time (`stepped`).
    func hiddenStates(_ model: Gemma3Model, _ tokens: [Int32], stepped: Bool = false) throws -> [Float] {
        let d = model.config.hiddenSize
        let ctx = try InferenceContext(model: model, contextSize: 64, threads: 2)
        if !stepped {
            try ctx.evaluate(tokens, outputs: .all)
            return Array(UnsafeBufferPointer(start: ctx.hidden, count: tokens.count * d))
        }
        var out: [Float] = []
        for t in tokens {
            try ctx.evaluate(token: t)
            out += UnsafeBufferPointer(start: ctx.hidden, count: d)
        }
        return out
    }

    func maxDifference(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max()! }

    static let tokens: [Int32] = [TinyModel.bosID] + (0..<23).map { TinyModel.firstNormalID + Int32(($0 * 5) % 30) }

    func testRuntimeIsTheDefaultAndKeepsTheFileWeights() throws {
        let base = try TinyModel.gguf(spec)
        let (path, _) = try writeAdapter(base)
        let adapter = try LoRAAdapter(path: path)
        XCTAssertEqual(adapter.mergePrecision, .runtime, "runtime is the default")
        let w = try Gemma3Model(gguf: base, format: .quantized, adapter: adapter).weights
        for name in Self.adapted {
            let m = layerMatrix(w, name), t = try XCTUnwrap(base.tensor(name))
            XCTAssertEqual(m.type, .q4_1, name)
            XCTAssertEqual(m.data, base.bytes(of: t).baseAddress!, "\(name): the file's bytes, no copy")
            let d = try XCTUnwrap(m.lowRank, name)
            XCTAssertEqual([d.rank, d.inputs, d.outputs], [Self.rank, t.columns, t.rows], name)
            // Uᵀ carries the LoRA scale: D·e_c then Uᵀ gives (alpha / r)·B·A column c, the exact merge's ΔW.
            let exact = try exactMerge(base, adapter, name)
            let file = WeightMatrix(rows: t.rows, columns: t.columns, type: t.type, data: base.bytes(of: t).baseAddress!)
            for (r, c) in [(0, 0), (t.rows - 1, t.columns - 1), (3, 17)] {
                let delta = (0..<d.rank).reduce(Float(0)) { $0 + d.upTransposed[$1 * d.outputs + r] * d.down[$1 * d.inputs + c] }
                XCTAssertEqual(row(file, r)[c] + delta, exact[r][c], accuracy: 1e-5, "\(name) [\(r), \(c)]")
            }
        }
        XCTAssertNil(w.layers[0].k.lowRank, "an unadapted matrix has no delta")
        XCTAssertEqual(w.maxLowRank, Self.rank)
        XCTAssertEqual(w.layers[0].q.bytesRead, w.layers[0].q.byteCount + Self.rank * (w.layers[0].q.rows + w.layers[0].q.columns) * 4)
        // The exact format merges in f32 instead (nothing to add beside f32 weights).
        let exact = try Gemma3Model(gguf: base, format: .exact, adapter: adapter).weights
        XCTAssertNil(exact.layers[0].q.lowRank)
        XCTAssertEqual(exact.maxLowRank, 0)
    }

    /// Through the whole forward pass the unmerged delta differs from the exact f32 merge only by what int8 activations
    /// cost the model without an adapter (batched and one-token passes alike); a 4-bit re-rounding of the merged
    /// weights costs more.
    func testRuntimeDeltaMatchesTheExactMergeThroughTheForwardPass() throws {
        let base = try TinyModel.gguf(spec)
        let (path, _) = try writeAdapter(base)
        let runtime = try LoRAAdapter(path: path), int4 = try LoRAAdapter(path: path)
        int4.mergePrecision = .int4
        let exactMerged = try hiddenStates(Gemma3Model(gguf: base, format: .exact, adapter: runtime), Self.tokens)
        let baseExact = try hiddenStates(Gemma3Model(gguf: base, format: .exact), Self.tokens)
        // Both quantized paths: the batched one (x86: int8 activations; aarch64: f32 tiles and sgemm, exact activations)
        // and the one-token decode step (int8 activations everywhere); each error is the worse of the two.
        func both(_ m: Gemma3Model) throws -> ([Float], [Float]) {
            (try hiddenStates(m, Self.tokens), try hiddenStates(m, Self.tokens, stepped: true))
        }
        func error(_ p: ([Float], [Float]), _ ref: [Float]) -> Float { max(maxDifference(p.0, ref), maxDifference(p.1, ref)) }
        let activationError = error(try both(Gemma3Model(gguf: base, format: .quantized)), baseExact)
        let errRuntime = error(try both(Gemma3Model(gguf: base, format: .quantized, adapter: runtime)), exactMerged)
        let errInt4 = error(try both(Gemma3Model(gguf: base, format: .quantized, adapter: int4)), exactMerged)
        let adapterEffect = maxDifference(exactMerged, baseExact)
        print("LoRA runtime: activation error \(activationError), runtime \(errRuntime), int4 merge \(errInt4), adapter effect \(adapterEffect)")
        XCTAssertGreaterThan(activationError, 0, "the decode step's int8 activations differ from f32")
        XCTAssertLessThan(errRuntime, Self.activationErrorFactor * activationError)
        XCTAssertLessThan(errRuntime, errInt4, "no re-rounding beats a 4-bit one")
        XCTAssertGreaterThan(adapterEffect, 10 * errRuntime, "the adapter moves the hidden states well beyond the error")
    }

    /// How much larger the runtime delta's difference from the exact merge may be than the base model's own
    /// int8-activation error (the adapted model's activations differ, so its error does too).
    static let activationErrorFactor: Float = 3

    func testInt8MergeStoresAdaptedMatricesAsQ8_0CloseToTheExactMerge() throws {
        let base = try TinyModel.gguf(spec)
        let (path, rf) = try writeAdapter(base)
        let adapter = try LoRAAdapter(path: path)
        adapter.mergePrecision = .int8
        let model = try Gemma3Model(gguf: base, format: .quantized, adapter: adapter)
        let w = model.weights
        for name in Self.adapted {
            let m = layerMatrix(w, name)
            XCTAssertEqual(m.type, .q8_0, name)
            let err = relativeBlockError(m, try exactMerge(base, adapter, name))
            XCTAssertLessThan(err, Self.int8Tolerance, name)
            XCTAssertGreaterThan(err, 0, "\(name): re-rounded, so not bit-exact")
        }
        // Untouched 4-bit matrices stay in place (the file's bytes, no copy).
        let k = try XCTUnwrap(base.tensor("blk.0.attn_k.weight"))
        XCTAssertEqual(w.layers[0].k.type, .q4_1)
        XCTAssertEqual(w.layers[0].k.data, base.bytes(of: k).baseAddress!)
        // The embedding only gets the <rf> row: its type stays Q8_0, row 6 is the trained row, other rows are the file's.
        XCTAssertEqual(w.tokenEmbedding.type, .q8_0)
        let got = row(w.tokenEmbedding, 6)
        let scale = rf.map(abs).max()!
        for j in 0..<rf.count { XCTAssertEqual(got[j], rf[j], accuracy: Self.int8Tolerance * scale) }
        let e = try XCTUnwrap(base.tensor("token_embd.weight"))
        let fileEmbedding = WeightMatrix(rows: e.rows, columns: e.columns, type: e.type, data: base.bytes(of: e).baseAddress!)
        for r in [0, 5, 7, TinyModel.vocabularySize - 1] {
            XCTAssertEqual(row(w.tokenEmbedding, r), row(fileEmbedding, r), "row \(r)")
        }
    }

    func testInt4MergeKeepsFourBitsWithALargerError() throws {
        let base = try TinyModel.gguf(spec)
        let (path, _) = try writeAdapter(base)
        let adapter = try LoRAAdapter(path: path)
        adapter.mergePrecision = .int4
        let w = try Gemma3Model(gguf: base, format: .quantized, adapter: adapter).weights
        let int8 = try LoRAAdapter(path: path)
        int8.mergePrecision = .int8
        let w8 = try Gemma3Model(gguf: base, format: .quantized, adapter: int8).weights
        for name in Self.adapted {
            let exact = try exactMerge(base, adapter, name)
            let m = layerMatrix(w, name)
            XCTAssertEqual(m.type, .q4_1, name)
            let err4 = relativeBlockError(m, exact), err8 = relativeBlockError(layerMatrix(w8, name), exact)
            XCTAssertLessThan(err4, Self.int4Tolerance, name)
            XCTAssertGreaterThan(err4, 2 * err8, "\(name): 4-bit re-rounding is coarser than 8-bit")
        }
    }

    func testExactFormatMergesInF32() throws {
        let base = try TinyModel.gguf(spec)
        let (path, _) = try writeAdapter(base)
        let adapter = try LoRAAdapter(path: path)
        let w = try Gemma3Model(gguf: base, format: .exact, adapter: adapter).weights
        for name in Self.adapted {
            let m = layerMatrix(w, name)
            XCTAssertEqual(m.type, .f32)
            XCTAssertEqual(relativeBlockError(m, try exactMerge(base, adapter, name)), 0, name)
        }
    }

    /// A model whose output projection was untied from the embedding (`quantize --type mixed`) gets the trained `<rf>`
    /// row in both, at load and when the adapter is baked into the file.
    func testUntiedOutputGetsTheFlagRowAtLoadAndWhenBaked() throws {
        let base = try TinyModel.gguf(spec)
        let (path, rf) = try writeAdapter(base)
        let dir = FileManager.default.temporaryDirectory
        let mixedPath = dir.appendingPathComponent("mixed-\(UUID().uuidString).gguf").path
        let bakedPath = dir.appendingPathComponent("baked-\(UUID().uuidString).gguf").path
        addTeardownBlock {
            try? FileManager.default.removeItem(atPath: mixedPath)
            try? FileManager.default.removeItem(atPath: bakedPath)
        }
        _ = try Requantizer.run(input: base, output: mixedPath, recipe: .mixed)
        let mixed = try GGUFFile(path: mixedPath)
        let outInfo = try XCTUnwrap(mixed.tensor(TensorNames.output))
        XCTAssertEqual(outInfo.type, .q4_1)
        let fileOutput = WeightMatrix(rows: outInfo.rows, columns: outInfo.columns, type: outInfo.type,
                                      data: mixed.bytes(of: outInfo).baseAddress!)
        let scale = rf.map(abs).max()!

        func check(_ w: Gemma3Weights, _ what: String) {
            XCTAssertEqual(w.output.type, .q4_1, what)
            let got = row(w.output, 6)
            for j in 0..<rf.count { XCTAssertEqual(got[j], rf[j], accuracy: Self.int4Tolerance * scale, "\(what) [\(j)]") }
            XCTAssertGreaterThan(zip(got, row(fileOutput, 6)).map { abs($0 - $1) }.max()!, scale / 4,
                                 "\(what): row 6 changed")
            for r in [0, 7, TinyModel.vocabularySize - 1] { XCTAssertEqual(row(w.output, r), row(fileOutput, r), "\(what): row \(r) untouched") }
        }

        let adapter = try LoRAAdapter(path: path)
        check(try Gemma3Model(gguf: mixed, format: .quantized, adapter: adapter).weights, "merged at load")

        _ = try Requantizer.run(input: base, output: bakedPath, recipe: .mixed, adapter: adapter)
        let baked = try GGUFFile(path: bakedPath)
        for name in Self.adapted { XCTAssertEqual(baked.tensor(name)?.type, .q8_0, "baked \(name)") }
        XCTAssertEqual(baked.tensor("blk.0.attn_k.weight")?.type, .q4_1)
        check(try Gemma3Model(gguf: baked, format: .quantized).weights, "baked")
    }

    func testMergedTypeRule() {
        XCTAssertEqual(LoRAMergePrecision.runtime.mergedType(for: .q4_1), .q4_1, "runtime merges nothing")
        XCTAssertEqual(LoRAMergePrecision.runtime.baked, .int8, "a file cannot hold a delta")
        XCTAssertFalse(LoRAMergePrecision.runtime.merges)
        XCTAssertEqual(LoRAMergePrecision.int8.mergedType(for: .q4_1), .q8_0)
        XCTAssertEqual(LoRAMergePrecision.int8.mergedType(for: .q4_0), .q8_0)
        XCTAssertEqual(LoRAMergePrecision.int4.mergedType(for: .q4_0), .q4_1)
        XCTAssertEqual(LoRAMergePrecision.int4.mergedType(for: .q8_0), .q8_0)
        XCTAssertEqual(LoRAMergePrecision.int8.mergedType(for: .f32), .f32)
    }
}
