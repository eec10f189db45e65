import Foundation
import RedflagFlag
import RedflagGeneration

extension HTTPServer {
    struct CompletionOutcome {
        var status: Int
        var tokens: Int
        var keepConnection: Bool
    }

    /// Runs one completion: prepare (400s), wait for the slot (503, or dropped when the client leaves), generate
    /// while writing chunks (streaming) or collecting text, and answer. Text is cut before the first stop
    /// string; under `halt` nothing after the flag is generated, and `finish_reason` is `content_filter`.
    func runCompletion(_ request: CompletionRequest, on conn: Connection, keepAlive: Bool, http11: Bool) -> CompletionOutcome {
        func fail(_ e: APIError) -> CompletionOutcome {
            let ok = conn.write(e.response.bytes(keepAlive: keepAlive))
            return CompletionOutcome(status: e.status, tokens: 0, keepConnection: ok)
        }
        let prepared: CompletionEngine.Prepared
        do { prepared = try engine.prepare(request, configuration: configuration) } catch let e as APIError {
            return fail(e)
        } catch {
            return fail(APIError(status: 400, message: "\(error)"))
        }

        let slot: GenerationScheduler.Slot
        do { slot = try scheduler.acquire(isAbandoned: { conn.peerClosed() }) } catch GenerationScheduler.SchedulerError.queueFull(let capacity) {
            stats.update { $0.rejectedQueueFull += 1 }
            let (busy, queued) = scheduler.state
            return fail(APIError(status: 503, message: "the server is busy: \(busy ? 1 : 0) generating and \(queued) of \(capacity) queue places taken; retry later",
                                 type: "server_error", code: "queue_full", headers: [("Retry-After", "\(max(1, queued))")]))
        } catch {
            stats.update { $0.droppedFromQueue += 1 }
            return CompletionOutcome(status: 499, tokens: 0, keepConnection: false)   // client left while queued
        }
        defer { scheduler.release(slot) }

        let shapes = OpenAIResponses(endpoint: request.endpoint, model: engine.modelName)
        let flag = prepared.options.flag
        let cancel = CancellationToken()
        register(cancel)
        defer { unregister(cancel) }
        var matcher = StopSequenceMatcher(stops: prepared.stops)
        var text = ""
        var clientGone = false
        let useChunks = http11     // HTTP/1.0 streams end with the connection (no chunked coding)
        func send(_ json: [String: Any]) {
            guard !clientGone else { return }
            let event = ServerSentEvents.event(JSONText.string(json))
            if !conn.write(useChunks ? ServerSentEvents.chunk(event) : event) { clientGone = true; cancel.cancel() }
        }

        if request.stream {
            let head = HTTPResponse.streamHead(status: 200, headers: ServerSentEvents.headers, chunked: useChunks, keepAlive: keepAlive)
            if !conn.write(head) { return CompletionOutcome(status: 499, tokens: 0, keepConnection: false) }
            if request.endpoint == .chat { send(shapes.chunk(text: "", role: true)) }
        }

        let result: GenerationResult
        do {
            result = try engine.generator.generate(prompt: prepared.prompt, options: prepared.options, cancel: cancel) { event in
                switch event {
                case let .token(_, piece, _):
                    let out = matcher.push(piece)
                    if matcher.stopped { cancel.cancel() }
                    text += out
                    if request.stream, !out.isEmpty { send(shapes.chunk(text: out)) }
                    if !clientGone && conn.peerClosed() { clientGone = true; cancel.cancel() }
                case let .flag(e):
                    // Halting flags go into the final chunk; others (monitor, reflect) are streamed as they fire.
                    if request.stream, e.action != .halted {
                        send(shapes.chunk(text: nil, extra: ["redflag": ["event": "flag"].merging(OpenAIResponses.flagEvent(e)) { a, _ in a }]))
                    }
                case .done:
                    break
                }
            }
        } catch {
            let e = APIError(status: 500, message: "generation failed: \(error)", type: "server_error")
            if request.stream {
                send(e.json)
                _ = conn.write(useChunks ? ServerSentEvents.chunk(ServerSentEvents.done) + ServerSentEvents.lastChunk : ServerSentEvents.done)
                return CompletionOutcome(status: 500, tokens: 0, keepConnection: useChunks && !clientGone)
            }
            return fail(e)
        }

        let s = result.stats
        stats.update {
            $0.generations += 1
            $0.promptTokens += s.promptTokens
            $0.generatedTokens += s.generatedTokens
            if clientGone { $0.cancelled += 1 }
            if !result.flags.isEmpty { $0.flagged += 1 }
        }
        if clientGone { return CompletionOutcome(status: 499, tokens: s.generatedTokens, keepConnection: false) }

        if !matcher.stopped {
            let rest = matcher.flush()
            text += rest
            if request.stream, !rest.isEmpty { send(shapes.chunk(text: rest)) }
        }
        let finish = OpenAIResponses.finishReason(s.finishReason)
        let usage = OpenAIResponses.usage(prompt: s.promptTokens, completion: s.generatedTokens)
        let redflag = OpenAIResponses.redflagSummary(flag: flag, events: result.flags, maxProbability: s.maxFlagProbability)

        if request.stream {
            send(shapes.chunk(text: nil, finish: finish, extra: ["redflag": redflag]))
            if request.includeUsage { send(shapes.usageChunk(usage)) }
            let done = useChunks ? ServerSentEvents.chunk(ServerSentEvents.done) + ServerSentEvents.lastChunk : ServerSentEvents.done
            let ok = !clientGone && conn.write(done)
            return CompletionOutcome(status: 200, tokens: s.generatedTokens, keepConnection: ok && useChunks)
        }
        let body = JSONText.bytes(shapes.complete(text: text, finish: finish, usage: usage, redflag: redflag))
        let ok = conn.write(HTTPResponse.json(200, body).bytes(keepAlive: keepAlive))
        return CompletionOutcome(status: 200, tokens: s.generatedTokens, keepConnection: ok)
    }
}
