import Foundation
#if canImport(Logging)
import Logging
#endif
import RedflagFlag
import RedflagGGUF
import RedflagGeneration
import RedflagModel
import RedflagServer
import RedflagTestSupport
import RedflagTokenizer
import XCTest

/// The server on a loopback port with the real model, driven over sockets by `TestHTTPClient`.
final class ServerEndToEndTests: XCTestCase {
    nonisolated(unsafe) static var shared: Generator?
    static let contextSize = 1024

    var server: HTTPServer?

    static func generator() throws -> Generator {
        if let g = shared { return g }
        let gguf = try GGUFFile(path: TestPaths.modelPath)
        let tok = try Tokenizer(gguf: gguf)
        let model = try Gemma3Model(gguf: gguf, format: .quantized, threads: 2)
        let g = Generator(model: model, tokenizer: tok, context: try InferenceContext(model: model, contextSize: contextSize, threads: 2))
        shared = g
        return g
    }

    /// A started server (guard: halt at the model's τ, greedy sampling) on a free port.
    func start(_ configure: (inout ServerConfiguration) -> Void = { _ in }) throws -> HTTPServer {
        try XCTSkipUnless(TestPaths.modelExists, TestPaths.modelMissingMessage)
        let g = try Self.generator()
        let flag = FlagConfiguration.fromModel(g.model.gguf, lookup: { g.tokenizer.id(of: $0) }, policy: .halt)
        var c = ServerConfiguration()
        c.port = 0
        c.shutdownGrace = 1
        c.maxTokensLimit = 1000
        configure(&c)
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let s = HTTPServer(configuration: c, engine: CompletionEngine(generator: g, modelName: "test-model", defaultFlag: flag), logger: logger)
        try s.start()
        server = s
        return s
    }

    override func tearDown() {
        server?.stop()
        server = nil
    }

    func post(_ s: HTTPServer, _ path: String, _ json: String, headers: [String: String] = [:]) throws -> TestHTTPClient.Response {
        try TestHTTPClient.request(port: s.port, "POST", path, body: json, headers: headers)
    }

    /// The greedy text the library itself produces for `prompt` (the server must return the same).
    func libraryText(_ prompt: [Int32], maxTokens: Int) throws -> (String, GenerationStats) {
        let g = try Self.generator()
        let r = try g.generate(prompt: prompt, options: GenerationOptions(maxTokens: maxTokens))
        return (r.text, r.stats)
    }

    func choice(_ r: TestHTTPClient.Response) -> [String: Any] { (r.json["choices"] as? [[String: Any]])?.first ?? [:] }
    func usage(_ r: TestHTTPClient.Response) -> [String: Int] { (r.json["usage"] as? [String: Int]) ?? [:] }

    func testCompletionMatchesTheLibraryAndCountsUsage() throws {
        let s = try start()
        let prompt = "The capital of France is"
        let ids = try Self.generator().tokenizer.encode(prompt)
        let (expected, stats) = try libraryText(ids, maxTokens: 8)
        let r = try post(s, "/v1/completions", #"{"model":"x","prompt":"The capital of France is","max_tokens":8,"temperature":0}"#)
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(r.headers["content-type"], "application/json")
        XCTAssertEqual(r.json["object"] as? String, "text_completion")
        XCTAssertEqual(r.json["model"] as? String, "test-model")
        XCTAssertTrue((r.json["id"] as? String)?.hasPrefix("cmpl-") ?? false)
        XCTAssertNotNil(r.json["created"] as? Int)
        XCTAssertEqual(choice(r)["text"] as? String, expected)
        XCTAssertFalse(expected.isEmpty)
        XCTAssertEqual(choice(r)["finish_reason"] as? String, stats.finishReason == .length ? "length" : "stop")
        XCTAssertEqual(usage(r), ["prompt_tokens": ids.count, "completion_tokens": stats.generatedTokens, "total_tokens": ids.count + stats.generatedTokens])
        XCTAssertEqual((r.json["redflag"] as? [String: Any])?["flagged"] as? Bool, false)
    }

    func testStreamingChatEqualsNonStreamingChat() throws {
        let s = try start()
        let body = #"{"messages":[{"role":"system","content":"Answer in one word."},{"role":"user","content":"What is the capital of France?"}],"max_tokens":12"#
        let whole = try post(s, "/v1/chat/completions", body + "}")
        XCTAssertEqual(whole.status, 200, whole.text)
        XCTAssertEqual(whole.json["object"] as? String, "chat.completion")
        let message = choice(whole)["message"] as? [String: Any]
        XCTAssertEqual(message?["role"] as? String, "assistant")
        let content = try XCTUnwrap(message?["content"] as? String)
        XCTAssertFalse(content.isEmpty)

        let streamed = try post(s, "/v1/chat/completions", body + #","stream":true,"stream_options":{"include_usage":true}}"#)
        XCTAssertEqual(streamed.status, 200)
        XCTAssertEqual(streamed.headers["content-type"], "text/event-stream")
        XCTAssertEqual(streamed.headers["transfer-encoding"], "chunked")
        let events = TestHTTPClient.events(streamed.body)
        XCTAssertEqual(events.last, "[DONE]")
        let chunks = events.dropLast().map(TestHTTPClient.json)
        XCTAssertTrue(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" })
        XCTAssertEqual(Set(chunks.compactMap { $0["id"] as? String }).count, 1, "one id for the whole stream")
        let deltas = chunks.compactMap { (($0["choices"] as? [[String: Any]])?.first?["delta"]) as? [String: Any] }
        XCTAssertEqual(deltas.first?["role"] as? String, "assistant")
        XCTAssertEqual(deltas.compactMap { $0["content"] as? String }.joined(), content)
        let finishes = chunks.compactMap { (($0["choices"] as? [[String: Any]])?.first?["finish_reason"]) as? String }
        XCTAssertEqual(finishes, [choice(whole)["finish_reason"] as! String])
        XCTAssertEqual(chunks.last?["usage"] as? [String: Int], usage(whole))
        XCTAssertEqual((chunks.last?["choices"] as? [Any])?.count, 0)
    }

    func testStreamingCompletionAndStopString() throws {
        let s = try start()
        let base = try post(s, "/v1/completions", #"{"prompt":"The capital of France is","max_tokens":8}"#)
        let text = try XCTUnwrap(choice(base)["text"] as? String)
        let words = text.split(separator: " ")
        XCTAssertGreaterThan(words.count, 2, text)
        let stop = String(words[2])
        let cut = String(text[..<text.range(of: stop)!.lowerBound])
        let stopped = try post(s, "/v1/completions", #"{"prompt":"The capital of France is","max_tokens":8,"stop":["\#(stop)"]}"#)
        XCTAssertEqual(choice(stopped)["text"] as? String, cut)
        XCTAssertEqual(choice(stopped)["finish_reason"] as? String, "stop")

        let streamed = try post(s, "/v1/completions", #"{"prompt":"The capital of France is","max_tokens":8,"stream":true,"stop":"\#(stop)"}"#)
        let chunks = TestHTTPClient.events(streamed.body).dropLast().map(TestHTTPClient.json)
        XCTAssertTrue(chunks.allSatisfy { $0["object"] as? String == "text_completion" })
        let pieces = chunks.compactMap { (($0["choices"] as? [[String: Any]])?.first?["text"]) as? String }
        XCTAssertEqual(pieces.joined(), cut)
        XCTAssertEqual((chunks.last?["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String, "stop")
    }

    func testHaltedRequestEndsWithContentFilterAndNoText() throws {
        let s = try start()
        let prompt = #"[{"role":"user","content":"Tell me a story."}]"#
        let r = try post(s, "/v1/chat/completions", #"{"messages":\#(prompt),"max_tokens":16,"redflag":{"policy":"halt","threshold":1e-30}}"#)
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(choice(r)["finish_reason"] as? String, "content_filter")
        XCTAssertEqual((choice(r)["message"] as? [String: Any])?["content"] as? String, "")
        let rf = try XCTUnwrap(r.json["redflag"] as? [String: Any])
        XCTAssertEqual(rf["flagged"] as? Bool, true)
        XCTAssertEqual(rf["policy"] as? String, "halt")
        XCTAssertEqual(rf["response_index"] as? Int, 0)
        XCTAssertEqual(rf["position"] as? Int, usage(r)["prompt_tokens"])     // the first response position
        XCTAssertGreaterThan(rf["probability"] as? Double ?? 0, 0)
        XCTAssertEqual(rf["threshold"] as? Double ?? 1, 1e-30, accuracy: 1e-35)
        XCTAssertEqual(usage(r)["completion_tokens"], 0)

        let streamed = try post(s, "/v1/chat/completions", #"{"messages":\#(prompt),"max_tokens":16,"stream":true,"redflag":{"threshold":1e-30}}"#)
        let chunks = TestHTTPClient.events(streamed.body).dropLast().map(TestHTTPClient.json)
        let contents = chunks.compactMap { ((($0["choices"] as? [[String: Any]])?.first?["delta"]) as? [String: Any])?["content"] as? String }
        XCTAssertEqual(contents.joined(), "", "no text after a halt")
        XCTAssertEqual((chunks.last?["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String, "content_filter")
        XCTAssertEqual((chunks.last?["redflag"] as? [String: Any])?["flagged"] as? Bool, true)
    }

    func testMonitorStreamsFlagEventsAsTheyHappen() throws {
        let s = try start()
        let r = try post(s, "/v1/completions", #"{"prompt":"The capital of France is","max_tokens":6,"stream":true,"redflag":{"policy":"monitor","threshold":1e-30}}"#)
        let chunks = TestHTTPClient.events(r.body).dropLast().map(TestHTTPClient.json)
        let flags = chunks.compactMap { $0["redflag"] as? [String: Any] }.filter { $0["event"] as? String == "flag" }
        let texts = chunks.filter { ($0["choices"] as? [[String: Any]])?.first?["text"] as? String != "" }
        // One check before the first token and one after each generated token, each above τ = 1e-30.
        XCTAssertEqual(flags.count, 7)
        XCTAssertEqual(flags.map { $0["response_index"] as? Int }, (0...6).map { $0 })
        XCTAssertTrue(flags.allSatisfy { $0["action"] as? String == "reported" })
        XCTAssertEqual(texts.count, 6)
        // Flags are interleaved with the text: the first flag comes before the first text chunk.
        let firstFlag = chunks.firstIndex { ($0["redflag"] as? [String: Any])?["event"] != nil }!
        let firstText = chunks.firstIndex { (($0["choices"] as? [[String: Any]])?.first?["text"] as? String).map { !$0.isEmpty } ?? false }!
        XCTAssertLessThan(firstFlag, firstText)
        let last = try XCTUnwrap(chunks.last)
        XCTAssertEqual((last["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String, "length")
        XCTAssertEqual(((last["redflag"] as? [String: Any])?["flags"] as? [Any])?.count, 7)
    }

    /// τ set just under p(<rf>) at a later position: the halt comes mid-answer, and the answer holds exactly the
    /// tokens before the flag (nothing generated after it).
    func testMidAnswerHaltReturnsOnlyTheTextBeforeTheFlag() throws {
        let s = try start()
        let req = #""prompt":"The capital of France is","max_tokens":12,"stream":true"#
        let m = try post(s, "/v1/completions", "{\(req),\"redflag\":{\"policy\":\"monitor\",\"threshold\":1e-30}}")
        let chunks = TestHTTPClient.events(m.body).dropLast().map(TestHTTPClient.json)
        let probs = chunks.compactMap { ($0["redflag"] as? [String: Any]).flatMap { $0["event"] != nil ? $0["probability"] as? Double : nil } }
        let pieces = chunks.filter { $0["redflag"] == nil }.compactMap { (($0["choices"] as? [[String: Any]])?.first?["text"]) as? String }
        XCTAssertEqual(probs.count, 13)
        XCTAssertEqual(pieces.count, 12)
        // A position whose p(<rf>) is well above every earlier one; τ halfway (geometrically) leaves room for the
        // small numeric differences between runs (the second reuses the cached prompt prefix).
        guard let j = (1..<probs.count).first(where: { probs[$0] > 2 * probs[..<$0].max()! }) else {
            throw XCTSkip("p(<rf>) never doubles its earlier maximum in this answer: \(probs)")
        }
        let tau = (probs[j] * probs[..<j].max()!).squareRoot()
        let h = try post(s, "/v1/completions", #"{"prompt":"The capital of France is","max_tokens":12,"redflag":{"policy":"halt","threshold":\#(tau)}}"#)
        XCTAssertEqual(choice(h)["finish_reason"] as? String, "content_filter")
        let rf = try XCTUnwrap(h.json["redflag"] as? [String: Any])
        XCTAssertEqual(rf["response_index"] as? Int, j)
        XCTAssertEqual(choice(h)["text"] as? String, pieces[..<j].joined())
        XCTAssertEqual(usage(h)["completion_tokens"], j)
    }

    func testMalformedRequestsGet400WithTheField() throws {
        let s = try start { $0.maxRequestBytes = 8192 }
        let bad = try post(s, "/v1/chat/completions", #"{"messages": [{"role":"user","content":"hi"}"#)
        XCTAssertEqual(bad.status, 400)
        XCTAssertEqual((bad.json["error"] as? [String: Any])?["type"] as? String, "invalid_request_error")
        XCTAssertTrue(bad.errorMessage.contains("not valid JSON"), bad.errorMessage)

        let unknown = try post(s, "/v1/chat/completions", #"{"messages":[{"role":"user","content":"hi"}],"tools":[]}"#)
        XCTAssertEqual(unknown.status, 400)
        XCTAssertEqual(unknown.errorMessage, "unknown field 'tools'")
        XCTAssertEqual((unknown.json["error"] as? [String: Any])?["param"] as? String, "tools")

        let tooMany = try post(s, "/v1/completions", #"{"prompt":"hi","max_tokens":5000}"#)
        XCTAssertEqual(tooMany.status, 400)
        XCTAssertTrue(tooMany.errorMessage.contains("5000") && tooMany.errorMessage.contains("1000"), tooMany.errorMessage)

        let long = String(repeating: "word ", count: 1100)
        let tooLong = try post(s, "/v1/completions", #"{"prompt":"\#(long)"}"#)
        XCTAssertEqual(tooLong.status, 400)
        let found = try Self.generator().tokenizer.encode(long).count
        XCTAssertTrue(tooLong.errorMessage.contains("\(found) tokens") && tooLong.errorMessage.contains("\(Self.contextSize - 1) allowed"), tooLong.errorMessage)
        XCTAssertEqual((tooLong.json["error"] as? [String: Any])?["code"] as? String, "context_length_exceeded")

        let big = try post(s, "/v1/completions", #"{"prompt":"\#(String(repeating: "a", count: 9000))"}"#)
        XCTAssertEqual(big.status, 413)
        let chunked = try TestHTTPClient(port: s.port)
        try chunked.send("POST /v1/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
        XCTAssertEqual(try chunked.readResponse().status, 411)
    }

    func testNotFoundMethodNotAllowedModelsHealthAndKeepAlive() throws {
        let s = try start()
        let c = try TestHTTPClient(port: s.port)
        try c.sendRequest("GET", "/v1/nothing")
        let nf = try c.readResponse()
        XCTAssertEqual(nf.status, 404)
        try c.sendRequest("GET", "/v1/chat/completions")       // same connection: keep-alive
        let na = try c.readResponse()
        XCTAssertEqual(na.status, 405)
        XCTAssertEqual(na.headers["allow"], "POST")
        try c.sendRequest("GET", "/v1/models")
        let models = try c.readResponse()
        XCTAssertEqual(((models.json["data"] as? [[String: Any]])?.first)?["id"] as? String, "test-model")
        try c.sendRequest("GET", "/health")
        let health = try c.readResponse()
        XCTAssertEqual(health.json["status"] as? String, "ok")
        XCTAssertEqual(health.json["slots"] as? Int, 1)
        XCTAssertEqual((health.json["stats"] as? [String: Any])?["requests"] as? Int, 4)
    }

    func testExpectContinueAndPipelining() throws {
        let s = try start()
        let body = #"{"prompt":"x","bogus":true}"#
        let c = try TestHTTPClient(port: s.port)
        try c.send("POST /v1/completions HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: \(body.utf8.count)\r\n\r\n")
        XCTAssertEqual(try c.readHead().0, 100)
        try c.send(body)
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 400)
        XCTAssertEqual(r.errorMessage, "unknown field 'bogus'")
        // Two pipelined requests in one write are answered in order.
        try c.send("GET /health HTTP/1.1\r\n\r\nGET /nothing HTTP/1.1\r\n\r\n")
        XCTAssertEqual(try c.readResponse().status, 200)
        XCTAssertEqual(try c.readResponse().status, 404)
    }

    func testConnectionLimitAndIdleTimeout() throws {
        let s = try start { $0.maxConnections = 1; $0.keepAliveTimeout = 0.5 }
        let first = try TestHTTPClient(port: s.port)
        try first.sendRequest("GET", "/health")
        XCTAssertEqual(try first.readResponse().status, 200)          // kept open: the one allowed connection
        let second = try TestHTTPClient.request(port: s.port, "GET", "/health")
        XCTAssertEqual(second.status, 503)
        XCTAssertEqual((second.json["error"] as? [String: Any])?["code"] as? String, "too_many_connections")
        // After the idle timeout the server closes the first connection, and a new one is admitted.
        let t0 = Date()
        XCTAssertThrowsError(try first.readResponse())                   // EOF
        XCTAssertLessThan(Date().timeIntervalSince(t0), 5)
        let deadline = Date(timeIntervalSinceNow: 5)
        while s.statistics.openConnections > 0 && Date() < deadline { usleep(10_000) }
        XCTAssertEqual(try TestHTTPClient.request(port: s.port, "GET", "/health").status, 200)
        XCTAssertEqual(s.statistics.rejectedConnections, 1)
    }

    func testAPIKey() throws {
        let s = try start { $0.apiKey = "s3cret" }
        let none = try TestHTTPClient.request(port: s.port, "GET", "/v1/models")
        XCTAssertEqual(none.status, 401)
        XCTAssertEqual(none.headers["www-authenticate"], "Bearer")
        XCTAssertEqual((none.json["error"] as? [String: Any])?["type"] as? String, "authentication_error")
        XCTAssertEqual(try TestHTTPClient.request(port: s.port, "GET", "/v1/models", headers: ["Authorization": "Bearer s3cre"]).status, 401)
        XCTAssertEqual(try TestHTTPClient.request(port: s.port, "GET", "/v1/models", headers: ["Authorization": "Bearer s3cret"]).status, 200)
        XCTAssertEqual(try TestHTTPClient.request(port: s.port, "GET", "/health").status, 200)
    }

    func testQueueFullGets503AndQueuedRequestsRunInOrder() throws {
        let s = try start { $0.queueSize = 1 }
        let held = try s.scheduler.acquire()      // the slot is busy
        let queued = try TestHTTPClient(port: s.port)
        try queued.sendRequest("POST", "/v1/completions", body: #"{"prompt":"Hello","max_tokens":2}"#)
        let deadline = Date(timeIntervalSinceNow: 10)
        while s.scheduler.state.queued < 1 && Date() < deadline { usleep(10_000) }
        XCTAssertEqual(s.scheduler.state.queued, 1)
        let rejected = try post(s, "/v1/completions", #"{"prompt":"Hello","max_tokens":2}"#)
        XCTAssertEqual(rejected.status, 503)
        XCTAssertNotNil(rejected.headers["retry-after"])
        XCTAssertEqual((rejected.json["error"] as? [String: Any])?["code"] as? String, "queue_full")
        s.scheduler.release(held)
        let served = try queued.readResponse()
        XCTAssertEqual(served.status, 200)
        XCTAssertEqual(usage(served)["completion_tokens"], 2)
        XCTAssertEqual(s.statistics.rejectedQueueFull, 1)
    }

    func testQueuedRequestWhoseClientLeftIsDropped() throws {
        let s = try start()
        let held = try s.scheduler.acquire()
        let c = try TestHTTPClient(port: s.port)
        try c.sendRequest("POST", "/v1/completions", body: #"{"prompt":"Hello","max_tokens":2}"#)
        var deadline = Date(timeIntervalSinceNow: 10)
        while s.scheduler.state.queued < 1 && Date() < deadline { usleep(10_000) }
        c.abort()
        deadline = Date(timeIntervalSinceNow: 5)
        while s.scheduler.state.queued > 0 && Date() < deadline { usleep(10_000) }
        XCTAssertEqual(s.scheduler.state.queued, 0)
        s.scheduler.release(held)
        while s.statistics.droppedFromQueue < 1 && Date() < deadline { usleep(10_000) }
        XCTAssertEqual(s.statistics.droppedFromQueue, 1)
        XCTAssertEqual(s.statistics.generations, 0)
    }

    func testDisconnectMidStreamCancelsTheGeneration() throws {
        let s = try start()
        let c = try TestHTTPClient(port: s.port)
        try c.sendRequest("POST", "/v1/completions", body: #"{"prompt":"1, 2, 3, 4, 5, 6,","max_tokens":900,"stream":true}"#)
        let (status, _) = try c.readHead()
        XCTAssertEqual(status, 200)
        for _ in 0..<3 { XCTAssertNotNil(try c.readChunk()) }     // three tokens arrived
        c.abort()
        let t0 = Date()
        let next = try post(s, "/v1/completions", #"{"prompt":"Hello","max_tokens":4}"#)
        let seconds = Date().timeIntervalSince(t0)
        XCTAssertEqual(next.status, 200)
        let st = s.statistics
        XCTAssertEqual(st.cancelled, 1)
        XCTAssertEqual(st.generations, 2)
        let firstTokens = st.generatedTokens - (usage(next)["completion_tokens"] ?? 0)
        XCTAssertGreaterThanOrEqual(firstTokens, 3)
        XCTAssertLessThan(firstTokens, 40, "the cancelled generation ran on for \(firstTokens) of 900 tokens")
        // Under qemu (REDFLAG_EMULATED=1) a 4-token request alone takes seconds; natively well under one.
        let limit: Double = ProcessInfo.processInfo.environment["REDFLAG_EMULATED"] == "1" ? 120 : 10
        XCTAssertLessThan(seconds, limit, "the next request waited \(seconds) s")
    }

    func testDisconnectDuringANonStreamedRequestCancelsIt() throws {
        let s = try start()
        let c = try TestHTTPClient(port: s.port)
        try c.sendRequest("POST", "/v1/completions", body: #"{"prompt":"1, 2, 3, 4, 5, 6,","max_tokens":900}"#)
        let deadline = Date(timeIntervalSinceNow: 30)
        while !s.scheduler.state.running && Date() < deadline { usleep(5_000) }
        usleep(200_000)                                            // a few tokens in
        c.abort()
        while s.statistics.generations < 1 && Date() < deadline { usleep(5_000) }
        let st = s.statistics
        XCTAssertEqual(st.cancelled, 1)
        XCTAssertLessThan(st.generatedTokens, 100, "the cancelled generation ran on for \(st.generatedTokens) of 900 tokens")
        XCTAssertEqual(try post(s, "/v1/completions", #"{"prompt":"Hello","max_tokens":2}"#).status, 200)
    }
}
