/// GGUF tensor names of the Gemma 3 architecture (llama.cpp's naming). No other file spells them.
public enum TensorNames {
    public static let tokenEmbedding = "token_embd.weight"
    public static let output = "output.weight"
    public static let outputNorm = "output_norm.weight"

    public static func attnNorm(_ l: Int) -> String { "blk.\(l).attn_norm.weight" }
    public static func attnQ(_ l: Int) -> String { "blk.\(l).attn_q.weight" }
    public static func attnK(_ l: Int) -> String { "blk.\(l).attn_k.weight" }
    public static func attnV(_ l: Int) -> String { "blk.\(l).attn_v.weight" }
    public static func attnQNorm(_ l: Int) -> String { "blk.\(l).attn_q_norm.weight" }
    public static func attnKNorm(_ l: Int) -> String { "blk.\(l).attn_k_norm.weight" }
    public static func attnOutput(_ l: Int) -> String { "blk.\(l).attn_output.weight" }
    public static func postAttentionNorm(_ l: Int) -> String { "blk.\(l).post_attention_norm.weight" }
    public static func ffnNorm(_ l: Int) -> String { "blk.\(l).ffn_norm.weight" }
    public static func ffnGate(_ l: Int) -> String { "blk.\(l).ffn_gate.weight" }
    public static func ffnUp(_ l: Int) -> String { "blk.\(l).ffn_up.weight" }
    public static func ffnDown(_ l: Int) -> String { "blk.\(l).ffn_down.weight" }
    public static func postFFNNorm(_ l: Int) -> String { "blk.\(l).post_ffw_norm.weight" }
}
