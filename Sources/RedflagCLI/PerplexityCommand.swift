import ArgumentParser
import Foundation
import RedflagGeneration
import RedflagModel

/// `redflag perplexity`: llama-perplexity-compatible perplexity of a text file.
struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "perplexity",
        abstract: "Perplexity of a text file with llama-perplexity's chunking (-c N: chunks of N tokens, second half scored).")

    @OptionGroup var modelOptions: ModelOptions
    @Option(name: [.customShort("f"), .customLong("file")], help: "Text file.")
    var file: String
    @Option(name: [.customShort("c"), .customLong("chunk")], help: "Chunk size in tokens (llama-perplexity's -c).")
    var chunk: Int = 256
    @Option(name: .customLong("chunks"), help: "Only the first N chunks.")
    var maxChunks: Int?
    @Option(name: .customLong("exclude-token"),
            help: "Score under the distribution renormalized without this token id (e.g. 6, <rf>, which is never emitted as text).")
    var excludeToken: Int32?
    @Flag(name: .customLong("json"), help: "Print the result as JSON.")
    var json = false

    struct Output: Encodable {
        let perplexity: Double; let chunks: Int; let scored_tokens: Int; let chunk_size: Int; let model: String; let format: String
        let excluded_token: Int32?
    }

    func validate() throws {
        guard chunk >= 4 && chunk <= 32768 else { throw ValidationError("--chunk '\(chunk)': expected 4...32768") }
        if let m = maxChunks, m < 1 { throw ValidationError("--chunks '\(m)': expected ≥ 1") }
        if let e = excludeToken, e < 0 { throw ValidationError("--exclude-token '\(e)': expected a token id ≥ 0") }
    }

    func run() throws {
        guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("cannot read text file '\(file)'") }
        var text = String(decoding: data, as: UTF8.self)
        if text.hasSuffix("\n") { text.removeLast() }      // llama-perplexity strips one trailing newline
        let g = try modelOptions.openFile()
        let tok = try modelOptions.loadTokenizer(g)
        let model = try modelOptions.loadModel(g)
        let ctx: InferenceContext
        do { ctx = try InferenceContext(model: model, contextSize: chunk, maxBatch: chunk, threads: modelOptions.threads) } catch {
            throw CLIError("\(error)")
        }
        let tokens = tok.encode(text, addBOS: true)
        guard tokens.count >= 2 * chunk else {
            throw CLIError("the text has \(tokens.count) tokens; at least \(2 * chunk) are needed for chunks of \(chunk)")
        }
        if let e = excludeToken, Int(e) >= model.config.vocabularySize {
            throw CLIError("--exclude-token \(e): the model's vocabulary has \(model.config.vocabularySize) tokens")
        }
        let r = try Perplexity.evaluate(tokens: tokens, bos: tok.bos, chunkSize: chunk, context: ctx, maxChunks: maxChunks,
                                        excluding: excludeToken) { c, n, ppl in
            if !json { printError(String(format: "[%d/%d] %.4f", c, n, ppl)) }
        }
        if json {
            try printJSON(Output(perplexity: r.perplexity, chunks: r.chunks, scored_tokens: r.scoredTokens, chunk_size: chunk,
                                 model: modelOptions.modelPath, format: modelOptions.format, excluded_token: excludeToken))
        } else {
            print(String(format: "perplexity %.4f over %d chunks of %d tokens (%d scored tokens)", r.perplexity, r.chunks, chunk, r.scoredTokens)
                  + (excludeToken.map { ", token \($0) excluded" } ?? ""))
        }
    }
}
