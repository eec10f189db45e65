/// Every GGUF metadata key string the engine reads or writes. No other file spells a key.
public enum GGUFKeys {
    public static let alignment = "general.alignment"
    public static let architecture = "general.architecture"
    public static let name = "general.name"
    public static let fileType = "general.file_type"
    public static let type = "general.type"
    public static let quantizationVersion = "general.quantization_version"

    public static let tokenizerModel = "tokenizer.ggml.model"
    public static let tokenizerTokens = "tokenizer.ggml.tokens"
    public static let tokenizerScores = "tokenizer.ggml.scores"
    public static let tokenizerTokenType = "tokenizer.ggml.token_type"
    public static let tokenizerBOS = "tokenizer.ggml.bos_token_id"
    public static let tokenizerEOS = "tokenizer.ggml.eos_token_id"
    public static let tokenizerUnknown = "tokenizer.ggml.unknown_token_id"
    public static let tokenizerPadding = "tokenizer.ggml.padding_token_id"
    public static let tokenizerAddBOS = "tokenizer.ggml.add_bos_token"
    public static let tokenizerAddEOS = "tokenizer.ggml.add_eos_token"
    public static let tokenizerAddSpacePrefix = "tokenizer.ggml.add_space_prefix"
    public static let chatTemplate = "tokenizer.chat_template"

    /// Keys under the architecture prefix (`gemma3.` for Gemma 3): `"\(arch).\(suffix)"`.
    public enum Architecture {
        public static let contextLength = "context_length"
        public static let embeddingLength = "embedding_length"
        public static let blockCount = "block_count"
        public static let feedForwardLength = "feed_forward_length"
        public static let headCount = "attention.head_count"
        public static let headCountKV = "attention.head_count_kv"
        public static let keyLength = "attention.key_length"
        public static let valueLength = "attention.value_length"
        public static let rmsEpsilon = "attention.layer_norm_rms_epsilon"
        public static let slidingWindow = "attention.sliding_window"
        public static let ropeFreqBase = "rope.freq_base"
        public static let ropeScalingFactor = "rope.scaling.factor"
    }

    /// The red-flag configuration a model or adapter carries.
    public static let redflagTokenID = "redflag.token_id"
    public static let redflagThreshold = "redflag.threshold"

    /// LoRA adapter files (llama.cpp's adapter layout).
    public static let adapterType = "adapter.type"
    public static let adapterLoraAlpha = "adapter.lora.alpha"
}
