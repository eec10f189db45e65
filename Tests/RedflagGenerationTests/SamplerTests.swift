import Foundation
import RedflagGeneration
import XCTest

/// The sampler on small hand-made logits.
final class SamplerTests: XCTestCase {
    /// Draws per frequency check.
    static let draws = 4000
    /// Allowed deviation of an observed frequency from its expected probability (≈ 4.5 standard deviations at 4000 draws).
    static let frequencyTolerance = 0.035

    func sample(_ logits: [Float], _ options: SamplerOptions, recent: [Int32] = []) -> (Int32, [Float]) {
        let s = Sampler(options: options, vocabularySize: logits.count)
        var l = logits
        let id = l.withUnsafeMutableBufferPointer { s.sample($0.baseAddress!, recent: recent[...]) }
        return (id, l)
    }

    /// Frequencies of each id over `draws` samples from one sampler (the RNG advances between draws).
    func frequencies(_ logits: [Float], _ options: SamplerOptions) -> [Double] {
        let s = Sampler(options: options, vocabularySize: logits.count)
        var counts = [Int](repeating: 0, count: logits.count)
        var l = logits
        for _ in 0..<Self.draws {
            l = logits
            let id = l.withUnsafeMutableBufferPointer { s.sample($0.baseAddress!, recent: []) }
            counts[Int(id)] += 1
        }
        return counts.map { Double($0) / Double(Self.draws) }
    }

    func testGreedyIsArgmaxWithLowestIdOnTies() {
        XCTAssertEqual(sample([1, 3, 3, 2], SamplerOptions(temperature: 0)).0, 1)
        XCTAssertEqual(sample([-5, -1, -3], SamplerOptions(temperature: 0)).0, 1)
        XCTAssertEqual(sample([-.infinity, 0, 7, 7.5], SamplerOptions(temperature: 0)).0, 3)
        XCTAssertEqual(Sampler.argmax([2, 2, 2], 3), 0)
        XCTAssertEqual(Sampler.argmax([-.infinity, -.infinity, 4], 3), 2)
        // Greedy ignores top-k/top-p/min-p and the seed.
        for seed in UInt64(0)..<5 {
            XCTAssertEqual(sample([0.1, 0.4, 0.2], SamplerOptions(temperature: 0, topK: 2, topP: 0.5, minP: 0.3, seed: seed)).0, 1)
        }
    }

    func testSameSeedSameTokens() {
        let logits: [Float] = (0..<50).map { Float(($0 * 7919) % 13) * 0.3 }
        func run(_ seed: UInt64) -> [Int32] {
            let s = Sampler(options: SamplerOptions(temperature: 1, topK: 0, seed: seed), vocabularySize: logits.count)
            return (0..<200).map { _ in var l = logits; return l.withUnsafeMutableBufferPointer { s.sample($0.baseAddress!, recent: []) } }
        }
        XCTAssertEqual(run(42), run(42))
        XCTAssertNotEqual(run(42), run(43))
        XCTAssertGreaterThan(Set(run(42)).count, 5, "temperature 1 spreads over many ids")
    }

    func testTopKOneIsGreedy() {
        var rng = SystemRandomNumberGenerator()
        for trial in 0..<50 {
            var logits = (0..<64).map { _ in Float.random(in: -4...4, using: &rng) }
            if trial % 5 == 0 { logits[10] = 9; logits[20] = 9 }   // a tie: the lower id wins
            let greedy = Sampler.argmax(logits, logits.count)
            for seed in UInt64(0)..<4 {
                XCTAssertEqual(sample(logits, SamplerOptions(temperature: 1.5, topK: 1, seed: seed)).0, greedy)
            }
        }
    }

    func testTopKKeepsTheKLargest() {
        let logits: [Float] = [0, 1, 2, 3, 4, 5]
        let f = frequencies(logits, SamplerOptions(temperature: 1, topK: 2))
        XCTAssertEqual(f[0] + f[1] + f[2] + f[3], 0)
        let e = exp(Double(1))
        XCTAssertEqual(f[5], e / (1 + e), accuracy: Self.frequencyTolerance)
    }

    // Probabilities 0.5, 0.3, 0.15, 0.05 (as log-probabilities: softmax at temperature 1 gives them back).
    static let fourProbs: [Double] = [0.5, 0.3, 0.15, 0.05]
    static var fourLogits: [Float] { fourProbs.map { Float(log($0)) } }

    func testMinPCutsBelowTheFractionOfTheTopProbability() {
        // min-p 0.2: floor 0.1 keeps {0, 1, 2}, renormalized over 0.95.
        let f = frequencies(Self.fourLogits, SamplerOptions(temperature: 1, topK: 0, minP: 0.2))
        XCTAssertEqual(f[3], 0)
        for i in 0..<3 { XCTAssertEqual(f[i], Self.fourProbs[i] / 0.95, accuracy: Self.frequencyTolerance, "id \(i)") }
        // min-p 0.5: floor 0.25 keeps {0, 1}.
        let g = frequencies(Self.fourLogits, SamplerOptions(temperature: 1, topK: 0, minP: 0.5))
        XCTAssertEqual(g[2] + g[3], 0)
        XCTAssertEqual(g[0], 0.5 / 0.8, accuracy: Self.frequencyTolerance)
        // min-p 0.7: only the top token.
        XCTAssertEqual(frequencies(Self.fourLogits, SamplerOptions(temperature: 1, topK: 0, minP: 0.7))[0], 1)
    }

    func testTopPKeepsTheSmallestPrefixReachingP() {
        // top-p 0.75: 0.5 < 0.75 ≤ 0.8 keeps {0, 1}.
        let f = frequencies(Self.fourLogits, SamplerOptions(temperature: 1, topK: 0, topP: 0.75))
        XCTAssertEqual(f[2] + f[3], 0)
        XCTAssertEqual(f[0], 0.5 / 0.8, accuracy: Self.frequencyTolerance)
        XCTAssertEqual(f[1], 0.3 / 0.8, accuracy: Self.frequencyTolerance)
        // top-p 0.9 keeps {0, 1, 2}.
        let g = frequencies(Self.fourLogits, SamplerOptions(temperature: 1, topK: 0, topP: 0.9))
        XCTAssertEqual(g[3], 0)
        XCTAssertEqual(g[2], 0.15 / 0.95, accuracy: Self.frequencyTolerance)
        // top-p 0.4: the top token alone reaches it.
        XCTAssertEqual(frequencies(Self.fourLogits, SamplerOptions(temperature: 1, topK: 0, topP: 0.4))[0], 1)
        // top-p 1 is off: every id appears with its probability.
        let h = frequencies(Self.fourLogits, SamplerOptions(temperature: 1, topK: 0, topP: 1))
        for i in 0..<4 { XCTAssertEqual(h[i], Self.fourProbs[i], accuracy: Self.frequencyTolerance, "id \(i)") }
    }

    func testTemperatureSharpens() {
        // At temperature 0.5 the probabilities become ∝ p², i.e. 0.25, 0.09, 0.0225, 0.0025 (sum 0.365).
        let f = frequencies(Self.fourLogits, SamplerOptions(temperature: 0.5, topK: 0))
        XCTAssertEqual(f[0], 0.25 / 0.365, accuracy: Self.frequencyTolerance)
        XCTAssertEqual(f[1], 0.09 / 0.365, accuracy: Self.frequencyTolerance)
    }

    func testMaskedLogitsAreNeverSampled() {
        var logits = Self.fourLogits
        logits[0] = -.infinity
        let f = frequencies(logits, SamplerOptions(temperature: 1, topK: 0))
        XCTAssertEqual(f[0], 0)
        XCTAssertEqual(f[1], 0.3 / 0.5, accuracy: Self.frequencyTolerance)
        let g = frequencies(logits, SamplerOptions(temperature: 1, topK: 3))
        XCTAssertEqual(g[0], 0)
    }

    func testRepetitionPenaltyDividesPositiveAndMultipliesNegativeLogits() {
        let logits: [Float] = [2, -2, 1, 0.5]
        let (_, out) = sample(logits, SamplerOptions(temperature: 0, repetitionPenalty: 2), recent: [0, 1])
        XCTAssertEqual(out, [1, -4, 1, 0.5])
        // The penalty changes the greedy choice.
        XCTAssertEqual(sample([2, -2, 1.5], SamplerOptions(temperature: 0, repetitionPenalty: 2), recent: [0]).0, 2)
        XCTAssertEqual(sample([2, -2, 1.5], SamplerOptions(temperature: 0), recent: [0]).0, 0)
        // Only the last `repetitionWindow` tokens count.
        let (_, windowed) = sample(logits, SamplerOptions(temperature: 0, repetitionPenalty: 2, repetitionWindow: 1), recent: [0, 2])
        XCTAssertEqual(windowed, [2, -2, 0.5, 0.5])
        let (_, none) = sample(logits, SamplerOptions(temperature: 0, repetitionPenalty: 2, repetitionWindow: 0), recent: [0, 2])
        XCTAssertEqual(none, logits)
        // A token repeated in the window is penalised once, not once per occurrence.
        let (_, repeated) = sample(logits, SamplerOptions(temperature: 0, repetitionPenalty: 2), recent: [0, 0, 0, 1, 1])
        XCTAssertEqual(repeated, [1, -4, 1, 0.5])
        // A masked (−∞) logit stays masked.
        let (_, masked) = sample([-.infinity, 1], SamplerOptions(temperature: 0, repetitionPenalty: 2), recent: [0])
        XCTAssertEqual(masked[0], -.infinity)
    }

    func testInvalidSamplerOptionsNameTheField() {
        let cases: [(SamplerOptions, String)] = [
            (SamplerOptions(temperature: -0.5), "temperature"),
            (SamplerOptions(temperature: .nan), "temperature"),
            (SamplerOptions(topP: 0), "top-p"),
            (SamplerOptions(topP: 1.01), "top-p"),
            (SamplerOptions(minP: 1), "min-p"),
            (SamplerOptions(repetitionPenalty: -1), "repetition penalty"),
            (SamplerOptions(repetitionPenalty: .infinity), "repetition penalty"),
            (SamplerOptions(repetitionWindow: -3), "repetition window"),
        ]
        for (opts, field) in cases {
            XCTAssertThrowsError(try opts.validate(), field) { e in
                guard case let .invalidOption(name, _, expected)? = e as? GenerationError else { return XCTFail("\(e)") }
                XCTAssertEqual(name, field)
                XCTAssertFalse(expected.isEmpty)
                XCTAssertTrue("\(e)".contains(field), "\(e)")
            }
        }
        XCTAssertNoThrow(try SamplerOptions().validate())
        XCTAssertNoThrow(try SamplerOptions(temperature: 0.7, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1.1, repetitionWindow: 0).validate())
    }
}
