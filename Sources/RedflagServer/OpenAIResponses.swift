import Foundation
import RedflagFlag
import RedflagGeneration

/// OpenAI response objects (as JSON values) for one request: whole responses, stream chunks, usage, and our
/// `redflag` extension field.
struct OpenAIResponses {
    let endpoint: CompletionRequest.Endpoint
    let id: String
    let created: Int
    let model: String

    init(endpoint: CompletionRequest.Endpoint, model: String) {
        self.endpoint = endpoint
        self.model = model
        created = Int(Date().timeIntervalSince1970)
        let suffix = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(24)
        id = (endpoint == .chat ? "chatcmpl-" : "cmpl-") + suffix
    }

    /// OpenAI's `finish_reason` for an engine finish (`cancelled` only reaches here when a stop string ended it).
    static func finishReason(_ r: FinishReason) -> String {
        switch r {
        case .stop, .cancelled: return "stop"
        case .length: return "length"
        case .flagged: return "content_filter"
        }
    }

    /// A probability as a JSON number (null if not finite: JSON has no NaN or infinity).
    static func number(_ x: Float) -> Any { x.isFinite ? Double(x) : NSNull() }

    static func usage(prompt: Int, completion: Int) -> [String: Any] {
        ["prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion]
    }

    static func flagEvent(_ e: FlagEvent) -> [String: Any] {
        ["position": e.position, "response_index": e.responseIndex, "probability": number(e.probability),
         "phase": e.phase.rawValue, "action": e.action.rawValue]
    }

    /// The `redflag` field of a finished response: the guard used, whether and where it fired.
    static func redflagSummary(flag: FlagConfiguration?, events: [FlagEvent], maxProbability: Float) -> [String: Any] {
        var o: [String: Any] = ["flagged": !events.isEmpty, "max_probability": number(maxProbability),
                                "flags": events.map(flagEvent)]
        if let f = flag { o["policy"] = f.policy.rawValue; o["threshold"] = number(f.threshold) } else { o["policy"] = "off" }
        if let first = events.first(where: { $0.action == .halted }) ?? events.first {
            o["position"] = first.position
            o["response_index"] = first.responseIndex
            o["probability"] = number(first.probability)
        }
        return o
    }

    /// A whole (non-streamed) response.
    func complete(text: String, finish: String, usage: [String: Any], redflag: [String: Any]) -> [String: Any] {
        let choice: [String: Any] = endpoint == .chat
            ? ["index": 0, "message": ["role": "assistant", "content": text], "logprobs": NSNull(), "finish_reason": finish]
            : ["index": 0, "text": text, "logprobs": NSNull(), "finish_reason": finish]
        return ["id": id, "object": endpoint == .chat ? "chat.completion" : "text_completion", "created": created, "model": model,
                "choices": [choice], "usage": usage, "redflag": redflag, "system_fingerprint": NSNull()]
    }

    /// One stream chunk; `delta` is the chat delta object or the completion text.
    func chunk(text: String?, role: Bool = false, finish: String? = nil, extra: [String: Any] = [:]) -> [String: Any] {
        var choice: [String: Any] = ["index": 0, "logprobs": NSNull(), "finish_reason": finish ?? NSNull()]
        if endpoint == .chat {
            var delta: [String: Any] = [:]
            if role { delta["role"] = "assistant" }
            if let t = text { delta["content"] = t }
            choice["delta"] = delta
        } else {
            choice["text"] = text ?? ""
        }
        var o: [String: Any] = ["id": id, "object": endpoint == .chat ? "chat.completion.chunk" : "text_completion",
                                "created": created, "model": model, "choices": [choice], "system_fingerprint": NSNull()]
        for (k, v) in extra { o[k] = v }
        return o
    }

    /// The usage chunk of `stream_options.include_usage` (no choices).
    func usageChunk(_ usage: [String: Any]) -> [String: Any] {
        ["id": id, "object": endpoint == .chat ? "chat.completion.chunk" : "text_completion", "created": created, "model": model,
         "choices": [] as [Any], "usage": usage]
    }
}
