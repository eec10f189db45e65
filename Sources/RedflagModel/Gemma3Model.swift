import RedflagGGUF
import RedflagKernels

/// A loaded Gemma 3 model: configuration and weights. Immutable and shareable; per-conversation state lives
/// in an `InferenceContext`.
public final class Gemma3Model: @unchecked Sendable {
    public let config: Gemma3Config
    public let weights: Gemma3Weights
    public var gguf: GGUFFile { weights.gguf }

    /// Loads the model from an open GGUF file, converting weights into `format`.
    public init(gguf: GGUFFile, format: WeightFormat = .quantized, threads: Int = 1,
                overrides: [String: TensorType] = [:], adapter: LoRAAdapter? = nil) throws {
        config = try Gemma3Config(gguf: gguf)
        weights = try Gemma3Weights(gguf: gguf, config: config, format: format, threads: threads,
                                    overrides: overrides, adapter: adapter)
        self.adapter = adapter
    }

    /// The LoRA adapter merged at load, if any (its flag settings override the model's).
    public let adapter: LoRAAdapter?

    /// Identity of the weights (computed once, on first use; ≈ 0.1 s for the 270M model).
    public private(set) lazy var fingerprint: UInt64 = {
        let value = ModelFingerprint.compute(gguf: gguf, adapterPath: adapter?.path)
        weights.releaseConvertedSourcePages()       // hashing paged the converted sources back in
        return value
    }()

    /// Opens and loads the GGUF file at `path`.
    public convenience init(path: String, format: WeightFormat = .quantized, threads: Int = 1) throws {
        try self.init(gguf: try GGUFFile(path: path), format: format, threads: threads)
    }
}
