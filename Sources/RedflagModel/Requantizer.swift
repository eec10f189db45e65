import RedflagGGUF
import RedflagKernels

/// Writes a copy of a GGUF model with its matrices re-typed by a `QuantizationRecipe` (and, optionally, a LoRA
/// adapter merged in f32 first, its 4-bit targets stored as `mergePrecision.baked` says). All metadata is kept; the result is a standard GGUF llama.cpp also loads.
public enum Requantizer {
    public struct Summary: Sendable {
        public var tensorsConverted = 0
        public var bytesIn = 0
        public var bytesOut = 0
    }

    /// - Parameter progress: called with (tensor index, tensor count, tensor name) as each tensor is written.
    /// - Parameter outputImportance: per-column weights for the 4-bit output projection's quantization error
    ///   (`OutputCalibration.hiddenMeanSquares`); nil weighs every column alike.
    public static func run(input: GGUFFile, output path: String, recipe: QuantizationRecipe, adapter: LoRAAdapter? = nil,
                           outputImportance: [Float]? = nil, threads: Int = 1,
                           progress: (Int, Int, String) -> Void = { _, _, _ in }) throws -> Summary {
        var writer = GGUFWriter()
        for key in input.metadataKeys where key != GGUFKeys.alignment { writer.set(key, input.metadata[key]!) }
        writer.set(GGUFKeys.fileType, .uint32(recipe.fileType))
        if let a = adapter {
            writer.set(GGUFKeys.redflagTokenID, .uint32(UInt32(a.flagTokenID ?? 6)))
            if let t = a.threshold { writer.set(GGUFKeys.redflagThreshold, .float32(t)) }
        }
        // (source tensor, name written, target type)
        var plan: [(GGUFTensorInfo, String, TensorType)] = []
        for t in input.tensors {
            let unmerged = recipe.target(for: t.name, type: t.type, dims: t.dims) ?? t.type
            // a file holds merged weights: `runtime` (no file form) bakes as int8
            let target = adapter.map { $0.mergedType(of: t.name, unmerged: unmerged, precision: $0.mergePrecision.baked) } ?? unmerged
            if target != t.type || adapter?.touches(t.name) == true {
                guard t.type.isSupported else { throw ModelError.unsupportedTensorType(tensor: t.name, type: t.type) }
            }
            writer.addTensor(name: t.name, dims: t.dims, type: target)
            plan.append((t, t.name, target))
            if t.name == TensorNames.tokenEmbedding, recipe.untiesOutput, input.tensor(TensorNames.output) == nil {
                let outType = recipe.target(for: TensorNames.output, type: t.type, dims: t.dims) ?? t.type
                writer.addTensor(name: TensorNames.output, dims: t.dims, type: outType)
                plan.append((t, TensorNames.output, outType))
            }
        }
        var summary = Summary()
        try writer.write(to: path) { i, sink in
            let (t, name, target) = plan[i]
            progress(i, plan.count, name)
            summary.bytesIn += t.byteCount
            let src = input.bytes(of: t).baseAddress!
            let merge = adapter?.touches(t.name) == true   // the source's adapter (a copied output gets it too)
            if target == t.type && !merge {
                try sink(input.bytes(of: t))
                summary.bytesOut += t.byteCount
                return
            }
            summary.tensorsConverted += 1
            let cols = t.columns, rows = t.rows
            let outRow = (cols / target.blockSize) * target.blockBytes
            // Convert a slab of rows at a time (bounded memory), rows split across threads.
            let slab = max(1, min(rows, (16 << 20) / max(outRow, 1)))
            let buf = UnsafeMutableRawPointer.allocate(byteCount: slab * outRow, alignment: 64)
            defer { buf.deallocate() }
            let floats = UnsafeMutablePointer<Float>.allocate(capacity: max(1, threads) * cols)
            defer { floats.deallocate() }
            let inRow = (cols / t.type.blockSize) * t.type.blockBytes
            let importance = name == TensorNames.output && outputImportance?.count == cols ? outputImportance : nil
            /// 4-bit re-rounding with the error-minimizing search (importance-weighted for the output projection).
            func searched4(_ x: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer) {
                if let imp = importance {
                    imp.withUnsafeBufferPointer { QuantizeSearch.q4_1(from: x, count: cols, into: dst, importance: $0.baseAddress) }
                } else {
                    QuantizeSearch.q4_1(from: x, count: cols, into: dst)
                }
            }
            var r0 = 0
            while r0 < rows {
                let n = min(slab, rows - r0)
                Parallel.indexedChunks(count: n, threads: threads) { chunk, range in
                    let tmp = floats + chunk * cols
                    for r in range {
                        let row = src + (r0 + r) * inRow
                        if merge && adapter!.changes(t.name, row: r0 + r) {
                            Dequantize.row(t.type, from: row, count: cols, into: tmp)
                            adapter!.addDelta(to: tmp, tensor: t.name, row: r0 + r)
                            if target == .f32 {
                                (buf + r * outRow).copyMemory(from: tmp, byteCount: cols * 4)
                            } else if target == .q4_1 {
                                searched4(tmp, buf + r * outRow)
                            } else {
                                Quantize.row(target, from: tmp, count: cols, into: buf + r * outRow)
                            }
                        } else if target == .q4_1 && t.type != .q4_K {
                            // Re-rounding to 4 bits: search for the best scale/offset per block (offline, once).
                            Dequantize.row(t.type, from: row, count: cols, into: tmp)
                            searched4(tmp, buf + r * outRow)
                        } else {
                            BlockConversion.convertRow(from: t.type, row, to: target, buf + r * outRow, count: cols)
                        }
                    }
                }
                try sink(UnsafeRawBufferPointer(start: buf, count: n * outRow))
                r0 += n
            }
            summary.bytesOut += rows * outRow
        }
        return summary
    }
}
