import Foundation
import RedflagTokenizer

/// Few-shot reflection examples for the `reflect` policy, loaded from an editable text file
/// (`templates/reflection.txt`). The file is trusted engine configuration, so its turn markers are parsed as
/// special tokens and each `<rf>` becomes the flag token; user text is never treated this way.
public struct ReflectionTemplate: Sendable {
    /// The marker written in the file where the flag token goes.
    public static let marker = "<rf>"
    public let text: String

    public init(text: String) { self.text = text }

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw GenerationError.invalidOption(name: "reflection template", value: path, expected: "a readable text file")
        }
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        text = lines.filter { !$0.hasPrefix("#") }.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines) + "\n"
    }

    /// Token ids of the examples (no BOS), with `<rf>` as `flagToken`.
    public func tokens(tokenizer: Tokenizer, flagToken: Int32) -> [Int32] {
        var out: [Int32] = []
        let parts = text.components(separatedBy: Self.marker)
        for (i, part) in parts.enumerated() {
            if i > 0 { out.append(flagToken) }
            out += tokenizer.encode(part, addBOS: false, parseSpecial: true)
        }
        return out
    }

    /// Whether text written after a reflection reads as a refusal (for reporting what reflection did).
    public static func looksLikeRefusal(_ text: String) -> Bool {
        let t = text.lowercased()
        return ["i can't", "i cannot", "i can not", "i won't", "i will not", "i'm not able", "i am not able", "sorry", "should not help", "i should stop"]
            .contains { t.contains($0) }
    }
}
