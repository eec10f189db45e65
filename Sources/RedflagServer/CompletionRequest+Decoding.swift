import Foundation
import RedflagFlag

extension CompletionRequest {
    /// Fields accepted by both endpoints (OpenAI's, then ours).
    static let commonFields: Set<String> = [
        "model", "max_tokens", "temperature", "top_p", "n", "stream", "stream_options", "stop", "seed",
        "presence_penalty", "frequency_penalty", "user", "logprobs",
        "top_k", "min_p", "repetition_penalty", "redflag",
    ]
    static let completionFields: Set<String> = commonFields.union(["prompt"])
    static let chatFields: Set<String> = commonFields.union(["messages", "max_completion_tokens"])

    /// Nesting depth JSON may have (requests need 4).
    public static let maxJSONDepth = 32

    /// Decodes and validates a request body for `endpoint`. Total: any bytes give a request or an
    /// `OpenAIRequestError` naming the field (never a trap).
    public static func decode(_ data: Data, endpoint: Endpoint) throws -> CompletionRequest {
        try checkDepth(data)
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data, options: []) } catch {
            throw OpenAIRequestError.invalidJSON(Self.jsonErrorText(error))
        }
        guard let body = object as? [String: Any] else { throw OpenAIRequestError.notAnObject }
        let allowed = endpoint == .chat ? chatFields : completionFields
        if let unknown = body.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw OpenAIRequestError.unknownField(unknown)
        }
        let f = Fields(body)

        let input: Input
        switch endpoint {
        case .completion:
            guard let p = body["prompt"], !(p is NSNull) else { throw OpenAIRequestError.missingField("prompt") }
            if let s = p as? String { input = .prompt(s) }
            else if let a = p as? [Any] {
                guard a.count == 1, let s = a[0] as? String else {
                    throw OpenAIRequestError.invalidValue(field: "prompt", value: "(an array of \(a.count) items)",
                                                          expected: "a string or an array of exactly one string")
                }
                input = .prompt(s)
            } else { throw OpenAIRequestError.wrongType(field: "prompt", expected: "a string or an array of one string") }
        case .chat:
            input = .messages(try decodeMessages(body["messages"]))
        }
        var r = CompletionRequest(endpoint: endpoint, input: input)
        r.model = try f.string("model")
        let maxTokens = try f.int("max_tokens", min: 1)
        let maxCompletion = try f.int("max_completion_tokens", min: 1)
        if let a = maxTokens, let b = maxCompletion, a != b {
            throw OpenAIRequestError.invalidValue(field: "max_completion_tokens", value: "\(b)", expected: "the same value as max_tokens (\(a)) when both are given")
        }
        r.maxTokens = maxCompletion ?? maxTokens
        r.temperature = try f.float("temperature", "a number in [0, 2]") { $0 >= 0 && $0 <= 2 }
        r.topP = try f.float("top_p", "a number in (0, 1]") { $0 > 0 && $0 <= 1 }
        r.topK = try f.int("top_k", min: 0)
        r.minP = try f.float("min_p", "a number in [0, 1)") { $0 >= 0 && $0 < 1 }
        r.repetitionPenalty = try f.float("repetition_penalty", "a number in (0, 10]") { $0 > 0 && $0 <= 10 }
        r.presencePenalty = try f.float("presence_penalty", "a number in [-2, 2]") { $0 >= -2 && $0 <= 2 }.map(Double.init)
        r.frequencyPenalty = try f.float("frequency_penalty", "a number in [-2, 2]") { $0 >= -2 && $0 <= 2 }.map(Double.init)
        if let n = try f.int("n", min: 0), n != 1 {
            throw OpenAIRequestError.invalidValue(field: "n", value: "\(n)", expected: "1 (one choice per request)")
        }
        if let s = try f.int64("seed") { r.seed = UInt64(bitPattern: s) }
        r.stream = try f.bool("stream") ?? false
        r.user = try f.string("user")
        if let lp = body["logprobs"], !(lp is NSNull) {
            let off = (Fields.isBool(lp) && (lp as? Bool) == false) || (!Fields.isBool(lp) && (lp as? Int) == 0)
            guard off else { throw OpenAIRequestError.invalidValue(field: "logprobs", value: "\(lp)", expected: "false or null (log-probabilities are not returned)") }
        }
        r.stop = try decodeStop(body["stop"])
        if let so = body["stream_options"], !(so is NSNull) {
            guard let o = so as? [String: Any] else { throw OpenAIRequestError.wrongType(field: "stream_options", expected: "an object") }
            if let k = o.keys.sorted().first(where: { $0 != "include_usage" }) { throw OpenAIRequestError.unknownField("stream_options.\(k)") }
            r.includeUsage = try Fields(o, prefix: "stream_options.").bool("include_usage") ?? false
        }
        if let g = body["redflag"], !(g is NSNull) {
            guard let o = g as? [String: Any] else {
                throw OpenAIRequestError.wrongType(field: "redflag", expected: "an object such as {\"policy\": \"halt\", \"threshold\": 0.5}")
            }
            if let k = o.keys.sorted().first(where: { $0 != "policy" && $0 != "threshold" }) { throw OpenAIRequestError.unknownField("redflag.\(k)") }
            let gf = Fields(o, prefix: "redflag.")
            var guardOptions = Guard()
            if let p = try gf.string("policy") {
                guard let policy = FlagPolicy(rawValue: p) else {
                    throw OpenAIRequestError.invalidValue(field: "redflag.policy", value: "'\(p)'", expected: "one of halt, reflect, monitor, off")
                }
                guardOptions.policy = policy
            }
            guardOptions.threshold = try gf.float("threshold", "a number in (0, 1]") { $0 > 0 && $0 <= 1 }
            r.redflag = guardOptions
        }
        return r
    }

    static func decodeMessages(_ value: Any?) throws -> [Message] {
        guard let v = value, !(v is NSNull) else { throw OpenAIRequestError.missingField("messages") }
        guard let list = v as? [Any] else { throw OpenAIRequestError.wrongType(field: "messages", expected: "an array of messages") }
        guard !list.isEmpty else { throw OpenAIRequestError.invalidValue(field: "messages", value: "[]", expected: "at least one message") }
        return try list.enumerated().map { i, item in
            let at = "messages[\(i)]"
            guard let m = item as? [String: Any] else { throw OpenAIRequestError.wrongType(field: at, expected: "an object with 'role' and 'content'") }
            if let k = m.keys.sorted().first(where: { !["role", "content", "name"].contains($0) }) {
                throw OpenAIRequestError.unknownField("\(at).\(k)")
            }
            let mf = Fields(m, prefix: at + ".")
            guard let roleText = try mf.string("role") else { throw OpenAIRequestError.missingField("\(at).role") }
            _ = try mf.string("name")
            let role: Role
            switch roleText {
            case "system", "developer": role = .system
            case "user": role = .user
            case "assistant": role = .assistant
            default:
                throw OpenAIRequestError.invalidValue(field: "\(at).role", value: "'\(roleText)'", expected: "system, developer, user or assistant")
            }
            guard let content = m["content"], !(content is NSNull) else { throw OpenAIRequestError.missingField("\(at).content") }
            if let s = content as? String { return Message(role: role, content: s) }
            guard let parts = content as? [Any] else {
                throw OpenAIRequestError.wrongType(field: "\(at).content", expected: "a string or an array of {\"type\": \"text\", \"text\": …} parts")
            }
            var text = ""
            for (j, part) in parts.enumerated() {
                let pat = "\(at).content[\(j)]"
                guard let p = part as? [String: Any] else { throw OpenAIRequestError.wrongType(field: pat, expected: "an object") }
                if let k = p.keys.sorted().first(where: { $0 != "type" && $0 != "text" }) { throw OpenAIRequestError.unknownField("\(pat).\(k)") }
                let pf = Fields(p, prefix: pat + ".")
                guard let type = try pf.string("type") else { throw OpenAIRequestError.missingField("\(pat).type") }
                guard type == "text" else {
                    throw OpenAIRequestError.invalidValue(field: "\(pat).type", value: "'\(type)'", expected: "'text' (only text content is supported)")
                }
                guard let t = try pf.string("text") else { throw OpenAIRequestError.missingField("\(pat).text") }
                text += t
            }
            return Message(role: role, content: text)
        }
    }

    static func decodeStop(_ value: Any?) throws -> [String] {
        guard let v = value, !(v is NSNull) else { return [] }
        let list: [String]
        if let s = v as? String { list = [s] }
        else if let a = v as? [Any] {
            list = try a.enumerated().map { i, x in
                guard let s = x as? String else { throw OpenAIRequestError.wrongType(field: "stop[\(i)]", expected: "a string") }
                return s
            }
        } else { throw OpenAIRequestError.wrongType(field: "stop", expected: "a string or an array of strings") }
        guard list.count <= 4 else { throw OpenAIRequestError.invalidValue(field: "stop", value: "(\(list.count) strings)", expected: "at most 4 stop strings") }
        guard !list.contains("") else { throw OpenAIRequestError.invalidValue(field: "stop", value: "\"\"", expected: "non-empty strings") }
        return list
    }

    /// Rejects nesting deeper than `maxJSONDepth` before JSONSerialization sees the bytes (it has its own,
    /// larger limit; this keeps the bound ours and explicit).
    static func checkDepth(_ data: Data) throws {
        var depth = 0, inString = false, escaped = false
        for b in data {
            if inString {
                if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch b {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                if depth > maxJSONDepth { throw OpenAIRequestError.invalidJSON("nested deeper than \(maxJSONDepth) levels") }
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
            default: break
            }
        }
    }

    static func jsonErrorText(_ error: Error) -> String {
        let ns = error as NSError
        return (ns.userInfo[NSDebugDescriptionErrorKey] as? String) ?? "\(error)"
    }
}

/// Typed access to the fields of one JSON object, with errors that name the field.
struct Fields {
    let object: [String: Any]
    let prefix: String
    init(_ object: [String: Any], prefix: String = "") { self.object = object; self.prefix = prefix }

    /// JSONSerialization gives booleans as a distinct NSNumber subclass; numbers must not be read as booleans
    /// or the other way round.
    static let boolType: AnyObject.Type = type(of: NSNumber(value: true))
    static func isBool(_ v: Any) -> Bool {
        guard let n = v as? NSNumber else { return false }
        return type(of: n) == boolType
    }

    func value(_ key: String) -> Any? {
        guard let v = object[key], !(v is NSNull) else { return nil }
        return v
    }

    func string(_ key: String) throws -> String? {
        guard let v = value(key) else { return nil }
        guard let s = v as? String else { throw OpenAIRequestError.wrongType(field: prefix + key, expected: "a string") }
        return s
    }

    func bool(_ key: String) throws -> Bool? {
        guard let v = value(key) else { return nil }
        guard Fields.isBool(v), let b = v as? Bool else { throw OpenAIRequestError.wrongType(field: prefix + key, expected: "true or false") }
        return b
    }

    func number(_ key: String) throws -> Double? {
        guard let v = value(key) else { return nil }
        guard !Fields.isBool(v), let n = v as? NSNumber else { throw OpenAIRequestError.wrongType(field: prefix + key, expected: "a number") }
        return n.doubleValue
    }

    func float(_ key: String, _ expected: String, _ valid: (Float) -> Bool) throws -> Float? {
        guard let d = try number(key) else { return nil }
        let f = Float(d)
        guard d.isFinite, f.isFinite, valid(f) else { throw OpenAIRequestError.invalidValue(field: prefix + key, value: "\(d)", expected: expected) }
        return f
    }

    func int64(_ key: String) throws -> Int64? {
        guard let v = value(key) else { return nil }
        guard !Fields.isBool(v), let n = v as? NSNumber else { throw OpenAIRequestError.wrongType(field: prefix + key, expected: "an integer") }
        let d = n.doubleValue
        guard d.isFinite, d.rounded() == d, let i = v as? Int64 ?? (abs(d) < 9e18 ? Int64(d) : nil) else {
            throw OpenAIRequestError.wrongType(field: prefix + key, expected: "an integer")
        }
        return i
    }

    func int(_ key: String, min: Int) throws -> Int? {
        guard let i = try int64(key) else { return nil }
        guard i >= Int64(min), i <= Int64(Int32.max) else {
            throw OpenAIRequestError.invalidValue(field: prefix + key, value: "\(i)", expected: "an integer ≥ \(min)")
        }
        return Int(i)
    }
}
