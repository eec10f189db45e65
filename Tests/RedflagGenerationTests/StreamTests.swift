import Dispatch
import Foundation
import RedflagFlag
import RedflagGeneration
import RedflagTestSupport
import XCTest

/// `Generator.stream(prompt:options:)`: the same events as the blocking call, and early exit cancels.
final class StreamTests: XCTestCase {
    /// A generation that cancellation must cut short runs this many tokens when left alone
    /// (tens of seconds on the tiny model; cancelled, it stops within one token).
    static let longRunTokens = 30_000
    /// After breaking out of the stream, a new short generation on the same generator must finish within this.
    static let promptAfterCancelSeconds = 5.0

    func collect(_ stream: AsyncThrowingStream<GenerationEvent, Error>) async throws -> [GenerationEvent] {
        var out: [GenerationEvent] = []
        for try await e in stream { out.append(e) }
        return out
    }

    func testStreamYieldsTheBlockingCallsEvents() async throws {
        for fx in try tinyFixtures() {
            for (policy, maxTokens) in [(FlagPolicy.monitor, 12), (.halt, 12), (.reflect, 10)] {
                let opts = GenerationOptions(maxTokens: maxTokens, flag: fx.flag(policy))
                var blocking: [GenerationEvent] = []
                let r = try fx.generator().generate(prompt: fx.prompt, options: opts) { blocking.append($0) }
                let streamed = try await collect(fx.generator().stream(prompt: fx.prompt, options: opts))
                let label = "\(fx.format), \(policy)"
                XCTAssertEqual(streamed.map(describe), blocking.map(describe), label)
                XCTAssertGreaterThan(streamed.count, 3, label)
                guard case let .done(stats)? = streamed.last else { XCTFail("stream did not end with .done (\(label))"); continue }
                XCTAssertEqual(stats.finishReason, r.stats.finishReason, label)
                XCTAssertEqual(stats.finishReason, policy == .halt ? .flagged : .length, label)
                let tokens = streamed.compactMap { e -> Int32? in if case let .token(id, _, _) = e { return id } else { return nil } }
                XCTAssertEqual(tokens, r.tokens, label)
                let flags = streamed.compactMap { e -> FlagEvent? in if case let .flag(f) = e { return f } else { return nil } }
                XCTAssertEqual(flags, r.flags, label)
                XCTAssertEqual(flags.first?.responseIndex, fx.trigger, label)
            }
        }
    }

    func testStreamThrowsTheGenerationError() async throws {
        let fx = try exactFixture()
        var opts = GenerationOptions(maxTokens: 4)
        opts.sampler.topP = 2
        do {
            _ = try await collect(fx.generator().stream(prompt: fx.prompt, options: opts))
            XCTFail("expected an error")
        } catch let e as GenerationError {
            guard case let .invalidOption(name, _, _) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(name, "top-p")
        }
    }

    func testBreakingOutOfTheStreamCancelsTheGeneration() async throws {
        let fx = try exactFixture()
        let gen = try fx.generator(contextSize: Self.longRunTokens + 64)
        let long = GenerationOptions(maxTokens: Self.longRunTokens, flag: fx.flag(.off))
        var seen: [Int32] = []
        for try await e in gen.stream(prompt: fx.prompt, options: long) {
            if case let .token(id, _, _) = e {
                seen.append(id)
                if seen.count == 3 { break }
            }
        }
        XCTAssertEqual(seen, Array(fx.greedy.prefix(3)))

        // The abandoned generation stops at its next token; a new one on the same generator then runs at once
        // (it waits for the old one to leave the generator) and sees a consistent context.
        let start = DispatchTime.now().uptimeNanoseconds
        let r = try gen.generate(prompt: fx.prompt, options: GenerationOptions(maxTokens: 6, flag: fx.flag(.off)))
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        XCTAssertLessThan(seconds, Self.promptAfterCancelSeconds)
        XCTAssertEqual(r.tokens, Array(fx.greedy.prefix(6)))
        XCTAssertEqual(r.stats.finishReason, .length)
        XCTAssertEqual(gen.context.tokens, fx.prompt + fx.greedy.prefix(6))
    }

    func testCancellationTokenStopsABlockingGeneration() throws {
        let fx = try exactFixture()
        let cancel = CancellationToken()
        var count = 0
        let r = try fx.generator().generate(prompt: fx.prompt, options: GenerationOptions(maxTokens: 20, flag: fx.flag(.off)),
                                            cancel: cancel) { e in
            if case .token = e { count += 1; if count == 5 { cancel.cancel() } }
        }
        XCTAssertEqual(r.stats.finishReason, .cancelled)
        XCTAssertEqual(r.tokens, Array(fx.greedy.prefix(5)))
        XCTAssertEqual(r.text, r.rawText)
    }
}
