@testable import RedflagKernels
import XCTest

/// `LowRankDelta.add` (SIMD loops for one token, two `sgemm` calls for a batch) against its f64 scalar reference.
final class LowRankDeltaTests: XCTestCase {
    /// Largest |fast − reference| relative to Σ_k |U[o, k]|·|(D·x)_k| (the magnitude of the terms summed): f32
    /// reassociation over `inputs` + `rank` terms.
    static let relativeTolerance: Float = 1e-5

    func check(rank: Int, inputs: Int, outputs: Int, tokens: Int, ldy: Int, seed: UInt64) {
        let down = gaussian(rank * inputs, seed: seed), up = gaussian(rank * outputs, seed: seed + 1)
        let x = gaussian(tokens * inputs, seed: seed + 2)
        let y0 = gaussian(tokens * ldy, seed: seed + 3)
        var fast = y0, ref = y0
        var scratch = [Float](repeating: .nan, count: tokens * rank)
        down.withUnsafeBufferPointer { d in
            up.withUnsafeBufferPointer { u in
                let delta = LowRankDelta(rank: rank, inputs: inputs, outputs: outputs, down: d.baseAddress!, upTransposed: u.baseAddress!)
                XCTAssertEqual(delta.byteCount, rank * (inputs + outputs) * 4)
                x.withUnsafeBufferPointer { xp in
                    fast.withUnsafeMutableBufferPointer { yp in
                        scratch.withUnsafeMutableBufferPointer { delta.add(xp.baseAddress!, tokens: tokens, into: yp.baseAddress!, ldy: ldy, scratch: $0.baseAddress!) }
                    }
                    ref.withUnsafeMutableBufferPointer { delta.addReference(xp.baseAddress!, tokens: tokens, into: $0.baseAddress!, ldy: ldy) }
                }
            }
        }
        for i in 0..<tokens {
            // |D·x| per component, for the error scale
            let s = (0..<rank).map { k in (0..<inputs).reduce(Float(0)) { $0 + abs(down[k * inputs + $1] * x[i * inputs + $1]) } }
            for o in 0..<ldy {
                let at = i * ldy + o
                if o >= outputs {
                    XCTAssertEqual(fast[at], y0[at], "padding column \(o) of token \(i) untouched")
                    continue
                }
                let scale = (0..<rank).reduce(Float(0)) { $0 + abs(up[$1 * outputs + o]) * s[$1] } + abs(y0[at])
                XCTAssertLessThanOrEqual(abs(fast[at] - ref[at]), Self.relativeTolerance * scale,
                                         "rank \(rank) \(outputs)×\(inputs) tokens \(tokens): [\(i), \(o)]")
            }
        }
        // The delta is not negligible: the test would notice it missing.
        let moved = zip(ref, y0).map { abs($0 - $1) }.max()!
        XCTAssertGreaterThan(moved, 0.01, "the delta changes y")
    }

    func testOneTokenMatchesTheReference() {
        for (rank, inputs, outputs) in [(1, 1, 1), (2, 17, 5), (8, 640, 1024), (8, 2048, 640), (4, 33, 100)] {
            check(rank: rank, inputs: inputs, outputs: outputs, tokens: 1, ldy: outputs, seed: UInt64(rank * 1000 + inputs))
        }
    }

    func testBatchMatchesTheReferenceWithAStridedOutput() {
        for (rank, inputs, outputs, tokens) in [(8, 640, 256, 7), (3, 31, 47, 2), (8, 64, 64, 33)] {
            check(rank: rank, inputs: inputs, outputs: outputs, tokens: tokens, ldy: outputs + 5, seed: UInt64(tokens * 77 + rank))
            check(rank: rank, inputs: inputs, outputs: outputs, tokens: tokens, ldy: outputs, seed: UInt64(tokens * 91 + rank))
        }
    }
}
