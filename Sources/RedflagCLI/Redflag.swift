import ArgumentParser

@main
struct Redflag: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redflag",
        abstract: "On-device LLM inference with a model-native red-flag safety signal.",
        subcommands: [Run.self, Chat.self, Next.self, Tokenize.self, Inspect.self, Bench.self, PerplexityCommand.self, QuantizeCommand.self, EvalCommand.self, Serve.self, Fetch.self],
        defaultSubcommand: nil)
}
