import Foundation
import RedflagFlag
import RedflagServer
import RedflagTestSupport
import XCTest

/// `CompletionRequest.decode`: accepted OpenAI shapes, our extension, and the field each rejection names.
final class CompletionRequestDecodingTests: XCTestCase {
    func decode(_ json: String, _ endpoint: CompletionRequest.Endpoint = .chat) throws -> CompletionRequest {
        try CompletionRequest.decode(Data(json.utf8), endpoint: endpoint)
    }

    func error(_ json: String, _ endpoint: CompletionRequest.Endpoint = .chat) -> OpenAIRequestError? {
        do { _ = try decode(json, endpoint); return nil } catch { return error as? OpenAIRequestError }
    }

    func testFullChatRequest() throws {
        let r = try decode("""
        {"model":"m","messages":[{"role":"developer","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Hi "},{"type":"text","text":"there"}]},
         {"role":"assistant","content":"Hello","name":"bot"},{"role":"user","content":"Again"}],
         "max_completion_tokens":12,"temperature":0.7,"top_p":0.9,"n":1,"stream":true,"stream_options":{"include_usage":true},
         "stop":["\\n\\n","END"],"seed":-1,"presence_penalty":0.5,"frequency_penalty":0,"user":"u","logprobs":false,
         "top_k":20,"min_p":0.05,"repetition_penalty":1.1,"redflag":{"policy":"monitor","threshold":0.25}}
        """)
        XCTAssertEqual(r.input, .messages([.init(role: .system, content: "Be brief."), .init(role: .user, content: "Hi there"),
                                           .init(role: .assistant, content: "Hello"), .init(role: .user, content: "Again")]))
        XCTAssertEqual(r.model, "m")
        XCTAssertEqual(r.maxTokens, 12)
        XCTAssertEqual(r.temperature, 0.7)
        XCTAssertEqual(r.topP, 0.9)
        XCTAssertEqual(r.topK, 20)
        XCTAssertEqual(r.minP, 0.05)
        XCTAssertEqual(r.repetitionPenalty, 1.1)
        XCTAssertEqual(r.seed, UInt64.max)
        XCTAssertEqual(r.stop, ["\n\n", "END"])
        XCTAssertTrue(r.stream)
        XCTAssertTrue(r.includeUsage)
        XCTAssertEqual(r.presencePenalty, 0.5)
        XCTAssertEqual(r.redflag, .init(policy: .monitor, threshold: 0.25))
    }

    func testCompletionPromptForms() throws {
        XCTAssertEqual(try decode(#"{"prompt":"a","stop":"x","max_tokens":3}"#, .completion).input, .prompt("a"))
        XCTAssertEqual(try decode(#"{"prompt":["b"]}"#, .completion).input, .prompt("b"))
        XCTAssertEqual(try decode(#"{"prompt":"a","stop":"x"}"#, .completion).stop, ["x"])
        XCTAssertEqual(error(#"{"prompt":["a","b"]}"#, .completion)?.param, "prompt")
        XCTAssertEqual(error(#"{"prompt":[1]}"#, .completion)?.param, "prompt")
        XCTAssertEqual(error(#"{}"#, .completion), .missingField("prompt"))
        XCTAssertEqual(error(#"{"prompt":"a","messages":[]}"#, .completion), .unknownField("messages"))
        XCTAssertEqual(error(#"{"messages":[{"role":"user","content":"x"}],"prompt":"a"}"#), .unknownField("prompt"))
    }

    func testRejectionsNameTheField() {
        let cases: [(String, String?)] = [
            (#"{"messages":[{"role":"user","content":"x"}],"foo":1}"#, "foo"),
            (#"{"messages":[{"role":"user","content":"x","tool_calls":[]}]}"#, "messages[0].tool_calls"),
            (#"{"messages":[{"role":"tool","content":"x"}]}"#, "messages[0].role"),
            (#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]}"#, "messages[0].content[0].image_url"),
            (#"{"messages":[{"role":"user","content":[{"type":"image_url"}]}]}"#, "messages[0].content[0].type"),
            (#"{"messages":[{"role":"user"}]}"#, "messages[0].content"),
            (#"{"messages":[]}"#, "messages"),
            (#"{"messages":"hi"}"#, "messages"),
            (#"{"messages":[{"role":"user","content":"x"}],"max_tokens":0}"#, "max_tokens"),
            (#"{"messages":[{"role":"user","content":"x"}],"max_tokens":1.5}"#, "max_tokens"),
            (#"{"messages":[{"role":"user","content":"x"}],"max_tokens":"5"}"#, "max_tokens"),
            (#"{"messages":[{"role":"user","content":"x"}],"max_tokens":true}"#, "max_tokens"),
            (#"{"messages":[{"role":"user","content":"x"}],"temperature":3}"#, "temperature"),
            (#"{"messages":[{"role":"user","content":"x"}],"top_p":0}"#, "top_p"),
            (#"{"messages":[{"role":"user","content":"x"}],"n":2}"#, "n"),
            (#"{"messages":[{"role":"user","content":"x"}],"stream":1}"#, "stream"),
            (#"{"messages":[{"role":"user","content":"x"}],"stop":["a","b","c","d","e"]}"#, "stop"),
            (#"{"messages":[{"role":"user","content":"x"}],"stop":[1]}"#, "stop[0]"),
            (#"{"messages":[{"role":"user","content":"x"}],"logprobs":true}"#, "logprobs"),
            (#"{"messages":[{"role":"user","content":"x"}],"presence_penalty":3}"#, "presence_penalty"),
            (#"{"messages":[{"role":"user","content":"x"}],"stream_options":{"x":1}}"#, "stream_options.x"),
            (#"{"messages":[{"role":"user","content":"x"}],"redflag":{"policy":"block"}}"#, "redflag.policy"),
            (#"{"messages":[{"role":"user","content":"x"}],"redflag":{"threshold":0}}"#, "redflag.threshold"),
            (#"{"messages":[{"role":"user","content":"x"}],"redflag":{"tau":0.5}}"#, "redflag.tau"),
            (#"{"messages":[{"role":"user","content":"x"}],"seed":1e30}"#, "seed"),
        ]
        for (json, param) in cases {
            let e = error(json)
            XCTAssertNotNil(e, json)
            XCTAssertEqual(e?.param, param, json)
            if let p = param { XCTAssertTrue(e?.description.contains(p) ?? false, "message '\(e?.description ?? "")' does not name \(p)") }
        }
    }

    func testMalformedJSON() {
        XCTAssertEqual(error("[1]"), .notAnObject)
        if case .invalidJSON = error("{\"messages\": [") {} else { XCTFail("truncated JSON") }
        if case .invalidJSON = error(String(repeating: "[", count: 100_000)) {} else { XCTFail("deep nesting") }
        if case .invalidJSON = error("") {} else { XCTFail("empty body") }
    }

    /// Random mutations and random bytes: decode returns or throws, never traps.
    func testHostileBytesNeverTrap() {
        var rng = TestRNG(seed: 11)
        let seed = Array(#"{"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"max_tokens":5,"stop":["x"],"redflag":{"policy":"halt","threshold":0.5},"seed":3}"#.utf8)
        for i in 0..<5_000 {
            var b = seed
            if i % 7 == 0 { b = (0..<rng.below(64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }
            for _ in 0...rng.below(3) {
                let tokens: [[UInt8]] = [Array("1e999".utf8), Array("-".utf8), Array("null".utf8), Array("true".utf8), Array("\\u0000".utf8), [0xFF], Array("{".utf8), Array("[".utf8)]
                switch rng.below(3) {
                case 0: if !b.isEmpty { b[rng.below(b.count)] = UInt8(truncatingIfNeeded: rng.next()) }
                case 1: b.insert(contentsOf: tokens[rng.below(tokens.count)], at: rng.below(b.count + 1))
                default: if b.count > 1 { b.remove(at: rng.below(b.count)) }
                }
            }
            _ = try? CompletionRequest.decode(Data(b), endpoint: i % 2 == 0 ? .chat : .completion)
        }
    }
}
