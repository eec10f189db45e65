import Foundation
import RedflagFlag

extension HTTPServer {
    /// Answers one request; returns false when the connection must close (the response was cut short).
    func handle(_ request: HTTPRequest, on conn: Connection, keepAlive: Bool) -> Bool {
        let start = DispatchTime.now().uptimeNanoseconds
        stats.update { $0.requests += 1 }
        var tokens = 0
        func log(_ status: Int) {
            let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            logger.info("\(request.method) \(request.path) \(status) tokens=\(tokens) ms=\(String(format: "%.1f", ms))")
        }
        func respond(_ response: HTTPResponse) -> Bool {
            let ok = conn.write(response.bytes(keepAlive: keepAlive))
            log(response.status)
            return ok
        }

        let route = Route.resolve(method: request.method, path: request.path)
        if route != .health, let key = configuration.apiKey, !Self.authorized(request.header("Authorization"), key: key) {
            return respond(APIError(status: 401, message: "missing or wrong API key: send 'Authorization: Bearer <key>'",
                                    type: "authentication_error", code: "invalid_api_key",
                                    headers: [("WWW-Authenticate", "Bearer")]).response)
        }
        switch route {
        case .notFound:
            return respond(APIError(status: 404, message: "no endpoint \(request.path) (endpoints: POST /v1/completions, POST /v1/chat/completions, GET /v1/models, GET /health)",
                                    code: "not_found").response)
        case let .methodNotAllowed(allowed):
            return respond(APIError(status: 405, message: "\(request.method) is not allowed on \(request.path) (allowed: \(allowed.joined(separator: ", ")))",
                                    code: "method_not_allowed", headers: [("Allow", allowed.joined(separator: ", "))]).response)
        case .health:
            return respond(.json(200, JSONText.bytes(healthJSON)))
        case .models:
            let model: [String: Any] = ["id": engine.modelName, "object": "model", "created": 0, "owned_by": "redflag"]
            return respond(.json(200, JSONText.bytes(["object": "list", "data": [model]] as [String: Any])))
        case .completions, .chatCompletions:
            let endpoint: CompletionRequest.Endpoint = route == .chatCompletions ? .chat : .completion
            let parsed: CompletionRequest
            do { parsed = try CompletionRequest.decode(Data(request.body), endpoint: endpoint) } catch let e as OpenAIRequestError {
                return respond(APIError.badRequest(e).response)
            } catch {
                return respond(APIError(status: 400, message: "\(error)").response)
            }
            let outcome = runCompletion(parsed, on: conn, keepAlive: keepAlive, http11: request.minorVersion >= 1)
            tokens = outcome.tokens
            log(outcome.status)
            return outcome.keepConnection
        }
    }

    var healthJSON: [String: Any] {
        let (busy, queued) = scheduler.state
        var o: [String: Any] = ["status": isStopping ? "stopping" : "ok", "model": engine.modelName, "slots": 1,
                                "running": busy ? 1 : 0, "queued": queued, "queue_size": configuration.queueSize,
                                "context_size": engine.contextSize, "stats": statistics.json]
        if let f = engine.defaultFlag {
            o["redflag"] = ["policy": f.policy.rawValue, "threshold": Double(f.threshold), "token_id": Int(f.tokenID)] as [String: Any]
        }
        return o
    }

    /// `Authorization: Bearer <key>` compared in time independent of where the strings differ.
    static func authorized(_ header: String?, key: String) -> Bool {
        guard let h = header else { return false }
        let presented = Array(h.utf8), expected = Array(("Bearer " + key).utf8)
        var diff = UInt8(presented.count == expected.count ? 0 : 1)
        for i in 0..<expected.count { diff |= expected[i] ^ (i < presented.count ? presented[i] : 0) }
        return diff == 0
    }
}
