import ArgumentParser
import Dispatch
import Foundation
#if canImport(Logging)
import Logging
#endif
import RedflagFlag
import RedflagGeneration
import RedflagServer

/// `redflag serve`: the OpenAI-compatible HTTP server (one generation slot, FIFO queue; see `HTTPServer`).
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the model over HTTP: OpenAI-compatible /v1/completions, /v1/chat/completions (SSE streaming), /v1/models, /health.")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var sampling: SamplingArguments
    @OptionGroup var guardArgs: GuardArguments
    @Option(name: .customLong("host"), help: "Address to listen on.")
    var host = "127.0.0.1"
    @Option(name: .customLong("port"), help: "TCP port (0: any free port, printed at start).")
    var port = 8080
    @Option(name: .customLong("queue-size"), help: "Requests that may wait while one generates; more get 503 + Retry-After.")
    var queueSize = 8
    @Option(name: .customLong("max-connections"), help: "Open connections (one thread each); more get 503.")
    var maxConnections = 32
    @Option(name: .customLong("max-request-bytes"), help: "Largest request body in bytes (413 above).")
    var maxRequestBytes = 1 << 20
    @Option(name: .customLong("max-tokens-limit"), help: "Largest max_tokens a request may ask for (400 above).")
    var maxTokensLimit = 2048
    @Option(name: [.customShort("n"), .customLong("n-predict")], help: "max_tokens when a request gives none.")
    var defaultMaxTokens = 256
    @Option(name: .customLong("keep-alive-timeout"), help: "Seconds an idle keep-alive connection stays open.")
    var keepAliveTimeout = 5.0
    @Option(name: .customLong("api-key"), help: "Require 'Authorization: Bearer KEY' (all endpoints but /health).")
    var apiKey: String?
    @Option(name: .customLong("model-name"), help: "Model id in responses and /v1/models (default: the file name without .gguf).")
    var modelName: String?
    @Option(name: .customLong("reflect-template"), help: "Few-shot reflection examples for policy reflect (default: templates/reflection.txt).")
    var reflectTemplate: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port '\(port)': expected 0...65535") }
        guard queueSize >= 0 else { throw ValidationError("--queue-size '\(queueSize)': expected ≥ 0") }
        guard maxConnections >= 1 else { throw ValidationError("--max-connections '\(maxConnections)': expected ≥ 1") }
        guard maxRequestBytes >= 64 else { throw ValidationError("--max-request-bytes '\(maxRequestBytes)': expected ≥ 64") }
        guard maxTokensLimit >= 1 else { throw ValidationError("--max-tokens-limit '\(maxTokensLimit)': expected ≥ 1") }
        guard defaultMaxTokens >= 1 else { throw ValidationError("--n-predict '\(defaultMaxTokens)': expected ≥ 1") }
        guard keepAliveTimeout > 0 else { throw ValidationError("--keep-alive-timeout '\(keepAliveTimeout)': expected > 0") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level '\(logLevel)': expected trace, debug, info, notice, warning, error or critical") }
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        #if canImport(Logging)
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        #endif
        var logger = Logger(label: "redflag.server")
        logger.logLevel = Logger.Level(rawValue: logLevel)!
        let gen = try modelOptions.loadGenerator()
        let flag = try guardArgs.configuration(gguf: gen.model.gguf, tokenizer: gen.tokenizer, adapter: gen.model.adapter)
        let templatePath = reflectTemplate ?? DefaultModel.candidateRoots()
            .map { $0.appendingPathComponent("templates/reflection.txt").path }
            .first { FileManager.default.fileExists(atPath: $0) }
        var reflection: ReflectionTemplate?
        if let p = templatePath {
            do { reflection = try ReflectionTemplate(path: p) } catch { throw CLIError("\(error)") }
        }
        let name = modelName ?? URL(fileURLWithPath: modelOptions.modelPath).deletingPathExtension().lastPathComponent
        let engine = CompletionEngine(generator: gen, modelName: name, defaultFlag: flag, defaultSampler: sampling.options,
                                      reflectionTemplate: reflection)
        var config = ServerConfiguration()
        config.host = host
        config.port = port
        config.queueSize = queueSize
        config.maxConnections = maxConnections
        config.maxRequestBytes = maxRequestBytes
        config.maxTokensLimit = maxTokensLimit
        config.defaultMaxTokens = min(defaultMaxTokens, maxTokensLimit)
        config.keepAliveTimeout = keepAliveTimeout
        config.apiKey = apiKey
        let server = HTTPServer(configuration: config, engine: engine, logger: logger)
        do { try server.start() } catch { throw CLIError("\(error)") }

        // SIGINT/SIGTERM: graceful stop (running requests finish within the grace period).
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler {
                printError("redflag serve: stopping (signal \(sig))")
                server.stop()
            }
            s.resume()
            sources.append(s)
        }
        let shownHost = host.contains(":") ? "[\(host)]" : host
        print("redflag serve: listening on http://\(shownHost):\(server.port) (model \(name), guard \(flag.policy.rawValue) τ=\(flag.threshold), queue \(queueSize))")
        fflush(stdout)
        server.waitUntilStopped()
        withExtendedLifetime(sources) {}
    }
}
