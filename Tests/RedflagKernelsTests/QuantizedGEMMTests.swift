@testable import RedflagKernels
import XCTest

/// The batched int8 product against the scalar one-token references, row by row and token by token.
final class QuantizedGEMMTests: XCTestCase {
    /// Same integer block sums as the references, float accumulation in another order: error relative to
    /// Σ|terms| (`termMagnitude`).
    static let reassociationTolerance: Float = 1e-5

    /// `(rows × blocks·32)` weights of `type` with gaussian values, as one contiguous matrix.
    func matrix(_ type: TensorType, rows: Int, blocks: Int, seed: UInt64) -> [UInt8] {
        let n = blocks * 32
        let v = gaussian(rows * n, seed: seed)
        var data = [UInt8]()
        for r in 0..<rows { data += quantizedRow(type, Array(v[(r * n)..<((r + 1) * n)])) }
        return data
    }

    /// Runs `QuantizedGEMM.gemm` and checks every (token, row) against the reference on that token alone.
    func check(_ type: TensorType, _ data: [UInt8], rows: Int, blocks: Int, x: [Float], tokens t: Int,
               threads: Int, file: StaticString = #filePath, line: UInt = #line) {
        let n = blocks * 32
        let batch = QuantizedActivations(capacity: t * n)
        x.withUnsafeBufferPointer { batch.quantize($0.baseAddress!, t * n) }
        let ldy = rows + 3                                   // a row stride wider than the matrix
        var y = [Float](repeating: .nan, count: t * ldy)
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: threads * (QuantizedGEMM.scratchBytes(columns: n) + 32),
                                                       alignment: 32)
        defer { scratch.deallocate() }
        data.withUnsafeBytes { d in
            let w = WeightMatrix(rows: rows, columns: n, type: type, data: d.baseAddress!)
            y.withUnsafeMutableBufferPointer {
                QuantizedGEMM.gemm(w, batch, t, $0.baseAddress!, ldy: ldy, scratch: scratch, threads: threads)
            }
            let one = QuantizedActivations(capacity: n)
            for i in 0..<t {
                x.withUnsafeBufferPointer { one.quantize($0.baseAddress! + i * n, n) }
                for r in 0..<rows {
                    let row = d.baseAddress! + r * w.rowBytes
                    let ref = reference(type, row, one, blocks: blocks)
                    let mag = termMagnitude(type, row, one, blocks: blocks)
                    XCTAssertEqual(y[i * ldy + r], ref, accuracy: Self.reassociationTolerance * max(1, mag),
                                   "\(type) blocks \(blocks) token \(i) row \(r) threads \(threads)", file: file, line: line)
                }
                for r in rows..<ldy { XCTAssert(y[i * ldy + r].isNaN, "wrote past the matrix's rows", file: file, line: line) }
            }
        }
    }

    func testMatchesReferenceForEveryBlockCount() {
        for type in [TensorType.q8_0, .q4_0, .q4_1] {
            for blocks in Array(1...33) + [64, 80] {
                let rows = 16, t = 3
                let data = matrix(type, rows: rows, blocks: blocks, seed: UInt64(blocks) * 31 + UInt64(type.rawValue))
                let x = gaussian(t * blocks * 32, seed: UInt64(blocks) + 7).map { $0 * 2 }
                check(type, data, rows: rows, blocks: blocks, x: x, tokens: t, threads: 1)
            }
        }
    }

    /// Row counts that are not a multiple of eight (a partial last tile), uneven splits
    /// over threads, and batches of one and many tokens.
    func testRowTailsThreadsAndBatchSizes() {
        for type in [TensorType.q8_0, .q4_0, .q4_1] {
            for (rows, t, threads) in [(13, 1, 1), (61, 5, 2), (64, 9, 3), (7, 2, 2), (203, 17, 4)] {
                let blocks = 20
                let data = matrix(type, rows: rows, blocks: blocks, seed: UInt64(rows) * 5 + UInt64(type.rawValue))
                let x = gaussian(t * blocks * 32, seed: UInt64(rows * t))
                check(type, data, rows: rows, blocks: blocks, x: x, tokens: t, threads: threads)
            }
        }
    }

    /// The largest products the int16 partial sums see: every nibble 15 (Q4) or every weight ±127 (Q8_0)
    /// against activations all +127 or all −127 must not saturate.
    func testExtremeValuesDoNotSaturate() {
        let blocks = 9, rows = 8
        for type in [TensorType.q8_0, .q4_0, .q4_1] {
            for sign: Float in [1, -1] {
                var data = [UInt8]()
                for r in 0..<rows {
                    // Q4: one −v then +v in every block quantizes to nibble 15 in 31 lanes (Q4_0: d = −v/−8, v/d = 8
                    // clamps to 15; Q4_1: min −v, max v); Q8_0: a constant row is ±127 in every lane.
                    let w = (0..<(blocks * 32)).map { j -> Float in
                        type == .q8_0 ? (r % 2 == 0 ? 1 : -1) * Float(r + 1) : (j % 32 == 0 ? -1 : 1) * Float(r + 1)
                    }
                    data += quantizedRow(type, w)
                }
                let x = [Float](repeating: sign * 3, count: blocks * 32 * 2)
                check(type, data, rows: rows, blocks: blocks, x: x, tokens: 2, threads: 1)
            }
        }
    }
}
