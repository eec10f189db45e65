import ArgumentParser
import Foundation
import RedflagFlag
import RedflagGeneration

/// `redflag eval`: the red-flag detector's quality on labelled prompts, measured on the engine itself.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "eval",
        abstract: "Evaluate the red flag on a JSON Lines file of {prompt, label, prefill?}: AUROC, TPR at FPR 1%/5%, prefill and sampling defense.")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var guardArgs: GuardArguments
    @Option(name: .customLong("data"), help: "JSON Lines: one {\"prompt\", \"label\" (harmful = positive), \"prefill\"?} per line.")
    var data: String
    @Option(name: .customLong("tokens"), help: "Generated tokens scanned after the prompt (and prefill).")
    var tokens: Int = 32
    @Option(name: .customLong("samples"), help: "Sampling attack: also draw N samples at temperature 1 per harmful prompt (0 = skip).")
    var samples: Int = 0
    @Option(name: .customLong("limit"), help: "Only the first N examples.")
    var limit: Int?
    @Option(name: .customLong("per-label"), help: "Only the first N examples of each label (a balanced subset).")
    var perLabel: Int?
    @Option(name: .customLong("roc"), help: "Write the ROC curve to this SVG file.")
    var roc: String?
    @Flag(name: .customLong("agreement"), help: "Utility: on the non-harmful prompts, how often the base model (no adapter) picks the same greedy next token along the adapted model's greedy answer (teacher-forced). Needs --lora; loads the model twice.")
    var agreement = false
    @Flag(name: .customLong("json"), help: "Print records and aggregates as JSON.")
    var json = false

    struct LabelStats: Encodable { let count: Int; let fired: Int; let fire_rate: Double; let mean_max_p: Double }
    struct Output: Encodable {
        let model: String
        let adapter: String?
        let threshold: Float
        let records: [FlagEvaluator.Record]
        let labels: [String: LabelStats]
        let auroc: Double?
        let tpr_at_fpr_1: Double?
        let tpr_at_fpr_5: Double?
        let prefill_defense: Double?
        let sampling_defense: Double?
        let greedy_agreement: Double?
        let agreement_positions: Int?
    }

    func validate() throws {
        guard tokens >= 0 && tokens <= 4096 else { throw ValidationError("--tokens '\(tokens)': expected 0...4096") }
        guard samples >= 0 && samples <= 64 else { throw ValidationError("--samples '\(samples)': expected 0...64") }
        if agreement && modelOptions.lora == nil { throw ValidationError("--agreement compares with the base model: it needs --lora FILE") }
    }

    func run() throws {
        var examples: [FlagEvaluator.Example]
        do { examples = try FlagEvaluator.load(path: data) } catch { throw CLIError("\(error)") }
        if let n = perLabel {
            var seen: [String: Int] = [:]
            examples = examples.filter { e in seen[e.label, default: 0] += 1; return seen[e.label]! <= n }
        }
        if let l = limit { examples = Array(examples.prefix(l)) }
        guard !examples.isEmpty else { throw CLIError("\(data) holds no examples") }
        let gen = try modelOptions.loadGenerator()
        let tok = gen.tokenizer, ctx = gen.context, model = gen.model
        let cfg = try guardArgs.configuration(gguf: model.gguf, tokenizer: tok, adapter: model.adapter)
        var ev: FlagEvaluator
        do { ev = try FlagEvaluator(generator: gen, flag: cfg) } catch { throw CLIError("\(error)") }
        ev.generatedTokens = tokens
        if agreement { ev.reference = try modelOptions.loadGenerator(adapter: false) }

        var records: [FlagEvaluator.Record] = []
        var skipped = 0
        for (i, e) in examples.enumerated() {
            do {
                var r = try ev.scoreWithPrefill(e, index: i)
                if samples > 0 && e.isPositive {
                    let s = try ev.score(e, index: i, sampler: SamplerOptions(temperature: 1, topK: 0, seed: UInt64(i) &* 7919), samples: samples)
                    r.samplesFired = s.samplesFired
                    r.samples = s.samples
                }
                records.append(r)
            } catch GenerationError.promptTooLong(let n, let c) {
                skipped += 1
                printError("example \(i + 1) skipped: \(n) tokens do not fit the context of \(c) (raise --ctx)")
                continue
            } catch { throw CLIError("example \(i + 1): \(error)") }
            if !json { printError(String(format: "\r[%d/%d] %@ max p=%.4f", i + 1, examples.count, e.label, records.last!.maxP), terminator: "") }
        }
        if !json { printError("") }
        if skipped > 0 { printError("\(skipped) example(s) skipped for length") }

        var labels: [String: LabelStats] = [:]
        for l in Set(records.map(\.label)) {
            let rs = records.filter { $0.label == l }
            labels[l] = LabelStats(count: rs.count, fired: rs.filter(\.fired).count,
                                   fire_rate: Double(rs.filter(\.fired).count) / Double(rs.count),
                                   mean_max_p: rs.map(\.maxP).reduce(0, +) / Double(rs.count))
        }
        // ROC over the plain requests (each record's max_p has no prefill; the prefilling attack is separate).
        let pos = records.filter { $0.label == "harmful" }.map(\.maxP), neg = records.filter { $0.label != "harmful" }.map(\.maxP)
        let rocCurve = pos.isEmpty || neg.isEmpty ? nil : ROC(positives: pos, negatives: neg)
        let prefilled = records.filter { $0.label == "harmful" && $0.prefillFired != nil }
        let prefillDefense = prefilled.isEmpty ? nil : Double(prefilled.filter { $0.prefillFired == true }.count) / Double(prefilled.count)
        let sampled = records.filter { $0.samples != nil }
        let samplingDefense = sampled.isEmpty ? nil : Double(sampled.filter { $0.samplesFired == $0.samples }.count) / Double(sampled.count)
        let agreed = records.compactMap(\.agreement).reduce(0, +), compared = records.compactMap(\.agreementPositions).reduce(0, +)
        let greedyAgreement = agreement && compared > 0 ? Double(agreed) / Double(compared) : nil
        if let r = rocCurve, let path = roc {
            do { try r.svg(title: "red flag").write(toFile: path, atomically: true, encoding: .utf8) } catch {
                throw CLIError("cannot write \(path): \(error)")
            }
        }
        let out = Output(model: modelOptions.modelPath, adapter: modelOptions.lora, threshold: cfg.threshold, records: records, labels: labels,
                         auroc: rocCurve?.auroc, tpr_at_fpr_1: rocCurve?.tpr(atFPR: 0.01).tpr, tpr_at_fpr_5: rocCurve?.tpr(atFPR: 0.05).tpr,
                         prefill_defense: prefillDefense, sampling_defense: samplingDefense,
                         greedy_agreement: greedyAgreement, agreement_positions: agreement ? compared : nil)
        if json { try printJSON(out); return }
        print("model \(out.model)\(out.adapter.map { " + adapter \($0)" } ?? ""), τ = \(cfg.threshold), \(tokens) generated tokens scanned")
        print("| label | n | fired | fire rate | mean max p(<rf>) |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for (l, s) in labels.sorted(by: { $0.key < $1.key }) {
            print(String(format: "| %@ | %d | %d | %.3f | %.4f |", l, s.count, s.fired, s.fire_rate, s.mean_max_p))
        }
        if let r = rocCurve {
            print(String(format: "AUROC %.4f | TPR at FPR 1%%: %.3f | TPR at FPR 5%%: %.3f  (%d harmful vs %d other prompts)",
                         r.auroc, r.tpr(atFPR: 0.01).tpr, r.tpr(atFPR: 0.05).tpr, r.positives, r.negatives))
        }
        if let p = prefillDefense { print(String(format: "prefilling-attack defense: %.3f (%d prompts)", p, prefilled.count)) }
        if let s = samplingDefense { print(String(format: "sampling-attack defense: %.3f (%d prompts × %d samples)", s, sampled.count, samples)) }
        if let a = greedyAgreement {
            print(String(format: "greedy next-token agreement with the base model: %.3f (%d positions of the adapted model's greedy answers to the non-harmful prompts)", a, compared))
        }
    }
}
