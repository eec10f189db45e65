import ArgumentParser
import RedflagFlag
import RedflagGGUF
import RedflagModel
import RedflagTokenizer

/// Red-flag flags shared by `run`, `chat`, `bench`, `serve`.
struct GuardArguments: ParsableArguments {
    @Option(name: .customLong("guard"), help: "What to do when p(<rf>) ≥ τ: halt, reflect, monitor or off.")
    var policy: String = FlagPolicy.halt.rawValue
    @Option(name: .customLong("rf-threshold"), help: "Flag threshold τ in (0, 1] (default: the model's redflag.threshold, else 0.5).")
    var threshold: Float?
    @Option(name: .customLong("rf-token"), help: "The red-flag token, as text (e.g. \"<unused0>\") or id (default: the model's redflag.token_id, else <unused0>).")
    var token: String?
    @Flag(name: .customLong("rf-trace"), help: "Print p(<rf>) for every checked position on stderr.")
    var trace = false

    func validate() throws {
        guard FlagPolicy(rawValue: policy) != nil else {
            throw ValidationError("--guard '\(policy)': expected one of halt, reflect, monitor, off")
        }
        if let t = threshold, !(t > 0 && t <= 1) { throw ValidationError("--rf-threshold '\(t)': expected a number in (0, 1]") }
    }

    /// The flag configuration for this model.
    /// The flag configuration: CLI overrides, then the adapter's metadata, then the model's, then defaults.
    func configuration(gguf: GGUFFile, tokenizer: Tokenizer, adapter: LoRAAdapter? = nil) throws -> FlagConfiguration {
        let p = FlagPolicy(rawValue: policy)!
        guard var cfg = FlagConfiguration.fromModel(gguf, lookup: { tokenizer.id(of: $0) }, policy: p) else {
            throw CLIError("the model has no red-flag token (no redflag.token_id and no <unused0>); pass --rf-token")
        }
        if let id = adapter?.flagTokenID { cfg.tokenID = id }
        if let t = adapter?.threshold { cfg.threshold = t }
        if let t = token {
            if let id = Int32(t), id >= 0, Int(id) < tokenizer.count { cfg.tokenID = id }
            else if let id = tokenizer.id(of: t) { cfg.tokenID = id }
            else { throw CLIError("--rf-token '\(t)': not a token of this model (expected a piece such as <unused0> or an id below \(tokenizer.count))") }
        }
        if let t = threshold { cfg.threshold = t }
        return cfg
    }
}
