import Foundation
@testable import RedflagKernels
import XCTest

/// The vectorized float helpers against their plain scalar meaning.
final class VectorOpsTests: XCTestCase {
    static let floatTolerance: Float = 1e-5
    /// FastExp relative error bound (degree-6 polynomial after range reduction).
    static let fastExpRelativeTolerance: Float = 5e-7

    func values(_ n: Int, _ seed: Int) -> [Float] { (0..<n).map { Float(sin(Double($0 * 7 + seed)) * 3) } }

    func testDotAxpyScaleMaxForAllLengths() {
        for n in 0...70 {
            let a = values(n, 1), b = values(n, 2)
            var ref: Float = 0
            for i in 0..<n { ref += a[i] * b[i] }
            XCTAssertEqual(VectorMath.dot(a, b, n), ref, accuracy: Self.floatTolerance * Float(max(n, 1)), "dot n=\(n)")
            var y = b
            VectorMath.axpy(0.5, a, &y, n)
            for i in 0..<n { XCTAssertEqual(y[i], b[i] + 0.5 * a[i], accuracy: Self.floatTolerance) }
            var s = a
            VectorMath.scale(&s, by: -2, n)
            for i in 0..<n { XCTAssertEqual(s[i], -2 * a[i]) }
            XCTAssertEqual(VectorMath.max(a, n), a.max() ?? -.infinity)
        }
    }

    func testRMSNormMatchesReference() {
        for n in [1, 15, 16, 31, 256, 640] {
            let x = values(n, 3), w = values(n, 4)
            var fast = [Float](repeating: 0, count: n), ref = fast
            Norms.rmsNorm(x, w, &fast, n, eps: 1e-6)
            Norms.rmsNormReference(x, w, &ref, n, eps: 1e-6)
            for i in 0..<n { XCTAssertEqual(fast[i], ref[i], accuracy: Self.floatTolerance * max(1, abs(ref[i])), "n=\(n) i=\(i)") }
        }
    }

    func testSoftmaxSumsToOneAndReturnsLogSumExp() {
        var x: [Float] = [1, 2, 3, -1000, 0.5]
        let orig = x
        let lse = Activations.softmax(&x, x.count)
        XCTAssertEqual(x.reduce(0, +), 1, accuracy: 1e-6)
        let ref = Foundation.log(orig.map { Foundation.exp(Double($0)) }.reduce(0, +))
        XCTAssertEqual(Double(lse), ref, accuracy: 1e-5)
        XCTAssertEqual(x[3], 0)
    }

    func testRopeRotatesHalvesAndPreservesNorm() {
        let d = 256
        var c = [Float](repeating: 0, count: d / 2), s = c
        Rope.angles(pos: 7, base: 10_000, headDim: d, cos: &c, sin: &s)
        XCTAssertEqual(c[0], Float(cos(7.0)), accuracy: 1e-6)
        XCTAssertEqual(s[1], Float(sin(7.0 * pow(10_000, -2.0 / 256))), accuracy: 1e-6)
        var v = values(d, 5)
        let before = v
        Rope.apply(&v, heads: 1, headDim: d, cos: c, sin: s)
        XCTAssertEqual(v[0], before[0] * c[0] - before[128] * s[0], accuracy: 1e-6)
        XCTAssertEqual(v[128], before[128] * c[0] + before[0] * s[0], accuracy: 1e-6)
        let n0 = before.map { $0 * $0 }.reduce(0, +), n1 = v.map { $0 * $0 }.reduce(0, +)
        XCTAssertEqual(n0, n1, accuracy: n0 * 1e-5)
    }

    func testGeluTanhKnownValues() {
        XCTAssertEqual(Activations.geluTanh(0), 0)
        XCTAssertEqual(Activations.geluTanh(1), 0.841_192, accuracy: 1e-5)
        XCTAssertEqual(Activations.geluTanh(-3), -0.003_637_4, accuracy: 1e-6)
    }

    func testFastExpMatchesFoundation() {
        var worst: Float = 0
        var x: Float = -87
        while x <= 10 {
            let v = SIMD16<Float>((0..<16).map { x + Float($0) * 0.013 })
            let e = FastExp.exp(v)
            for i in 0..<16 {
                let ref = Foundation.exp(v[i])
                worst = max(worst, abs(e[i] - ref) / ref)
            }
            x += 0.37
        }
        XCTAssertLessThan(worst, Self.fastExpRelativeTolerance)
        XCTAssertEqual(FastExp.exp(SIMD16(repeating: -200))[0], 0)
        let tail: [Float] = (0..<37).map { -Float($0) * 0.5 }
        let ref = tail.map { Foundation.exp($0) }.reduce(0, +)
        XCTAssertEqual(FastExp.sumExp(tail, tail.count, minus: 0), ref, accuracy: ref * 1e-6)
    }
}

extension VectorOpsTests {
    /// GeGLU's SIMD path (fast tanh) against the scalar reference, including saturation.
    func testGegluMatchesScalarReference() {
        let n = 16 * 40 + 5
        var g = (0..<n).map { Float($0 - n / 2) * 0.07 }
        let u = (0..<n).map { Float(sin(Double($0))) }
        let ref = zip(g, u).map { Activations.geluTanh($0) * $1 }
        Activations.geglu(&g, u, n)
        for i in 0..<n { XCTAssertEqual(g[i], ref[i], accuracy: 2e-6 * max(1, abs(ref[i])), "i=\(i)") }
    }
}
