import Foundation
@testable import RedflagKernels
import XCTest

/// `QuantizedGEMV`'s row loop for 4-bit matrices: on x86-64 AVX2 builds rows of 8n + 4 blocks go two at a time
/// (one row's last four blocks and the next row's first four make one group) and a row whose partner is outside
/// the range stands alone. Every row must come out the same bit for bit however the rows are cut into ranges
/// (thread splits, the fused LM head's tiles), and within the kernel tolerance of the scalar reference.
final class QuantizedGEMVRowSplitTests: XCTestCase {
    func testEveryRangeSplitGivesTheSameRowsAndMatchesTheReference() {
        let rows = 7
        // 8n + 4 blocks (paired rows; 4 = no full group at all), 8n (one row at a time), and others (generic kernel).
        for blocks in [4, 12, 20, 28, 8, 16, 32, 3, 5, 21] {
            let columns = blocks * 32
            for type in [TensorType.q4_0, .q4_1] {
                let weights = quantizedRow(type, gaussian(rows * columns, seed: UInt64(blocks) * 31 + UInt64(type.rawValue)))
                let x = gaussian(columns, seed: UInt64(blocks) + 3).map { $0 * 2 }
                let a = QuantizedActivations(capacity: columns)
                weights.withUnsafeBytes { wb in
                    let w = WeightMatrix(rows: rows, columns: columns, type: type, data: wb.baseAddress!)
                    var whole = [Float](repeating: .nan, count: rows + 1)
                    x.withUnsafeBufferPointer { xb in
                        whole.withUnsafeMutableBufferPointer { QuantizedGEMV.gemv(w, xb.baseAddress!, $0.baseAddress!, activations: a, threads: 1) }
                    }
                    XCTAssertTrue(whole[rows].isNaN, "wrote past the last row")
                    for r in 0..<rows {
                        let ref = reference(type, w.row(r), a, blocks: blocks)
                        let mag = termMagnitude(type, w.row(r), a, blocks: blocks)
                        XCTAssertEqual(whole[r], ref, accuracy: DotProductTests.kernelRelativeTolerance * max(1, abs(ref), mag),
                                       "\(type), \(blocks) blocks, row \(r)")
                    }
                    // Every sub-range [lo, hi) on its own: the rows it computes equal the whole-matrix rows exactly,
                    // and nothing outside it is written.
                    for lo in 0..<rows {
                        for hi in (lo + 1)...rows {
                            var part = [Float](repeating: .nan, count: rows + 1)
                            part.withUnsafeMutableBufferPointer { QuantizedGEMV.serialRows(w, a, $0.baseAddress!, lo..<hi) }
                            for r in 0..<(rows + 1) {
                                if r >= lo && r < hi {
                                    XCTAssertEqual(part[r].bitPattern, whole[r].bitPattern, "\(type), \(blocks) blocks, rows \(lo)..<\(hi): row \(r)")
                                } else {
                                    XCTAssertTrue(part[r].isNaN, "\(type), \(blocks) blocks, rows \(lo)..<\(hi) wrote row \(r)")
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
