import ArgumentParser
import Foundation
import RedflagFlag
import RedflagGeneration

/// `redflag run`: prompt → streamed text, with the red-flag guard.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate text from a prompt, streaming it, with the red-flag guard.")

    /// Exit status when the flag halted generation.
    static let haltedExitCode: Int32 = 3

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var sampling: SamplingArguments
    @OptionGroup var guardArgs: GuardArguments
    @Option(name: [.customShort("n"), .customLong("n-predict")], help: "Maximum tokens to generate.")
    var maxTokens: Int = 128
    @Flag(name: .customLong("chat"), help: "Wrap the prompt in the model's chat turn format.")
    var chat = false
    @Flag(name: .customLong("parse-special"), help: "Parse special-token text in the prompt (off: user text is plain text).")
    var parseSpecial = false
    @Option(name: .customLong("prefill"), help: "Force this start of the answer (it is scanned for the flag too).")
    var prefill: String?
    @Flag(name: .customLong("show-partial"), help: "On halt, print the text generated before the flag instead of the safe message.")
    var showPartial = false
    @Option(name: .customLong("safe-message"), help: "Text shown instead of a halted answer.")
    var safeMessage = "I can't help with that."
    @Option(name: .customLong("reflect-template"), help: "Few-shot reflection examples for --guard reflect (default: templates/reflection.txt).")
    var reflectTemplate: String?
    @Option(name: .customLong("prompt-cache"), help: "Reuse the longest matching prompt prefix from this session file, and save the prompt's state to it.")
    var promptCache: String?
    @Argument(help: "The prompt.")
    var prompt: String

    func validate() throws {
        guard maxTokens >= 0 && maxTokens <= 1_000_000 else { throw ValidationError("--n-predict '\(maxTokens)': expected 0...1000000") }
    }

    func run() throws {
        let gen = try modelOptions.loadGenerator()
        let tok = gen.tokenizer, ctx = gen.context, model = gen.model
        let flag = try guardArgs.configuration(gguf: model.gguf, tokenizer: tok, adapter: model.adapter)
        var ids: [Int32]
        if chat {
            do { ids = try ChatTemplate(tokenizer: tok).singleTurn(prompt) } catch { throw CLIError("\(error)") }
        } else {
            ids = tok.encode(prompt, parseSpecial: parseSpecial)
        }

        if flag.policy == .reflect {
            let path = reflectTemplate ?? DefaultModel.candidateRoots().map { $0.appendingPathComponent("templates/reflection.txt").path }
                .first { FileManager.default.fileExists(atPath: $0) }
            guard let path else { throw CLIError("--guard reflect needs templates/reflection.txt (or --reflect-template FILE)") }
            let template: ReflectionTemplate
            do { template = try ReflectionTemplate(path: path) } catch { throw CLIError("\(error)") }
            let body = ids.first == tok.bos ? Array(ids.dropFirst()) : ids
            ids = (tok.addBOS ? [tok.bos] : []) + template.tokens(tokenizer: tok, flagToken: flag.tokenID) + body
        }
        var restored = 0
        if let cache = promptCache, FileManager.default.fileExists(atPath: cache) {
            do {
                let t0 = Date()
                let info = try SessionFile.load(cache, into: ctx)
                restored = info.tokens
                printError(String(format: "prompt cache: restored %d tokens from %@ in %.3f s", info.tokens, cache, Date().timeIntervalSince(t0)))
            } catch {
                printError("prompt cache: ignoring \(cache): \(error)")
            }
        }
        if let cache = promptCache {
            do {
                let t0 = Date()
                let evaluated = try gen.prime(ids)
                let t1 = Date()
                let line = String(format: "prompt cache: evaluated %d of %d prompt tokens in %.3f s", evaluated, ids.count, t1.timeIntervalSince(t0))
                // Re-save only when the snapshot gained tokens (a fully reused prompt re-runs just its last token).
                if evaluated > 1 || restored < ids.count - 1 {
                    let info = try SessionFile.save(ctx, to: cache)
                    printError(line + String(format: "; saved %d tokens to %@ in %.3f s (%d bytes, %d raw)",
                                             info.tokens, cache, Date().timeIntervalSince(t1), info.fileBytes, info.rawBytes))
                } else {
                    printError(line)
                }
            } catch { throw CLIError("\(error)") }
        }
        var options = GenerationOptions(maxTokens: maxTokens, sampler: sampling.options, flag: flag, prefill: prefill)
        options.returnPartialOnHalt = showPartial
        options.safeMessage = safeMessage
        let color = isatty(2) != 0
        let (red, reset) = color ? ("\u{1B}[1;31m", "\u{1B}[0m") : ("", "")
        // Under `halt`, text is held back until the generation ends unharmed (a halted answer is withheld).
        let streamText = flag.policy != .halt || showPartial
        if !chat { print(prompt, terminator: "") }
        fflush(stdout)
        let result: GenerationResult
        do {
            result = try gen.generate(prompt: ids, options: options) { event in
                switch event {
                case let .token(_, text, _):
                    if streamText { print(text, terminator: ""); fflush(stdout) }
                case let .flag(f):
                    printError("\(streamText ? "\n" : "")\(red)[red flag] p(<rf>)=\(String(format: "%.4f", f.probability)) at response token \(f.responseIndex) (\(f.phase.rawValue)) → \(f.action.rawValue)\(reset)")
                case .done:
                    break
                }
            }
        } catch { throw CLIError("\(error)") }
        // Held-back text: the answer, or the safe message when the flag halted it.
        if !streamText { print(result.text, terminator: "") }
        print("")
        if let f = result.flags.first(where: { $0.action == .reflected }) {
            let after = String(result.rawText.dropFirst(f.textSoFar.count))
            printError("\(red)[reflect] after the flag the model \(ReflectionTemplate.looksLikeRefusal(after) ? "refused" : "continued (treated it as a false alarm)")\(reset)")
        }
        if guardArgs.trace {
            for (i, p) in result.flagTrace.enumerated() { printError(String(format: "rf-trace %4d  p=%.4e", i, p)) }
        }
        let s = result.stats
        printError(String(format: "prompt: %d tokens (%d evaluated) in %.3f s, %.1f t/s | generated: %d tokens in %.3f s, %.1f t/s | finish: %@ | flags: %d, max p(<rf>) %.4f",
                          s.promptTokens, s.promptTokensEvaluated, s.promptSeconds, s.promptTokensPerSecond,
                          s.generatedTokens, s.generationSeconds, s.tokensPerSecond, s.finishReason.rawValue, s.flags, s.maxFlagProbability))
        if result.halted { throw ExitCode(Self.haltedExitCode) }
    }
}
