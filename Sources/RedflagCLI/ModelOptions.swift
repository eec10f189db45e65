import ArgumentParser
import Foundation
import RedflagGGUF
import RedflagGeneration
import RedflagModel
import RedflagTokenizer

/// Where the default model lives and how to get it.
enum DefaultModel {
    static let fileName = "gemma-3-270m-q4_k_m.gguf"
    static let fetchCommand = "python3 tools/fetch_model.py   (or: redflag fetch)"

    /// `$REDFLAG_MODEL`, else `models/<file>` under the working directory or the repository holding the executable.
    static var path: String {
        if let env = ProcessInfo.processInfo.environment["REDFLAG_MODEL"], !env.isEmpty { return env }
        for root in candidateRoots() {
            let p = root.appendingPathComponent("models/\(fileName)").path
            if FileManager.default.fileExists(atPath: p) { return p }
        }
        return "models/\(fileName)"
    }

    /// The working directory, then the directories above the executable (…/.build/release/redflag → repo root).
    static func candidateRoots() -> [URL] {
        var roots = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath)]
        var u = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 { roots.append(u); u = u.deletingLastPathComponent() }
        return roots
    }
}

/// Options shared by every command that loads a model.
struct ModelOptions: ParsableArguments {
    @Option(name: [.customShort("m"), .customLong("model")], help: "GGUF model file (default: $REDFLAG_MODEL or models/\(DefaultModel.fileName)).")
    var model: String?

    @Option(name: [.customShort("t"), .customLong("threads")], help: "Worker threads (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: .customLong("ctx"), help: "Context size in tokens (KV cache).")
    var contextSize: Int = 2048

    @Option(name: .customLong("format"), help: "Weights in memory: quantized (int8/int4 kernels) or exact (f32 reference).")
    var format: String = WeightFormat.quantized.rawValue

    @Option(name: .customLong("memory-budget"), help: "MiB the KV cache and buffers may use (default: the machine's physical memory); a larger --ctx fails before allocating.")
    var memoryBudgetMiB: Int?

    @Option(name: .customLong("lora"), help: "A LoRA adapter (GGUF): its <rf> row is written into the embedding, its low-rank deltas run beside the weights or are merged into them (--lora-merge).")
    var lora: String?

    @Option(name: .customLong("lora-merge"), help: "How the adapter's low-rank deltas reach quantized weights: runtime (default: not merged; the file's weights as stored plus the delta in f32, an f32 merge's numerics), q8_0 (merged, adapted 4-bit matrices stored as Q8_0: ~1.7x their bytes, perplexity +0.4 % over runtime) or q4_1 (merged, 4-bit with a searched scale/offset per block). --format exact always merges in f32.")
    var loraMerge: String = LoRAMergePrecision.runtime.rawValue

    func validate() throws {
        guard threads >= 1 && threads <= 256 else { throw ValidationError("--threads '\(threads)': expected 1...256") }
        guard contextSize >= 16 else { throw ValidationError("--ctx '\(contextSize)': expected at least 16") }
        if let m = memoryBudgetMiB, m < 1 { throw ValidationError("--memory-budget '\(m)': expected at least 1 (MiB)") }
        _ = try Self.mergePrecision(loraMerge)
        guard WeightFormat(rawValue: format) != nil else {
            throw ValidationError("--format '\(format)': expected one of \(WeightFormat.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    var modelPath: String { model ?? DefaultModel.path }

    /// `--lora-merge VALUE` (here and in `redflag quantize`), or a validation error naming the accepted values.
    static func mergePrecision(_ value: String) throws -> LoRAMergePrecision {
        guard let p = LoRAMergePrecision(rawValue: value) else {
            throw ValidationError("--lora-merge '\(value)': expected one of \(LoRAMergePrecision.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return p
    }

    /// Opens the GGUF file with a helpful message when the default model is missing.
    func openFile() throws -> GGUFFile {
        let path = modelPath
        if !FileManager.default.fileExists(atPath: path) {
            if model == nil {
                throw CLIError("default model not found at \(path)\n  fetch it with: \(DefaultModel.fetchCommand)")
            }
            throw CLIError("model file not found: \(path)")
        }
        do { return try GGUFFile(path: path) } catch { throw CLIError("\(error)") }
    }

    func loadTokenizer(_ gguf: GGUFFile) throws -> Tokenizer {
        do { return try Tokenizer(gguf: gguf) } catch { throw CLIError("\(error)") }
    }

    func loadAdapter() throws -> LoRAAdapter? {
        guard let path = lora else { return nil }
        guard FileManager.default.fileExists(atPath: path) else { throw CLIError("LoRA adapter not found: \(path)") }
        do {
            let adapter = try LoRAAdapter(path: path)
            adapter.mergePrecision = try Self.mergePrecision(loraMerge)
            return adapter
        } catch { throw CLIError("\(error)") }
    }

    func loadModel(_ gguf: GGUFFile, adapter withAdapter: Bool = true) throws -> Gemma3Model {
        let adapter = withAdapter ? try loadAdapter() : nil
        do { return try Gemma3Model(gguf: gguf, format: WeightFormat(rawValue: format)!, threads: threads, adapter: adapter) } catch {
            throw CLIError("\(error)")
        }
    }

    func makeContext(_ model: Gemma3Model) throws -> InferenceContext {
        let budget = (memoryBudgetMiB.map { $0 << 20 }) ?? Int(ProcessInfo.processInfo.physicalMemory)
        do { return try InferenceContext(model: model, contextSize: contextSize, threads: threads, memoryBudget: budget) } catch {
            throw CLIError("\(error)")
        }
    }
}

extension ModelOptions {
    /// Everything a generating command needs, loaded in order: file, tokenizer, model (+ adapter unless `adapter` is
    /// false), context, generator.
    func loadGenerator(adapter: Bool = true) throws -> Generator {
        let g = try openFile()
        let tok = try loadTokenizer(g)
        let model = try loadModel(g, adapter: adapter)
        return Generator(model: model, tokenizer: tok, context: try makeContext(model))
    }
}

/// A message for the user; printed as `error: …` with exit status 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// Writes to standard error.
func printError(_ s: String, terminator: String = "\n") {
    FileHandle.standardError.write((s + terminator).data(using: .utf8)!)
}

/// Encodes `value` as one line of JSON on stdout.
func printJSON<T: Encodable>(_ value: T) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try enc.encode(value), as: UTF8.self))
}
