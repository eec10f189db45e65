import Foundation

/// Where tests find the real model and the golden files.
public enum TestPaths {
    /// The repository root (two levels above this file).
    public static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The default model, or `$REDFLAG_MODEL`.
    public static var modelPath: String {
        ProcessInfo.processInfo.environment["REDFLAG_MODEL"]
            ?? repoRoot.appendingPathComponent("models/gemma-3-270m-q4_k_m.gguf").path
    }

    /// Message used when the real model is absent.
    public static let modelMissingMessage = "model missing at \(modelPath): run `python3 tools/fetch_model.py`"

    public static var modelExists: Bool { FileManager.default.fileExists(atPath: modelPath) }

    /// Parsed JSON of `Tests/Golden/NAME.json`.
    public static func golden(_ name: String) throws -> [String: Any] {
        let url = repoRoot.appendingPathComponent("Tests/Golden/\(name).json")
        let data = try Data(contentsOf: url)
        guard let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw NSError(domain: "TestPaths", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(url.path) is not a JSON object"])
        }
        return obj
    }

    /// The token ids and chunk size (`n_ctx`) of llama-perplexity's golden run (`Tests/Golden/perplexity.json`), and
    /// the whole golden object.
    public static func goldenPerplexityText() throws -> (tokens: [Int32], chunkSize: Int, golden: [String: Any]) {
        let g = try golden("perplexity")
        return ((g["token_ids_used"] as! [Int]).map(Int32.init), g["n_ctx"] as! Int, g)
    }

    /// A fresh temporary directory.
    public static func temporaryDirectory() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("redflag-test-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
