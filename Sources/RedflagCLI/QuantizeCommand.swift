import ArgumentParser
import Foundation
import RedflagGGUF
import RedflagModel

/// `redflag quantize IN OUT --type q8_0|q4_0|mixed [--lora FILE]`: re-types every 2-D weight and writes a standard GGUF.
struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "quantize",
        abstract: "Re-quantize a GGUF model (q8_0, q4_0, or the recommended mixed recipe), optionally baking in a LoRA adapter.")

    @Argument(help: "Input GGUF.") var input: String
    @Argument(help: "Output GGUF (written atomically).") var output: String
    @Option(name: .customLong("type"), help: "q8_0, q4_0 or mixed.") var type: String = QuantizationRecipe.mixed.rawValue
    @Option(name: .customLong("lora"), help: "Merge this LoRA adapter (f32, before quantization).") var lora: String?
    @Option(name: .customLong("lora-merge"), help: "What the adapted 4-bit matrices become in the file: q8_0 (default) or q4_1 (searched 4-bit). A file holds merged weights, so 'runtime' is not accepted here.")
    var loraMerge: String = LoRAMergePrecision.int8.rawValue
    @Option(name: [.customShort("t"), .customLong("threads")], help: "Threads.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(name: .customLong("calibration"), help: "Text whose hidden states weight the 4-bit output projection's error (mixed; default: /usr/share/common-licenses/Apache-2.0 when present). 'none' disables.")
    var calibration: String?

    func validate() throws {
        guard QuantizationRecipe(rawValue: type) != nil else {
            throw ValidationError("--type '\(type)': expected one of \(QuantizationRecipe.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard try ModelOptions.mergePrecision(loraMerge).merges else {
            throw ValidationError("--lora-merge '\(loraMerge)': a quantized file holds merged weights; expected q8_0 or q4_1")
        }
        guard input != output else { throw ValidationError("output must differ from input ('\(input)')") }
        guard threads >= 1 && threads <= 256 else { throw ValidationError("--threads '\(threads)': expected 1...256") }
    }

    func run() throws {
        var opts = try ModelOptions.parse([])
        opts.model = input
        opts.lora = lora
        opts.loraMerge = loraMerge
        let g = try opts.openFile()
        let adapter = try opts.loadAdapter()
        do { try adapter?.validate(against: g) } catch { throw CLIError("\(error)") }
        let recipe = QuantizationRecipe(rawValue: type)!
        let t0 = Date()
        var importance: [Float]?
        let defaultText = "/usr/share/common-licenses/Apache-2.0"
        let calib = calibration ?? (FileManager.default.fileExists(atPath: defaultText) ? defaultText : "none")
        if recipe.untiesOutput && calib != "none" {
            guard let data = FileManager.default.contents(atPath: calib) else { throw CLIError("cannot read calibration text '\(calib)'") }
            do {
                let tok = try opts.loadTokenizer(g)
                let model = try Gemma3Model(gguf: g, format: .quantized, threads: threads, adapter: adapter)
                let ids = tok.encode(String(decoding: data, as: UTF8.self), addBOS: true)
                importance = try OutputCalibration.hiddenMeanSquares(model: model, tokens: ids, bos: tok.bos, threads: threads)
                printError(String(format: "calibrated the output projection on %@ (%.1f s)", calib, Date().timeIntervalSince(t0)))
            } catch { throw CLIError("calibration: \(error)") }
        }
        let s: Requantizer.Summary
        do {
            s = try Requantizer.run(input: g, output: output, recipe: recipe, adapter: adapter, outputImportance: importance,
                                    threads: threads) { i, n, name in
                printError(String(format: "\r[%3d/%3d] %@", i + 1, n, name.padding(toLength: 40, withPad: " ", startingAt: 0)), terminator: "")
            }
        } catch { throw CLIError("\(error)") }
        printError("")
        print(String(format: "wrote %@: %d tensors converted, %.1f MiB → %.1f MiB of tensor data, %.1f s",
                     output, s.tensorsConverted, Double(s.bytesIn) / 1048576, Double(s.bytesOut) / 1048576, Date().timeIntervalSince(t0)))
    }
}
