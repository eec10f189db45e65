import Foundation
import RedflagServer

/// The server's request handling before any model work: `HTTPRequestParser` on arbitrary bytes, then the OpenAI
/// request decoder on the body. Byte 0: bit 0 set → the rest is an HTTP request (its body, when complete, is decoded
/// for the endpoint its target names, else for bit 1: chat or completion); bit 0 clear → the rest is a JSON body.
///
/// Properties: the parser answers `.incomplete`, `.complete` (consuming no more than it was given, the body exactly
/// `Content-Length` bytes) or an `HTTPParseError` with a 4xx/5xx status; the decoder answers a request or an
/// `OpenAIRequestError`; nothing traps.
let parser = HTTPRequestParser(limits: .init(maxHeaderBytes: 4096, maxHeaderCount: 32, maxBodyBytes: 32 << 10))

func decodeBody(_ body: [UInt8], _ endpoint: CompletionRequest.Endpoint) {
    do {
        _ = try CompletionRequest.decode(Data(body), endpoint: endpoint)
    } catch let e as OpenAIRequestError {
        _ = "\(e)"
    } catch {
        fatalError("decoder threw a non-OpenAIRequestError: \(error)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size >= 1 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let fallback: CompletionRequest.Endpoint = data[0] & 2 != 0 ? .chat : .completion
    guard data[0] & 1 != 0 else {
        decodeBody(bytes, fallback)
        return 0
    }
    do {
        switch try parser.parse(bytes) {
        case .incomplete:
            break
        case let .complete(request, consumed):
            precondition(consumed <= bytes.count, "consumed \(consumed) of \(bytes.count) bytes")
            precondition(request.body.count <= parser.limits.maxBodyBytes)
            decodeBody(request.body, CompletionRequest.Endpoint(rawValue: request.path) ?? fallback)
        }
    } catch let e as HTTPParseError {
        precondition([400, 411, 413, 431, 505].contains(e.status), "status \(e.status) for \(e)")
    } catch {
        fatalError("parser threw a non-HTTPParseError: \(error)")
    }
    return 0
}

func fuzzWarmUp() {}

/// Seeds: valid chat and completion requests (plain, streamed, with the redflag extension), malformed heads,
/// chunked bodies, conflicting lengths, deep JSON.
func fuzzSeeds() -> [(String, [UInt8])] {
    let chat = #"{"model":"gemma","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi <start_of_turn>"}],"max_tokens":16,"temperature":0.7,"top_p":0.9,"stream":true,"stop":["\n"],"seed":1,"redflag":{"policy":"halt","threshold":0.5}}"#
    let completion = #"{"prompt":["The capital of France is"],"max_tokens":8,"top_k":40,"min_p":0.05,"repetition_penalty":1.1,"n":1,"logprobs":null}"#
    func http(_ path: String, _ body: String, extra: String = "") -> [UInt8] {
        Array("POST \(path) HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\(extra)Content-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
    }
    return [
        ("chat.json", [2] + chat.bytes),
        ("completion.json", [0] + completion.bytes),
        ("deep.json", [0] + Array((String(repeating: "[", count: 40) + String(repeating: "]", count: 40)).utf8)),
        ("http-chat", [1] + http("/v1/chat/completions", chat)),
        ("http-completion", [1] + http("/v1/completions", completion, extra: "Authorization: Bearer x\r\nExpect: 100-continue\r\n")),
        ("http-get", [1] + Array("GET /v1/models HTTP/1.0\n\n".utf8)),
        ("http-chunked", [1] + Array("POST /v1/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".utf8)),
        ("http-two-lengths", [1] + Array("POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}".utf8)),
        ("http-obs-fold", [1] + Array("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n".utf8)),
    ]
}
