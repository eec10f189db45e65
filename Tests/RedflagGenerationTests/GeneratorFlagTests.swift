import Foundation
import RedflagFlag
import RedflagGeneration
import RedflagModel
import RedflagTestSupport
import RedflagTokenizer
import XCTest

/// The red-flag policies of the generation loop on the tiny model whose p(<rf>) first reaches τ at a known
/// response position (`TinyFixture`), for exact and quantized weights.
final class GeneratorFlagTests: XCTestCase {
    /// The generator's fused p(<rf>) vs the fixture's two-pass reference on the plain head (relative).
    static let probabilityTolerance: Float = 1e-4
    /// A threshold every position reaches.
    static let tinyThreshold: Float = 1e-9

    func assertClose(_ a: Float, _ b: Float, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a, b, accuracy: Self.probabilityTolerance * max(abs(a), abs(b)), what, file: file, line: line)
    }

    // MARK: - halt

    func testHaltStopsAtTheKnownPosition() throws {
        for fx in try tinyFixtures() {
            let k = fx.trigger
            let gen = try fx.generator()
            var events: [GenerationEvent] = []
            let r = try gen.generate(prompt: fx.prompt, options: GenerationOptions(maxTokens: 20, flag: fx.flag(.halt))) {
                events.append($0)
            }
            let label = "\(fx.format), trigger \(k)"
            XCTAssertTrue(r.halted, label)
            XCTAssertEqual(r.stats.finishReason, .flagged, label)
            XCTAssertEqual(r.flags.count, 1, label)
            let f = try XCTUnwrap(r.flags.first)
            XCTAssertEqual(f.responseIndex, k, label)
            XCTAssertEqual(f.position, fx.prompt.count + k, label)
            XCTAssertEqual(f.phase, .generated, label)
            XCTAssertEqual(f.action, .halted, label)
            XCTAssertGreaterThanOrEqual(f.probability, fx.threshold, label)
            assertClose(f.probability, fx.probabilities[k], label)
            XCTAssertEqual(r.stats.flags, 1, label)
            XCTAssertEqual(r.stats.generatedTokens, k, label)
            XCTAssertEqual(r.tokens, Array(fx.greedy.prefix(k)), label)
            let partial = try fx.tokenizer.decode(Array(fx.greedy.prefix(k)))
            XCTAssertFalse(partial.isEmpty, label)
            XCTAssertEqual(r.rawText, partial, label)
            XCTAssertEqual(f.textSoFar, partial, label)
            XCTAssertEqual(r.text, GenerationOptions().safeMessage, label)
            // The trace holds every checked position, each matching the reference, all below τ before k.
            XCTAssertEqual(r.flagTrace.count, k + 1, label)
            for (j, p) in r.flagTrace.enumerated() {
                assertClose(p, fx.probabilities[j], "\(label), position \(j)")
                if j < k { XCTAssertLessThan(p, fx.threshold, "\(label), position \(j)") }
            }
            XCTAssertEqual(r.stats.maxFlagProbability, r.flagTrace.max()!, label)

            // Events: k token events, the flag, then done; no token after the flag.
            let flagIndex = try XCTUnwrap(events.firstIndex { if case .flag = $0 { return true } else { return false } }, label)
            XCTAssertEqual(flagIndex, k, label)
            XCTAssertEqual(events.count, k + 2, label)
            for e in events[(flagIndex + 1)...] {
                if case .token = e { XCTFail("token event after the flag (\(label))") }
            }
            guard case let .done(stats)? = events.last else { return XCTFail("last event is not .done (\(label))") }
            XCTAssertEqual(stats.finishReason, .flagged, label)
            let streamed = events.compactMap { e -> String? in if case let .token(_, text, forced) = e, !forced { return text } else { return nil } }
            XCTAssertEqual(streamed.joined(), partial, label)
        }
    }

    func testHaltReturnsPartialTextOrTheCallersSafeMessage() throws {
        for fx in try tinyFixtures() {
            let partial = try fx.tokenizer.decode(Array(fx.greedy.prefix(fx.trigger)))
            var opts = GenerationOptions(maxTokens: 20, flag: fx.flag(.halt))
            opts.returnPartialOnHalt = true
            let r1 = try fx.generator().generate(prompt: fx.prompt, options: opts)
            XCTAssertTrue(r1.halted)
            XCTAssertEqual(r1.text, partial, "\(fx.format)")
            XCTAssertEqual(r1.rawText, partial, "\(fx.format)")

            opts.returnPartialOnHalt = false
            opts.safeMessage = "Flagged: withheld."
            let r2 = try fx.generator().generate(prompt: fx.prompt, options: opts)
            XCTAssertEqual(r2.text, "Flagged: withheld.", "\(fx.format)")
            XCTAssertEqual(r2.rawText, partial, "\(fx.format)")
        }
    }

    func testHaltBeyondMaxTokensDoesNotFire() throws {
        for fx in try tinyFixtures() {
            let r = try fx.generator().generate(prompt: fx.prompt,
                                                options: GenerationOptions(maxTokens: fx.trigger - 1, flag: fx.flag(.halt)))
            XCTAssertFalse(r.halted, "\(fx.format)")
            XCTAssertEqual(r.stats.finishReason, .length)
            XCTAssertTrue(r.flags.isEmpty)
            XCTAssertEqual(r.tokens, Array(fx.greedy.prefix(fx.trigger - 1)))
            XCTAssertEqual(r.text, r.rawText)
        }
    }

    // MARK: - monitor, off

    func testMonitorReportsAndContinuesLikeTheUnguardedRun() throws {
        for fx in try tinyFixtures() {
            let n = TinyFixture.recordedSteps
            let off = try fx.generator().generate(prompt: fx.prompt, options: GenerationOptions(maxTokens: n, flag: fx.flag(.off)))
            XCTAssertEqual(off.tokens, fx.greedy, "\(fx.format): unguarded greedy run")
            XCTAssertTrue(off.flags.isEmpty)
            XCTAssertEqual(off.stats.finishReason, .length)
            XCTAssertEqual(off.flagTrace.count, n + 1, "policy off still computes p(<rf>)")

            let mon = try fx.generator().generate(prompt: fx.prompt, options: GenerationOptions(maxTokens: n, flag: fx.flag(.monitor)))
            let label = "\(fx.format)"
            XCTAssertEqual(mon.tokens, off.tokens, label)
            XCTAssertEqual(mon.text, off.text, label)
            XCTAssertEqual(mon.stats.finishReason, .length, label)
            XCTAssertEqual(mon.stats.generatedTokens, n, label)
            XCTAssertFalse(mon.halted)
            let first = try XCTUnwrap(mon.flags.first, label)
            XCTAssertEqual(first.responseIndex, fx.trigger, label)
            XCTAssertEqual(first.action, .reported, label)
            XCTAssertEqual(first.textSoFar, try fx.tokenizer.decode(Array(fx.greedy.prefix(fx.trigger))), label)
            XCTAssertTrue(mon.flags.allSatisfy { $0.action == .reported && $0.phase == .generated }, label)
            XCTAssertEqual(mon.stats.flags, mon.flags.count, label)
            // Exactly the positions whose reference p reaches τ (positions within the tolerance of τ are skipped).
            let fired = Set(mon.flags.map(\.responseIndex))
            for (j, p) in fx.probabilities.enumerated() where abs(p - fx.threshold) > Self.probabilityTolerance * fx.threshold {
                XCTAssertEqual(fired.contains(j), p >= fx.threshold, "\(label): position \(j), p \(p), τ \(fx.threshold)")
            }
            for f in mon.flags {
                XCTAssertEqual(f.position, fx.prompt.count + f.responseIndex, label)
                assertClose(f.probability, fx.probabilities[f.responseIndex], label)
            }
        }
    }

    // MARK: - reflect

    func testReflectAppendsTheFlagTokenOnceAndContinues() throws {
        for fx in try tinyFixtures() {
            let k = fx.trigger, n = 16
            let gen = try fx.generator()
            let r = try gen.generate(prompt: fx.prompt, options: GenerationOptions(maxTokens: n, flag: fx.flag(.reflect)))
            let label = "\(fx.format), trigger \(k)"
            let first = try XCTUnwrap(r.flags.first, label)
            XCTAssertEqual(first.responseIndex, k, label)
            XCTAssertEqual(first.action, .reflected, label)
            XCTAssertEqual(first.phase, .generated, label)
            XCTAssertEqual(r.flags.filter { $0.action == .reflected }.count, 1, label)
            XCTAssertTrue(r.flags.dropFirst().allSatisfy { $0.action == .reported }, label)
            XCTAssertFalse(r.halted, label)
            XCTAssertEqual(r.stats.finishReason, .length, label)
            XCTAssertEqual(r.stats.generatedTokens, n, label)
            XCTAssertEqual(Array(r.tokens.prefix(k)), Array(fx.greedy.prefix(k)), label)
            XCTAssertFalse(r.tokens.contains(TinyModel.flagTokenID), label)
            // The context: prompt, the first k tokens, <rf>, then the rest of the response (each evaluated).
            let ctx = gen.context.tokens
            XCTAssertEqual(ctx.count, fx.prompt.count + n + 1, label)
            XCTAssertEqual(Array(ctx.prefix(fx.prompt.count + k)), fx.prompt + fx.greedy.prefix(k), label)
            XCTAssertEqual(ctx[first.position], TinyModel.flagTokenID, label)
            XCTAssertEqual(first.position, fx.prompt.count + k, label)
            XCTAssertEqual(ctx.filter { $0 == TinyModel.flagTokenID }.count, 1, label)
            XCTAssertEqual(Array(ctx.suffix(n - k)), Array(r.tokens.suffix(n - k)), label)
        }
    }

    func testReflectionsAreCappedAndLaterFlagsOnlyReported() throws {
        for fx in try tinyFixtures() {
            for cap in [1, 2] {
                let n = 6
                let gen = try fx.generator()
                let r = try gen.generate(prompt: fx.prompt, options: GenerationOptions(
                    maxTokens: n, flag: fx.flag(.reflect, threshold: Self.tinyThreshold, maxReflections: cap)))
                let label = "\(fx.format), maxReflections \(cap)"
                // Every check fires: the first response position and each generated token.
                XCTAssertEqual(r.flags.count, n + 1, label)
                XCTAssertEqual(r.flags.map(\.responseIndex), Array(0...n), label)
                XCTAssertEqual(r.flags.prefix(cap).map(\.action), [FlagAction](repeating: .reflected, count: cap), label)
                XCTAssertTrue(r.flags.dropFirst(cap).allSatisfy { $0.action == .reported }, label)
                XCTAssertEqual(r.flags[0].phase, .firstResponse, label)
                XCTAssertEqual(r.stats.generatedTokens, n, label)
                let ctx = gen.context.tokens
                XCTAssertEqual(ctx.filter { $0 == TinyModel.flagTokenID }.count, cap, label)
                for f in r.flags.prefix(cap) { XCTAssertEqual(ctx[f.position], TinyModel.flagTokenID, label) }
                XCTAssertEqual(ctx.count, fx.prompt.count + n + cap, label)
            }
        }
    }

    func testReflectionWithoutRoomIsOnlyReported() throws {
        for fx in try tinyFixtures() {
            // Room for <rf> at the first response position, then no room for another (it would leave none for a token).
            let gen = try fx.generator(contextSize: fx.prompt.count + 3)
            let r = try gen.generate(prompt: fx.prompt, options: GenerationOptions(
                maxTokens: 10, flag: fx.flag(.reflect, threshold: Self.tinyThreshold, maxReflections: 3)))
            let label = "\(fx.format)"
            XCTAssertEqual(r.flags.map(\.action), [.reflected, .reported, .reported], label)
            let ctx = gen.context.tokens
            XCTAssertEqual(ctx.count, fx.prompt.count + 3, label)
            XCTAssertEqual(ctx[fx.prompt.count], TinyModel.flagTokenID, label)
            // Every reported reflection is in the context.
            XCTAssertEqual(ctx.filter { $0 == TinyModel.flagTokenID }.count, r.flags.filter { $0.action == .reflected }.count, label)
            XCTAssertEqual(r.stats.finishReason, .length, label)
        }
    }

    // MARK: - first response, prefill

    func testFirstResponseCheckHaltsBeforeAnyToken() throws {
        for fx in try tinyFixtures() {
            for prefill in [nil, "abc"] {
                var events: [GenerationEvent] = []
                var opts = GenerationOptions(maxTokens: 10, flag: fx.flag(.halt, threshold: Self.tinyThreshold))
                opts.prefill = prefill
                let r = try fx.generator().generate(prompt: fx.prompt, options: opts) { events.append($0) }
                let label = "\(fx.format), prefill \(prefill ?? "none")"
                XCTAssertTrue(r.halted, label)
                XCTAssertEqual(r.flags.count, 1, label)
                XCTAssertEqual(r.flags[0].responseIndex, 0, label)
                XCTAssertEqual(r.flags[0].phase, .firstResponse, label)
                XCTAssertEqual(r.flags[0].position, fx.prompt.count, label)
                assertClose(r.flags[0].probability, fx.probabilities[0], label)
                XCTAssertTrue(r.tokens.isEmpty, label)
                XCTAssertEqual(r.stats.generatedTokens, 0, label)
                XCTAssertEqual(r.rawText, "", label)
                XCTAssertEqual(r.text, opts.safeMessage, label)
                XCTAssertEqual(events.map(describe).count, 2, label)
                XCTAssertFalse(events.contains { if case .token = $0 { return true } else { return false } }, label)
            }
        }
    }

    func testPrefillPositionsAreScanned() throws {
        for fx in try tinyFixtures() {
            let k = fx.trigger
            // Prefilled text covering the trigger: the flag fires inside it.
            let prefillTokens = Array(fx.greedy.prefix(k + 2))
            let prefill = try fx.tokenizer.decode(prefillTokens)
            XCTAssertEqual(fx.tokenizer.encode(prefill, addBOS: false), prefillTokens)
            var events: [GenerationEvent] = []
            var opts = GenerationOptions(maxTokens: 10, flag: fx.flag(.halt), prefill: prefill)
            let r = try fx.generator().generate(prompt: fx.prompt, options: opts) { events.append($0) }
            let label = "\(fx.format), trigger \(k)"
            XCTAssertTrue(r.halted, label)
            let f = try XCTUnwrap(r.flags.first, label)
            XCTAssertEqual(r.flags.count, 1, label)
            XCTAssertEqual(f.phase, .prefill, label)
            XCTAssertEqual(f.responseIndex, k, label)
            XCTAssertEqual(f.position, fx.prompt.count + k, label)
            assertClose(f.probability, fx.probabilities[k], label)
            XCTAssertEqual(r.tokens, Array(fx.greedy.prefix(k)), label)
            XCTAssertEqual(r.stats.generatedTokens, 0, label)
            let forced = events.compactMap { e -> Bool? in if case let .token(_, _, forced) = e { return forced } else { return nil } }
            XCTAssertEqual(forced, [Bool](repeating: true, count: k), label)

            // Monitor through the prefill and on into generation: the continuation is the greedy one.
            opts.flag = fx.flag(.monitor)
            opts.maxTokens = 4
            let m = try fx.generator().generate(prompt: fx.prompt, options: opts)
            XCTAssertEqual(m.tokens, Array(fx.greedy.prefix(k + 2 + 4)), label)
            XCTAssertEqual(m.stats.generatedTokens, 4, label)
            XCTAssertEqual(m.flags.first?.responseIndex, k, label)
            XCTAssertEqual(m.flags.first?.phase, .prefill, label)
            for fl in m.flags {
                XCTAssertEqual(fl.phase, fl.responseIndex <= k + 2 ? .prefill : .generated, "\(label), index \(fl.responseIndex)")
            }

            // Prefill ending before the trigger: the flag fires on a generated token.
            opts.prefill = try fx.tokenizer.decode(Array(fx.greedy.prefix(k - 1)))
            opts.flag = fx.flag(.halt)
            let g = try fx.generator().generate(prompt: fx.prompt, options: opts)
            XCTAssertEqual(g.flags.first?.responseIndex, k, label)
            XCTAssertEqual(g.flags.first?.phase, .generated, label)
            XCTAssertEqual(g.stats.generatedTokens, 1, label)
            XCTAssertEqual(g.tokens, Array(fx.greedy.prefix(k)), label)
        }
    }

    // MARK: - <rf> is never emitted

    func testFlagTokenIsNeverSampled() throws {
        // A model whose <rf> logit dwarfs every other at every position: every final hidden state has a large
        // positive component 0 (shared by all piece embeddings), and the <rf> row points along it.
        var spec = TinyModel.Spec()
        spec.commonComponent = 3
        var row = [Float](repeating: 0, count: spec.hidden)
        row[0] = 12
        spec.flagRow = row
        for format in WeightFormat.allCases {
            let (model, tokenizer) = try TinyFixture.load(spec, format: format)
            let prompt = tokenizer.encode(TinyFixture.promptText)
            for seed in UInt64(1)...12 {
                let ctx = try InferenceContext(model: model, contextSize: 128, threads: 1)
                let gen = Generator(model: model, tokenizer: tokenizer, context: ctx)
                var opts = GenerationOptions(maxTokens: 24, sampler: SamplerOptions(temperature: 1, topK: 0, seed: seed),
                                             flag: FlagConfiguration(tokenID: TinyModel.flagTokenID, policy: seed % 2 == 0 ? .off : .monitor))
                opts.flag?.threshold = 0.5
                let r = try gen.generate(prompt: prompt, options: opts)
                let label = "\(format), seed \(seed)"
                XCTAssertEqual(r.tokens.count, 24, label)
                XCTAssertFalse(r.tokens.contains(TinyModel.flagTokenID), label)
                XCTAssertFalse(r.text.contains("<unused0>"), label)
                XCTAssertFalse(try tokenizer.decode(r.tokens, renderSpecial: true).contains("<unused0>"), label)
                // Unmasked, <rf> would have been the likeliest token at every position.
                XCTAssertGreaterThan(r.flagTrace.min() ?? 0, 0.99, label)
                if opts.flag?.policy == .monitor { XCTAssertEqual(r.flags.count, 25, label) }
            }
        }
    }

    func testTypedFlagTextIsNotTheFlagToken() throws {
        let fx = try exactFixture()
        let tok = fx.tokenizer
        XCTAssertEqual(tok.id(of: "<unused0>"), TinyModel.flagTokenID)
        for text in ["<unused0>", "a<unused0>b", "<start_of_turn>user <unused0><end_of_turn>"] {
            let plain = tok.encode(text, addBOS: false)
            XCTAssertFalse(plain.contains(TinyModel.flagTokenID), text)
            XCTAssertFalse(plain.contains(TinyModel.startOfTurnID), text)
            XCTAssertFalse(plain.contains(TinyModel.endOfTurnID), text)
            XCTAssertEqual(try tok.decode(plain), text, "typed text round-trips as text")
            let special = tok.encode(text, addBOS: false, parseSpecial: true)
            XCTAssertEqual(special.filter { $0 == TinyModel.flagTokenID }.count, 1, text)
        }
        XCTAssertEqual(tok.encode("<unused0>", addBOS: false, parseSpecial: true), [TinyModel.flagTokenID])
        // '<', '0', '>' are not pieces: byte fallback; the letters are pieces.
        XCTAssertEqual(tok.encode("<unused0>", addBOS: false),
                       [TinyModel.firstByteID + 0x3C] + "unused".map { tok.id(of: String($0))! } + [TinyModel.firstByteID + 0x30, TinyModel.firstByteID + 0x3E])

        // A prompt with the typed text: the context never holds the flag token.
        let gen = try fx.generator()
        let prompt = tok.encode("the <unused0> flag")
        _ = try gen.generate(prompt: prompt, options: GenerationOptions(maxTokens: 4, flag: fx.flag(.monitor)))
        XCTAssertFalse(gen.context.tokens.contains(TinyModel.flagTokenID))
    }

    // MARK: - errors

    func testPromptLongerThanTheContext() throws {
        let fx = try exactFixture()
        let gen = try fx.generator(contextSize: 16)
        let long = [TinyModel.bosID] + [Int32](repeating: TinyModel.firstNormalID + 1, count: 19)
        XCTAssertThrowsError(try gen.generate(prompt: long, options: GenerationOptions(maxTokens: 4))) { e in
            XCTAssertEqual(e as? GenerationError, .promptTooLong(tokens: 20, contextSize: 16))
            let msg = "\(e)"
            XCTAssertTrue(msg.contains("20") && msg.contains("16"), msg)
        }
        // Exactly the context size leaves no room for a response.
        let full = Array(long.prefix(16))
        XCTAssertThrowsError(try gen.generate(prompt: full, options: GenerationOptions(maxTokens: 4))) { e in
            XCTAssertEqual(e as? GenerationError, .promptTooLong(tokens: 16, contextSize: 16))
        }
        // Prompt plus prefill counts.
        var opts = GenerationOptions(maxTokens: 4)
        opts.prefill = "abcdefghij"
        XCTAssertThrowsError(try gen.generate(prompt: Array(long.prefix(10)), options: opts)) { e in
            XCTAssertEqual(e as? GenerationError, .promptTooLong(tokens: 20, contextSize: 16))
        }
        XCTAssertThrowsError(try gen.generate(prompt: [], options: GenerationOptions())) { e in
            XCTAssertEqual(e as? GenerationError, .emptyPrompt)
        }
        // A prompt that fits still works on the same generator.
        let ok = try gen.generate(prompt: Array(long.prefix(15)), options: GenerationOptions(maxTokens: 4))
        XCTAssertEqual(ok.stats.promptTokens, 15)
        XCTAssertEqual(ok.stats.finishReason, .length)
        // Position 15 takes the first token; the second is sampled from its logits but cannot be evaluated.
        XCTAssertEqual(ok.tokens.count, 2)
    }

    func testInvalidOptionsNameTheField() throws {
        let fx = try exactFixture()
        let gen = try fx.generator()
        func expectInvalid(_ field: String, _ value: String, file: StaticString = #filePath, line: UInt = #line,
                           _ edit: (inout GenerationOptions) -> Void) {
            var opts = GenerationOptions(maxTokens: 4, flag: fx.flag(.halt))
            edit(&opts)
            XCTAssertThrowsError(try gen.generate(prompt: fx.prompt, options: opts), file: file, line: line) { e in
                guard case let .invalidOption(name, v, _)? = e as? GenerationError else {
                    return XCTFail("expected invalidOption for \(field), got \(e)", file: file, line: line)
                }
                XCTAssertEqual(name, field, file: file, line: line)
                XCTAssertEqual(v, value, file: file, line: line)
                let msg = "\(e)"
                XCTAssertTrue(msg.contains(field) && msg.contains(value), msg, file: file, line: line)
            }
        }
        expectInvalid("temperature", "-1.0") { $0.sampler.temperature = -1 }
        expectInvalid("temperature", "inf") { $0.sampler.temperature = .infinity }
        expectInvalid("top-p", "0.0") { $0.sampler.topP = 0 }
        expectInvalid("top-p", "1.5") { $0.sampler.topP = 1.5 }
        expectInvalid("min-p", "1.0") { $0.sampler.minP = 1 }
        expectInvalid("min-p", "-0.1") { $0.sampler.minP = -0.1 }
        expectInvalid("repetition penalty", "0.0") { $0.sampler.repetitionPenalty = 0 }
        expectInvalid("repetition window", "-1") { $0.sampler.repetitionWindow = -1 }
        expectInvalid("max tokens", "-1") { $0.maxTokens = -1 }
        expectInvalid("flag threshold", "0.0") { $0.flag?.threshold = 0 }
        expectInvalid("flag threshold", "1.5") { $0.flag?.threshold = 1.5 }
        expectInvalid("flag threshold", "nan") { $0.flag?.threshold = .nan }
        var opts = GenerationOptions(maxTokens: 4, flag: fx.flag(.halt))
        opts.flag?.tokenID = Int32(TinyModel.vocabularySize)
        XCTAssertThrowsError(try gen.generate(prompt: fx.prompt, options: opts)) { e in
            XCTAssertEqual(e as? GenerationError, .unknownFlagToken("\(TinyModel.vocabularySize)"))
        }
        // Nothing was evaluated by the rejected calls.
        XCTAssertEqual(gen.context.position, 0)
    }
}
