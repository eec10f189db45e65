import RedflagGGUF

/// Hyperparameters of a Gemma 3 model, read from GGUF metadata (`gemma3.*`).
public struct Gemma3Config: Sendable, Equatable {
    public var vocabularySize: Int
    public var hiddenSize: Int
    public var layerCount: Int
    public var feedForwardSize: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDim: Int
    public var rmsEpsilon: Float
    /// RoPE base of the global-attention layers.
    public var ropeBaseGlobal: Double
    /// RoPE base of the sliding-window layers (Gemma 3: 10,000; not stored in GGUF).
    public var ropeBaseLocal: Double
    public var slidingWindow: Int
    /// One global layer every `slidingWindowPattern` layers (Gemma 3: 6 → layers 5, 11, 17 are global).
    public var slidingWindowPattern: Int
    /// Context length the model was trained for (upper bound for `--ctx`).
    public var trainedContextLength: Int

    public var queryDim: Int { headCount * headDim }
    public var kvDim: Int { kvHeadCount * headDim }
    /// Queries are scaled by 1/√headDim (Gemma 3's query_pre_attn_scalar equals head_dim for these sizes).
    public var queryScale: Float { 1 / Float(headDim).squareRoot() }
    /// Token embeddings are scaled by √hiddenSize.
    public var embeddingScale: Float { Float(hiddenSize).squareRoot() }

    /// Whether `layer` uses sliding-window attention (local) rather than global attention.
    public func isLocal(layer: Int) -> Bool { layer % slidingWindowPattern < slidingWindowPattern - 1 }

    public init(vocabularySize: Int, hiddenSize: Int, layerCount: Int, feedForwardSize: Int, headCount: Int,
                kvHeadCount: Int, headDim: Int, rmsEpsilon: Float = 1e-6, ropeBaseGlobal: Double = 1_000_000,
                ropeBaseLocal: Double = 10_000, slidingWindow: Int = 512, slidingWindowPattern: Int = 6,
                trainedContextLength: Int = 32768) {
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        self.layerCount = layerCount
        self.feedForwardSize = feedForwardSize
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.headDim = headDim
        self.rmsEpsilon = rmsEpsilon
        self.ropeBaseGlobal = ropeBaseGlobal
        self.ropeBaseLocal = ropeBaseLocal
        self.slidingWindow = slidingWindow
        self.slidingWindowPattern = slidingWindowPattern
        self.trainedContextLength = trainedContextLength
    }

    /// Reads the configuration from a GGUF file's metadata.
    public init(gguf: GGUFFile) throws {
        let arch = gguf.string(GGUFKeys.architecture) ?? "<none>"
        guard arch == "gemma3" else { throw ModelError.unsupportedArchitecture(found: arch) }
        typealias K = GGUFKeys.Architecture
        func key(_ k: String) -> String { "\(arch).\(k)" }
        let embd = try gguf.requireTensor("token_embd.weight")
        let heads = try gguf.requireInt(key(K.headCount))
        let headDim = try gguf.requireInt(key(K.keyLength))
        self.init(
            vocabularySize: embd.rows,
            hiddenSize: try gguf.requireInt(key(K.embeddingLength)),
            layerCount: try gguf.requireInt(key(K.blockCount)),
            feedForwardSize: try gguf.requireInt(key(K.feedForwardLength)),
            headCount: heads,
            kvHeadCount: gguf.int(key(K.headCountKV)) ?? heads,
            headDim: headDim,
            rmsEpsilon: Float(gguf.double(key(K.rmsEpsilon)) ?? 1e-6),
            ropeBaseGlobal: gguf.double(key(K.ropeFreqBase)) ?? 1_000_000,
            slidingWindow: gguf.int(key(K.slidingWindow)) ?? 512,
            trainedContextLength: gguf.int(key(K.contextLength)) ?? 32768)
        try validate()
    }

    /// Rejects configurations the forward pass cannot run.
    public func validate() throws {
        func need(_ ok: Bool, _ msg: String) throws { if !ok { throw ModelError.invalidConfig(msg) } }
        try need(hiddenSize > 0 && hiddenSize % 32 == 0, "hidden size \(hiddenSize) must be a positive multiple of 32")
        try need(layerCount > 0 && layerCount <= 1024, "layer count \(layerCount) must be in 1...1024")
        try need(feedForwardSize > 0 && feedForwardSize % 32 == 0, "feed-forward size \(feedForwardSize) must be a positive multiple of 32")
        try need(headCount > 0 && kvHeadCount > 0 && headCount % kvHeadCount == 0,
                 "head count \(headCount) must be a positive multiple of the KV head count \(kvHeadCount)")
        try need(headDim > 0 && headDim % 32 == 0, "head dim \(headDim) must be a positive multiple of 32")
        try need(vocabularySize > 0, "vocabulary is empty")
        try need(slidingWindow > 0 && slidingWindowPattern > 0, "sliding window \(slidingWindow) and pattern \(slidingWindowPattern) must be positive")
        try need(rmsEpsilon > 0 && rmsEpsilon.isFinite, "rms epsilon \(rmsEpsilon) must be positive")
    }
}
