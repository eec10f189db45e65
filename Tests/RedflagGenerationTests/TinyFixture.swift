import Foundation
import RedflagFlag
import RedflagGGUF
import RedflagGeneration
import RedflagKernels
import RedflagModel
import RedflagTestSupport
import RedflagTokenizer
import XCTest

/// The tiny synthetic model (`TinyModel`) with its `<rf>` row constructed so that, on the greedy continuation of
/// `promptText`, p(<rf>) first reaches τ at a known response position `trigger`.
///
/// Construction, per weight format (each format computes its own hidden states):
/// 1. With a zero `<rf>` row, run the prompt and `recordedSteps` greedy steps (id 6 masked, as the generator
///    does), recording each final hidden state `h_j` and the log-sum-exp `L_j` of the other logits.
/// 2. For each candidate `k`, let `u` be the part of `h_k` orthogonal to `h_0 … h_{k−1}`; the row `α·û` with
///    `α = (L_k + triggerLogitMargin)/(û·h_k)` scores 0 before `k` and `L_k + triggerLogitMargin` at `k`, predicting
///    `p_j = σ(row·h_j − L_j)`; candidates are ranked by `log p_k − log max_{j<k} p_j`.
/// 3. The model is rebuilt with that row (it changes neither the hidden states nor any other logit, so the
///    masked greedy run is unchanged) and p(<rf>) is recomputed with the engine's plain logits
///    (`InferenceContext.logits(row:into:)`) and `FusedLMHead.referenceReading`; τ is the geometric mean of
///    `p_k` and `max_{j<k} p_j`, and the crossing must clear τ by `crossingMargin` on both sides.
final class TinyFixture: @unchecked Sendable {
    static let promptText = "the red flag"
    /// Greedy steps recorded (tests generate at most this many tokens when they compare with `greedy`).
    static let recordedSteps = 24
    /// Every greedy step's top-1/top-2 logit gap must exceed this, so the generator's fused head (a different
    /// summation order than the plain head on the f32 path) picks the same tokens.
    static let minGreedyGap: Float = 0.01
    /// The `<rf>` logit at the trigger exceeds the log-sum-exp of the other logits by this (p ≈ 0.95).
    static let triggerLogitMargin: Float = 3
    /// p at the trigger ≥ τ·(1 + margin); p before it ≤ τ·(1 − margin).
    static let crossingMargin: Float = 0.05
    static let candidateTriggers = 4...10
    static let threads = 2
    static let contextSize = 256

    let format: WeightFormat
    let spec: TinyModel.Spec
    let model: Gemma3Model
    let tokenizer: Tokenizer
    /// BOS + `promptText`.
    let prompt: [Int32]
    /// The masked greedy continuation, `recordedSteps` tokens.
    let greedy: [Int32]
    /// Reference p(<rf>) at response positions `0...recordedSteps` (index j: after j generated tokens).
    let probabilities: [Float]
    /// k: the first response position where p(<rf>) ≥ τ.
    let trigger: Int
    /// τ.
    let threshold: Float

    struct ConstructionFailed: Error, CustomStringConvertible { let description: String }

    private init(format: WeightFormat, spec: TinyModel.Spec, model: Gemma3Model, tokenizer: Tokenizer, prompt: [Int32],
                 greedy: [Int32], probabilities: [Float], trigger: Int, threshold: Float) {
        self.format = format
        self.spec = spec
        self.model = model
        self.tokenizer = tokenizer
        self.prompt = prompt
        self.greedy = greedy
        self.probabilities = probabilities
        self.trigger = trigger
        self.threshold = threshold
    }

    static let exact = Result { try make(format: .exact) }
    static let quantized = Result { try make(format: .quantized) }

    /// A fresh generator on a fresh context.
    func generator(contextSize: Int = TinyFixture.contextSize) throws -> Generator {
        let ctx = try InferenceContext(model: model, contextSize: contextSize, threads: Self.threads)
        return Generator(model: model, tokenizer: tokenizer, context: ctx)
    }

    func flag(_ policy: FlagPolicy, threshold: Float? = nil, maxReflections: Int = 1) -> FlagConfiguration {
        FlagConfiguration(tokenID: TinyModel.flagTokenID, threshold: threshold ?? self.threshold, policy: policy,
                          maxReflections: maxReflections)
    }

    /// Loads a tiny model.
    static func load(_ spec: TinyModel.Spec, format: WeightFormat) throws -> (Gemma3Model, Tokenizer) {
        let gguf = try TinyModel.gguf(spec)
        return (try Gemma3Model(gguf: gguf, format: format, threads: threads), try Tokenizer(gguf: gguf))
    }

    struct Trace {
        var tokens: [Int32] = []
        var hidden: [[Float]] = []
        /// log Σ exp over every logit except the flag token's.
        var othersLSE: [Float] = []
        /// Reference p(<rf>) per response position.
        var probabilities: [Float] = []
        var gaps: [Float] = []
    }

    /// The masked greedy run of `steps` tokens with the plain head, recording what the construction needs.
    static func trace(_ model: Gemma3Model, prompt: [Int32], steps: Int) throws -> Trace {
        let ctx = try InferenceContext(model: model, contextSize: contextSize, threads: threads)
        // as Generator.prime does: the prompt but its last token as a batch, then the last token on its own
        if prompt.count > 1 { try ctx.evaluate(Array(prompt.dropLast())) }
        try ctx.evaluate([prompt[prompt.count - 1]])
        let n = model.config.vocabularySize, d = model.config.hiddenSize, f = Int(TinyModel.flagTokenID)
        var logits = [Float](repeating: 0, count: n)
        var t = Trace()
        for j in 0...steps {
            t.hidden.append(Array(UnsafeBufferPointer(start: ctx.hidden, count: d)))
            logits.withUnsafeMutableBufferPointer { ctx.logits(row: 0, into: $0.baseAddress!) }
            t.probabilities.append(FusedLMHead.referenceReading(logits: logits, count: n, flagToken: TinyModel.flagTokenID).probability)
            logits[f] = -.infinity
            t.othersLSE.append(FusedLMHead.referenceReading(logits: logits, count: n, flagToken: nil).logSumExp)
            if j == steps { break }
            var best = 0, second = -Float.infinity
            for i in 1..<n where logits[i] > logits[best] { best = i }
            for i in 0..<n where i != best { second = max(second, logits[i]) }
            t.gaps.append(logits[best] - second)
            t.tokens.append(Int32(best))
            try ctx.evaluate(token: Int32(best))
        }
        return t
    }

    /// `v` minus its projection on the span of `basis` (Gram–Schmidt in float64): a direction whose dot product
    /// with every vector of `basis` is 0.
    static func orthogonalPart(of v: [Float], to basis: [[Float]]) -> [Float] {
        var q: [[Double]] = []
        for b in basis {
            var x = b.map(Double.init)
            for e in q { let c = zip(x, e).reduce(0) { $0 + $1.0 * $1.1 }; for i in x.indices { x[i] -= c * e[i] } }
            let n = x.reduce(0) { $0 + $1 * $1 }.squareRoot()
            if n > 1e-9 { q.append(x.map { $0 / n }) }
        }
        var r = v.map(Double.init)
        for _ in 0..<2 {   // twice, for orthogonality to rounding
            for e in q { let c = zip(r, e).reduce(0) { $0 + $1.0 * $1.1 }; for i in r.indices { r[i] -= c * e[i] } }
        }
        return r.map { Float($0) }
    }

    /// Seed of the tiny model's weights: one whose masked greedy run has no near-tie (gap ≥ `minGreedyGap`)
    /// in either format.
    static let fixtureSeed: UInt64 = 5

    static func make(format: WeightFormat) throws -> TinyFixture {
        var spec = TinyModel.Spec()
        spec.seed = fixtureSeed
        let (base, tokenizer) = try load(spec, format: format)
        let prompt = tokenizer.encode(promptText, addBOS: true)
        let t0 = try trace(base, prompt: prompt, steps: recordedSteps)
        if let g = t0.gaps.min(), g < minGreedyGap {
            throw ConstructionFailed(description: "\(format): greedy gap \(g) below \(minGreedyGap); pick another seed")
        }
        func dot(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

        // Rank the candidate trigger positions by the predicted separation.
        var ranked: [(k: Int, score: Float, row: [Float])] = []
        for k in candidateTriggers {
            let u = orthogonalPart(of: t0.hidden[k], to: Array(t0.hidden[..<k]))
            let un = dot(u, u).squareRoot()
            let uk = dot(u, t0.hidden[k]) / un
            guard un > 0, uk > 0 else { continue }
            let alpha = (t0.othersLSE[k] + triggerLogitMargin) / uk
            let row = u.map { alpha * $0 / un }
            let p = (0...k).map { j -> Float in 1 / (1 + exp(t0.othersLSE[j] - dot(row, t0.hidden[j]))) }
            let before = p[..<k].max()!
            ranked.append((k, log(p[k]) - log(before), row))
        }
        ranked.sort { $0.score > $1.score }

        var report: [String] = []
        for cand in ranked.prefix(4) {
            spec.flagRow = cand.row
            let (model, tok) = try load(spec, format: format)
            let t = try trace(model, prompt: prompt, steps: recordedSteps)
            guard t.tokens == t0.tokens else {
                throw ConstructionFailed(description: "\(format): the <rf> row changed the masked greedy run")
            }
            let k = cand.k, p = t.probabilities
            let before = p[..<k].max()!
            let tau = (p[k] * before).squareRoot()
            if p[k] >= tau * (1 + crossingMargin), before <= tau * (1 - crossingMargin), p[k] >= 0.5 {
                // The fixture's invariants, checked once more as the tests rely on them.
                let pieces = Array(t.tokens.prefix(k + 2))
                let roundTrip = tok.encode(try tok.decode(pieces), addBOS: false)
                guard roundTrip == pieces else {
                    throw ConstructionFailed(description: "\(format): prefix \(pieces) does not survive decode/encode (\(roundTrip))")
                }
                guard !t.tokens.contains(where: { $0 < TinyModel.firstNormalID }) else {
                    throw ConstructionFailed(description: "\(format): greedy run \(t.tokens) contains a special or byte token")
                }
                return TinyFixture(format: format, spec: spec, model: model, tokenizer: tok, prompt: prompt, greedy: t.tokens,
                                   probabilities: p, trigger: k, threshold: tau)
            }
            report.append("k=\(k): p_k=\(p[k]) max before=\(before)")
        }
        throw ConstructionFailed(description: "\(format): no trigger position separates: \(report.joined(separator: "; "))")
    }
}

extension XCTestCase {
    /// Both tiny fixtures (exact and quantized weights); a construction failure is a test failure.
    func tinyFixtures(file: StaticString = #filePath, line: UInt = #line) throws -> [TinyFixture] {
        var out: [TinyFixture] = []
        for r in [TinyFixture.exact, TinyFixture.quantized] {
            switch r {
            case let .success(f): out.append(f)
            case let .failure(e):
                XCTFail("tiny fixture: \(e)", file: file, line: line)
                throw e
            }
        }
        return out
    }

    func exactFixture(file: StaticString = #filePath, line: UInt = #line) throws -> TinyFixture {
        try tinyFixtures(file: file, line: line)[0]
    }
}

/// A comparable rendering of an event (timings left out).
func describe(_ e: GenerationEvent) -> String {
    switch e {
    case let .token(id, text, forced): return "token(\(id), \(text.debugDescription), forced: \(forced))"
    case let .flag(f):
        return "flag(\(f.responseIndex), pos \(f.position), p \(f.probability), \(f.phase), \(f.action), \(f.textSoFar.debugDescription))"
    case let .done(s):
        return "done(\(s.finishReason), prompt \(s.promptTokens), generated \(s.generatedTokens), flags \(s.flags), max p \(s.maxFlagProbability))"
    }
}
