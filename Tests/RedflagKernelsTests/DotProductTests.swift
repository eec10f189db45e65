import Foundation
@testable import RedflagKernels
import XCTest

/// Every fast integer kernel against its scalar reference, and the whole GEMV against f32 math.
final class DotProductTests: XCTestCase {
    /// Fast vs reference: same integer sums, float accumulation in a different order.
    static let kernelRelativeTolerance: Float = 1e-5
    /// Quantized GEMV vs exact f32 dot products of the dequantized weights with the unquantized input:
    /// the int8 activation rounding error, relative to Σ|w·x|.
    static let activationQuantizationTolerance: Float = 0.02


    func fast(_ type: TensorType, _ row: UnsafeRawPointer, _ a: QuantizedActivations, blocks: Int) -> Float {
        switch type {
        case .q8_0: return DotProducts.q8_0(a.kernelInput(for: type), row: row, a.scales, blocks: blocks)
        case .q4_0: return DotProducts.q4_0(a.kernelInput(for: type), row: row, a.scales, a.sums, blocks: blocks)
        default: return DotProducts.q4_1(a.kernelInput(for: type), row: row, a.scales, a.sums, blocks: blocks)
        }
    }

    func testFastKernelsMatchReferenceForEveryBlockCount() {
        for type in [TensorType.q8_0, .q4_0, .q4_1] {
            for blocks in Array(1...33) + [80, 200, 640] {
                let n = blocks * 32
                let w = gaussian(n, seed: UInt64(blocks) * 7 + UInt64(type.rawValue))
                let x = gaussian(n, seed: UInt64(blocks) * 13 + 1).map { $0 * 3 }
                let row = quantizedRow(type, w)
                let a = QuantizedActivations(capacity: n)
                x.withUnsafeBufferPointer { a.quantize($0.baseAddress!, n) }
                row.withUnsafeBytes { r in
                    let f = fast(type, r.baseAddress!, a, blocks: blocks)
                    let ref = reference(type, r.baseAddress!, a, blocks: blocks)
                    var mag: Float = 0
                    for b in 0..<blocks { mag += abs(a.scales[b]) }
                    XCTAssertEqual(f, ref, accuracy: Self.kernelRelativeTolerance * max(1, abs(ref), mag),
                                   "\(type) with \(blocks) blocks")
                }
            }
        }
    }

    /// Every build's quantizer rounds exactly like `Float.rounded()` (ties away from zero), ties included,
    /// and leaves the block sums and scales consistent.
    func testActivationQuantizationRoundsTiesAwayFromZero() {
        // amax 127 → d = 1, 1/d = 1: the products are the inputs, so .5 values are exact ties
        var x: [Float] = [127, -127, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 126.5, -126.5, 0.49999997, -0.49999997,
                          3.4999998, -3.4999998, 0, -0.0, 64.5, -64.5, 5.5000005, -5.5000005]
        x += (0..<(32 - x.count)).map { Float($0) * 3.7 - 40 }
        x += gaussian(32, seed: 5).map { $0 * 11 }   // a second block with an inexact scale
        let a = QuantizedActivations(capacity: 64)
        x.withUnsafeBufferPointer { a.quantize($0.baseAddress!, 64) }
        XCTAssertEqual(a.scales[0], 1)
        for b in 0..<2 {
            let d = a.scales[b]
            let id: Float = d > 0 ? 1 / d : 0
            var s: Int32 = 0
            for j in 0..<32 {
                let want = Int8((x[b * 32 + j] * id).rounded())
                XCTAssertEqual(a.values[b * 32 + j], want, "block \(b) lane \(j): x = \(x[b * 32 + j])")
                s += Int32(want)
            }
            XCTAssertEqual(a.sums[b], s)
        }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: a.values, count: 10)), [127, -127, 1, -1, 2, -2, 3, -3, 127, -127])
    }

    func testActivationQuantizationRoundTrip() {
        let n = 672   // 21 blocks: ten pairs and an odd last block
        let x = gaussian(n, seed: 99)
        let a = QuantizedActivations(capacity: n)
        x.withUnsafeBufferPointer { a.quantize($0.baseAddress!, n) }
        for b in 0..<(n / 32) {
            var s: Int32 = 0
            for j in 0..<32 {
                let q = a.values[b * 32 + j]
                XCTAssert(q >= -127 && q <= 127)
                XCTAssertEqual(Float(q) * a.scales[b], x[b * 32 + j], accuracy: a.scales[b] * 0.5 + 1e-7)
                s += Int32(q)
                // the layouts the kernels read: even/odd int16 split (portable, aarch64), or on AVX2 builds natural
                // order (Q8_0) and blocks paired for the 4-bit kernels
                if a.kernelInput(for: .q4_0) == UnsafeRawPointer(a.pairs) {
                    XCTAssertEqual(a.pairs[b * 32 + (j % 2 == 0 ? j / 2 : 16 + j / 2)], Int16(q))
                } else {
                    XCTAssertEqual(a.kernelInput(for: .q8_0), UnsafeRawPointer(a.values))
                    XCTAssertEqual(a.kernelInput(for: .q4_1), UnsafeRawPointer(a.pairedBlocks))
                    let pairBase = (b / 2) * 64, lastOdd = b == n / 32 - 1 && (n / 32) % 2 == 1
                    let at = lastOdd ? b * 32 + j : pairBase + (j < 16 ? 0 : 32) + (b % 2) * 16 + j % 16
                    XCTAssertEqual(a.pairedBlocks[at], q, "paired layout, block \(b) lane \(j)")
                }
            }
            XCTAssertEqual(a.sums[b], s)
        }
        // all-zero input gives zero scale and zero values, never NaN
        let z = [Float](repeating: 0, count: 32)
        z.withUnsafeBufferPointer { a.quantize($0.baseAddress!, 32) }
        XCTAssertEqual(a.scales[0], 0)
        XCTAssertEqual(a.values[0], 0)
    }

    func testGEMVMatchesF32MathForEveryThreadCount() {
        let rows = 1003, cols = 640
        for type in [TensorType.q8_0, .q4_0, .q4_1] {
            let wv = gaussian(rows * cols, seed: UInt64(type.rawValue))
            var data = [UInt8]()
            for r in 0..<rows { data += quantizedRow(type, Array(wv[(r * cols)..<((r + 1) * cols)])) }
            let x = gaussian(cols, seed: 5)
            data.withUnsafeBytes { d in
                let m = WeightMatrix(rows: rows, columns: cols, type: type, data: d.baseAddress!)
                let a = QuantizedActivations(capacity: cols)
                var deq = [Float](repeating: 0, count: cols)
                var expected = [Float](repeating: 0, count: rows)
                var magnitude = [Float](repeating: 0, count: rows)
                for r in 0..<rows {
                    deq.withUnsafeMutableBufferPointer { m.dequantizeRow(r, into: $0.baseAddress!) }
                    for c in 0..<cols { expected[r] += deq[c] * x[c]; magnitude[r] += abs(deq[c] * x[c]) }
                }
                for threads in 1...4 {
                    var y = [Float](repeating: .nan, count: rows)
                    x.withUnsafeBufferPointer { xb in
                        y.withUnsafeMutableBufferPointer { QuantizedGEMV.gemv(m, xb.baseAddress!, $0.baseAddress!, activations: a, threads: threads) }
                    }
                    for r in 0..<rows {
                        XCTAssertEqual(y[r], expected[r], accuracy: Self.activationQuantizationTolerance * magnitude[r],
                                       "\(type) row \(r) threads \(threads)")
                    }
                }
            }
        }
    }
}
