import ArgumentParser
import Dispatch
import Foundation
import RedflagFlag
import RedflagGeneration
import RedflagModel
import RedflagTokenizer

/// `redflag chat`: an interactive, guarded conversation in the terminal.
struct Chat: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Interactive chat with the red-flag guard on (commands: /reset /save FILE /load FILE /guard POLICY [τ] /stats /quit).")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var sampling: SamplingArguments
    @OptionGroup var guardArgs: GuardArguments
    @Option(name: [.customShort("n"), .customLong("n-predict")], help: "Maximum tokens per answer.")
    var maxTokens: Int = 256
    @Option(name: .customLong("system"), help: "System prompt (folded into the first user turn, as Gemma expects).")
    var system: String?
    @Option(name: .customLong("safe-message"), help: "Shown (and kept in the history) instead of a halted answer.")
    var safeMessage = "I can't help with that."

    func validate() throws {
        guard maxTokens >= 1 && maxTokens <= 1_000_000 else { throw ValidationError("--n-predict '\(maxTokens)': expected 1...1000000") }
    }

    func run() throws {
        let gen = try modelOptions.loadGenerator()
        let tok = gen.tokenizer, ctx = gen.context, model = gen.model
        var flag = try guardArgs.configuration(gguf: model.gguf, tokenizer: tok, adapter: model.adapter)
        let template: ChatTemplate
        do { template = try ChatTemplate(tokenizer: tok) } catch { throw CLIError("\(error)") }

        // Ctrl-C stops the current answer, not the session.
        let cancel = CancellationToken()
        signal(SIGINT, SIG_IGN)
        let sigint = DispatchSource.makeSignalSource(signal: SIGINT, queue: DispatchQueue.global())
        sigint.setEventHandler { cancel.cancel() }
        sigint.resume()

        let color = isatty(1) != 0
        let (red, dim, reset) = color ? ("\u{1B}[1;31m", "\u{1B}[2m", "\u{1B}[0m") : ("", "", "")
        var history: [Int32] = []          // the conversation as tokens, exactly as the model saw it
        var firstTurn = true
        var lastStats: GenerationStats?
        print("\(dim)redflag chat — guard \(flag.policy.rawValue), τ = \(flag.threshold). /reset /save FILE /load FILE /guard POLICY [τ] /stats /quit\(reset)")
        while true {
            print("> ", terminator: "")
            fflush(stdout)
            guard let line = readLine() else { break }
            let input = line.trimmingCharacters(in: .whitespaces)
            if input.isEmpty { continue }
            if input.hasPrefix("/") {
                let parts = input.split(separator: " ", maxSplits: 1).map(String.init)
                switch parts[0] {
                case "/quit", "/exit": return
                case "/reset":
                    history = []
                    firstTurn = true
                    ctx.reset()
                    print("\(dim)[conversation reset]\(reset)")
                case "/save" where parts.count == 2:
                    do {
                        _ = try gen.prime(history.isEmpty ? [tok.bos] : history)
                        let info = try SessionFile.save(ctx, to: parts[1])
                        print("\(dim)[saved \(info.tokens) tokens to \(parts[1]): \(info.fileBytes) bytes, \(info.rawBytes) raw]\(reset)")
                    } catch { print("\(red)[save failed: \(error)]\(reset)") }
                case "/load" where parts.count == 2:
                    do {
                        let info = try SessionFile.load(parts[1], into: ctx)
                        history = ctx.tokens
                        firstTurn = history.count <= 1
                        print("\(dim)[loaded \(info.tokens) tokens from \(parts[1])]\(reset)")
                    } catch { print("\(red)[load failed: \(error)]\(reset)") }
                case "/guard" where parts.count == 2:
                    let args = parts[1].split(separator: " ").map(String.init)
                    guard let p = FlagPolicy(rawValue: args[0]) else {
                        print("\(red)[/guard \(args[0]): expected halt, reflect, monitor or off]\(reset)")
                        continue
                    }
                    if args.count > 1 {
                        guard let t = Float(args[1]), t > 0, t <= 1 else {
                            print("\(red)[/guard threshold '\(args[1])': expected a number in (0, 1]]\(reset)")
                            continue
                        }
                        flag.threshold = t
                    }
                    flag.policy = p
                    print("\(dim)[guard \(p.rawValue), τ = \(flag.threshold)]\(reset)")
                case "/stats":
                    var line = "[context \(ctx.position)/\(ctx.contextSize) tokens"
                    if let s = lastStats {
                        line += String(format: "; last answer %d tokens, %.1f t/s, prompt %.1f t/s, flags %d, max p(<rf>) %.4f",
                                       s.generatedTokens, s.tokensPerSecond, s.promptTokensPerSecond, s.flags, s.maxFlagProbability)
                    }
                    print("\(dim)\(line)]\(reset)")
                default:
                    print("\(dim)[commands: /reset  /save FILE  /load FILE  /guard POLICY [τ]  /stats  /quit]\(reset)")
                }
                continue
            }
            // Append the user turn (user text is plain text: markers come from the template as ids).
            var messages = [ChatTemplate.Message(role: .user, text: input)]
            if firstTurn, let s = system { messages.insert(.init(role: .system, text: s), at: 0) }
            let turn = template.render(messages, openModelTurn: true, addBOS: history.isEmpty)
            let prompt = history + turn
            var options = GenerationOptions(maxTokens: maxTokens, sampler: sampling.options, flag: flag)
            options.safeMessage = safeMessage
            let stream = flag.policy != .halt
            cancel.reset()
            let result: GenerationResult
            do {
                result = try gen.generate(prompt: prompt, options: options, cancel: cancel) { event in
                    switch event {
                    case let .token(_, text, _): if stream { print(text, terminator: ""); fflush(stdout) }
                    case let .flag(f):
                        print("\(stream ? "\n" : "")\(red)[red flag p=\(String(format: "%.3f", f.probability)) → \(f.action.rawValue)]\(reset)")
                    case .done: break
                    }
                }
            } catch {
                print("\(red)[error: \(error)]\(reset)")
                continue
            }
            lastStats = result.stats
            if result.halted {
                print("\(red)[flagged: answer withheld]\(reset) \(result.text)")
            } else if !stream {
                print(result.text, terminator: "")
            }
            if result.stats.finishReason == .cancelled { print("\(dim)[stopped]\(reset)") } else { print("") }
            // Keep what the user saw: the safe message replaces a halted answer.
            let answer = result.halted ? tok.encode(safeMessage, addBOS: false) : result.tokens
            history = prompt + answer + [template.endOfTurnID] + tok.encode("\n", addBOS: false)
            firstTurn = false
        }
    }
}
