import ArgumentParser
import Foundation
import RedflagFlag
import RedflagGeneration
import RedflagModel

/// `redflag next`: the top-k next tokens after a prompt, with logits and log-probabilities.
struct Next: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the most likely next tokens after a prompt (and an optional greedy continuation).")

    @OptionGroup var modelOptions: ModelOptions
    @Option(name: .customLong("top"), help: "How many tokens to list.")
    var top: Int = 10
    @Flag(name: .customLong("parse-special"), help: "Parse special-token text in the prompt.")
    var parseSpecial = false
    @Option(name: .customLong("greedy"), help: "Also continue greedily for N tokens.")
    var greedy: Int = 0
    @Flag(name: .customLong("json"), help: "Machine-readable output.")
    var json = false
    @Argument(help: "The prompt (BOS added as the model's metadata says).")
    var prompt: String

    struct Entry: Encodable { let id: Int32; let logit: Float; let logprob: Float; let piece: String }
    /// `greedy_margins[s]`: top-1 minus top-2 logit at greedy step `s` (how close the choice was to a tie).
    struct Output: Encodable { let top: [Entry]; let greedy_ids: [Int32]; let greedy_margins: [Float] }

    /// Top-1 minus top-2 of `n` logits.
    static func margin(_ l: UnsafePointer<Float>, _ n: Int) -> Float {
        var a = -Float.infinity, b = -Float.infinity
        for i in 0..<n {
            let v = l[i]
            if v > a { b = a; a = v } else if v > b { b = v }
        }
        return a - b
    }

    func validate() throws {
        guard top >= 1 && top <= 1000 else { throw ValidationError("--top '\(top)': expected 1...1000") }
        guard greedy >= 0 else { throw ValidationError("--greedy '\(greedy)': expected ≥ 0") }
    }

    func run() throws {
        let gen = try modelOptions.loadGenerator()
        let tok = gen.tokenizer, ctx = gen.context
        let ids = tok.encode(prompt, parseSpecial: parseSpecial)
        do { try gen.prime(ids) } catch { throw CLIError("\(error)") }
        gen.project()
        let logits = gen.lastLogits
        let reading = FusedLMHead.referenceReading(logits: logits.baseAddress!, count: logits.count, flagToken: nil)
        var order = Array(0..<logits.count)
        order.sort { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
        let entries = try order.prefix(top).map {
            Entry(id: Int32($0), logit: logits[$0], logprob: logits[$0] - reading.logSumExp, piece: try tok.piece(Int32($0)))
        }
        var greedyIDs: [Int32] = [], margins: [Float] = []
        if greedy > 0 {
            var next = Int32(order[0])
            var margin = logits.count > 1 ? logits[order[0]] - logits[order[1]] : .infinity
            for s in 0..<greedy {
                greedyIDs.append(next)
                margins.append(margin)
                if s == greedy - 1 { break }
                do { try ctx.evaluate(token: next) } catch { throw CLIError("\(error)") }
                gen.project()
                next = Sampler.argmax(gen.lastLogits.baseAddress!, logits.count)
                margin = Self.margin(gen.lastLogits.baseAddress!, logits.count)
            }
        }
        if json {
            try printJSON(Output(top: entries, greedy_ids: greedyIDs, greedy_margins: margins))
            return
        }
        for (r, e) in entries.enumerated() {
            print(String(format: "%2d  %7d  logit %9.4f  logprob %9.4f  %@", r, e.id, e.logit, e.logprob, e.piece.debugDescription))
        }
        if !greedyIDs.isEmpty { print("greedy: \((try? tok.decode(greedyIDs)) ?? "")".debugDescription) }
    }
}
