/// Everything `HTTPServer` needs besides the model. Defaults are those of `redflag serve`.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    /// 0: any free port (read it from `HTTPServer.port`).
    public var port = 8080
    /// Requests that may wait while one generates; one more gets 503 with `Retry-After`.
    public var queueSize = 8
    /// Open connections (one thread each); one more is answered 503 and closed.
    public var maxConnections = 32
    /// Largest request body (`Content-Length`) in bytes; larger gets 413.
    public var maxRequestBytes = 1 << 20
    /// Largest `max_tokens` a request may ask for; larger gets 400.
    public var maxTokensLimit = 2048
    /// `max_tokens` when the request gives none (capped by `maxTokensLimit`).
    public var defaultMaxTokens = 256
    /// Seconds an idle keep-alive connection stays open.
    public var keepAliveTimeout = 5.0
    /// Seconds a started request has to arrive completely (408 after), and a blocked write may take.
    public var requestTimeout = 30.0
    /// When set, every endpoint but `/health` needs `Authorization: Bearer <key>`.
    public var apiKey: String?
    /// Seconds `stop()` lets running requests finish before cancelling them.
    public var shutdownGrace = 10.0
    /// Header limits (the body limit comes from `maxRequestBytes`).
    public var maxHeaderBytes = 16 << 10
    public var maxHeaderCount = 64

    public init() {}

    var parserLimits: HTTPRequestParser.Limits {
        HTTPRequestParser.Limits(maxHeaderBytes: maxHeaderBytes, maxHeaderCount: maxHeaderCount, maxBodyBytes: maxRequestBytes)
    }
}
