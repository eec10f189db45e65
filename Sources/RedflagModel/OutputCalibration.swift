import RedflagKernels

/// Importance of each hidden dimension for the output projection: the mean square of the final-normed hidden
/// state, measured by running the model over calibration text. Used by the converter to weight the 4-bit
/// quantization error of `output.weight` (a dimension the model drives hard matters more).
public enum OutputCalibration {
    public static func hiddenMeanSquares(model: Gemma3Model, tokens: [Int32], bos: Int32, chunk: Int = 256,
                                         maxChunks: Int = 8, threads: Int = 1) throws -> [Float] {
        let d = model.config.hiddenSize
        let ctx = try InferenceContext(model: model, contextSize: chunk, maxBatch: chunk, threads: threads)
        var sums = [Double](repeating: 0, count: d)
        var count = 0
        let chunks = min(maxChunks, tokens.count / chunk)
        for c in 0..<chunks {
            var part = Array(tokens[(c * chunk)..<((c + 1) * chunk)])
            part[0] = bos
            ctx.reset()
            try ctx.evaluate(part, outputs: .all)
            for i in 0..<ctx.hiddenRows {
                let h = ctx.hidden + i * d
                for j in 0..<d { sums[j] += Double(h[j]) * Double(h[j]) }
                count += 1
            }
        }
        guard count > 0 else { return [Float](repeating: 1, count: d) }
        return sums.map { Float($0 / Double(count)) }
    }
}
