import Foundation
@testable import RedflagKernels
import XCTest

/// The searched Q4_1 quantizer: a valid Q4_1 encoding, never worse than ggml's reference rule, usually better.
final class QuantizeSearchTests: XCTestCase {
    func sse(_ x: [Float], _ q: [UInt8]) -> Float {
        var y = [Float](repeating: 0, count: x.count)
        q.withUnsafeBytes { b in y.withUnsafeMutableBufferPointer { Dequantize.row(.q4_1, from: b.baseAddress!, count: x.count, into: $0.baseAddress!) } }
        return zip(x, y).map { (a: Float, b: Float) -> Float in (a - b) * (a - b) }.reduce(0, +)
    }

    func testNeverWorseThanReferenceAndBetterOnAverage() {
        var s: UInt64 = 12345
        func next() -> Float { s = s &* 6364136223846793005 &+ 1; return Float(Int64(bitPattern: s) >> 40) / Float(1 << 23) }
        var totalRef: Float = 0, totalSearch: Float = 0
        for trial in 0..<200 {
            // Heavy-tailed values like real weights, one outlier now and then.
            var x = (0..<64).map { _ in next() * next() * 0.1 }
            if trial % 7 == 0 { x[trial % 64] *= 25 }
            var ref = [UInt8](repeating: 0, count: 40), srch = ref
            x.withUnsafeBufferPointer { src in
                ref.withUnsafeMutableBytes { Quantize.row(.q4_1, from: src.baseAddress!, count: 64, into: $0.baseAddress!) }
                srch.withUnsafeMutableBytes { QuantizeSearch.q4_1(from: src.baseAddress!, count: 64, into: $0.baseAddress!) }
            }
            let e0 = sse(x, ref), e1 = sse(x, srch)
            XCTAssertLessThanOrEqual(e1, e0 * (1 + 1e-5) + 1e-12, "trial \(trial)")
            totalRef += e0
            totalSearch += e1
        }
        XCTAssertLessThan(totalSearch, totalRef * 0.9, "the search should cut the squared error by at least 10% overall")
    }

    func testConstantAndZeroBlocks() {
        for v: Float in [0, 3.5, -2] {
            let x = [Float](repeating: v, count: 32)
            var q = [UInt8](repeating: 0, count: 20)
            x.withUnsafeBufferPointer { src in q.withUnsafeMutableBytes { QuantizeSearch.q4_1(from: src.baseAddress!, count: 32, into: $0.baseAddress!) } }
            XCTAssertLessThan(sse(x, q), 1e-3 * max(1, v * v))
        }
    }
}
