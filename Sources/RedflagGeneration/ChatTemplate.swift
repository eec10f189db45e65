import RedflagTokenizer

/// Gemma's turn format, built from token ids so that user text can never become a turn marker:
/// `<bos><start_of_turn>user\n{text}<end_of_turn>\n<start_of_turn>model\n{answer}<end_of_turn>\n…`.
/// A system prompt is folded into the first user turn (Gemma has no system role).
public struct ChatTemplate: Sendable {
    public enum Role: String, Sendable { case system, user, model }
    public struct Message: Sendable, Equatable {
        public var role: Role
        public var text: String
        public init(role: Role, text: String) { self.role = role; self.text = text }
    }

    public let tokenizer: Tokenizer
    let startOfTurn: Int32
    let endOfTurn: Int32
    /// The id that closes a turn.
    public var endOfTurnID: Int32 { endOfTurn }

    public init(tokenizer: Tokenizer) throws {
        guard let s = tokenizer.id(of: "<start_of_turn>"), let e = tokenizer.id(of: "<end_of_turn>") else {
            throw GenerationError.invalidOption(name: "chat template", value: "this model",
                                                expected: "a vocabulary with <start_of_turn> and <end_of_turn>")
        }
        self.tokenizer = tokenizer
        startOfTurn = s
        endOfTurn = e
    }

    /// Token ids of a conversation, ending with an open model turn when `openModelTurn` is set.
    public func render(_ messages: [Message], openModelTurn: Bool = true, addBOS: Bool = true) -> [Int32] {
        var ids: [Int32] = addBOS && tokenizer.addBOS ? [tokenizer.bos] : []
        var pendingSystem: String?
        for m in messages {
            switch m.role {
            case .system:
                pendingSystem = (pendingSystem.map { $0 + "\n\n" } ?? "") + m.text
            case .user, .model:
                var text = m.text
                if m.role == .user, let s = pendingSystem {
                    text = s + "\n\n" + text
                    pendingSystem = nil
                }
                ids.append(startOfTurn)
                ids += tokenizer.encode(m.role.rawValue + "\n", addBOS: false)
                ids += tokenizer.encode(text, addBOS: false)
                ids.append(endOfTurn)
                ids += tokenizer.encode("\n", addBOS: false)
            }
        }
        if let s = pendingSystem {   // a system prompt with no user turn yet
            ids.append(startOfTurn)
            ids += tokenizer.encode("user\n" + s, addBOS: false)
            ids.append(endOfTurn)
            ids += tokenizer.encode("\n", addBOS: false)
        }
        if openModelTurn {
            ids.append(startOfTurn)
            ids += tokenizer.encode("model\n", addBOS: false)
        }
        return ids
    }

    /// One user turn and an open model turn.
    public func singleTurn(_ text: String, system: String? = nil) -> [Int32] {
        render((system.map { [Message(role: .system, text: $0)] } ?? []) + [Message(role: .user, text: text)])
    }
}
