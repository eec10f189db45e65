import Foundation
@testable import RedflagKernels
import XCTest

/// `QuantizedGEMV.gemv(group)` (q/k/v or gate/up as one job) against one `gemv` per matrix: the same kernels on
/// the same rows, so the outputs must be bit-identical whatever the split of the combined rows over threads.
final class QuantizedGEMVGroupTests: XCTestCase {
    func testGroupMatchesOneProductPerMatrix() {
        let columns = 640
        // Row counts that are not multiples of the row granule, so thread ranges straddle matrix boundaries.
        let shapes: [(TensorType, Int)] = [(.q4_1, 37), (.q8_0, 64), (.q4_0, 5)]
        let x = gaussian(columns, seed: 7)
        let matrices: [UnsafeMutableRawPointer] = shapes.enumerated().map { i, s in
            let bytes = quantizedRow(s.0, gaussian(s.1 * columns, seed: 100 + UInt64(i)))
            let p = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 64)
            bytes.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
            return p
        }
        defer { matrices.forEach { $0.deallocate() } }
        let a = QuantizedActivations(capacity: columns)
        for groupSize in [2, 3] {
            for threads in 1...4 {
                var expected: [[Float]] = [], got: [[Float]] = []
                do {
                    let ws = (0..<groupSize).map { i in
                        WeightMatrix(rows: shapes[i].1, columns: columns, type: shapes[i].0, data: UnsafeRawPointer(matrices[i]))
                    }
                    let outs = ws.map { UnsafeMutablePointer<Float>.allocate(capacity: $0.rows + 1) }
                    defer { outs.forEach { $0.deallocate() } }
                    x.withUnsafeBufferPointer { xp in
                        for (w, y) in zip(ws, outs) { QuantizedGEMV.gemv(w, xp.baseAddress!, y, activations: a, threads: threads) }
                        expected = zip(ws, outs).map { Array(UnsafeBufferPointer(start: $1, count: $0.rows)) }
                        for (w, y) in zip(ws, outs) { y.initialize(repeating: .nan, count: w.rows + 1) }
                        let group = zip(ws, outs).map { QuantizedGEMV.Product($0, $1) }
                        group.withUnsafeBufferPointer { QuantizedGEMV.gemv($0, xp.baseAddress!, activations: a, threads: threads) }
                        got = zip(ws, outs).map { Array(UnsafeBufferPointer(start: $1, count: $0.rows)) }
                        for (w, y) in zip(ws, outs) { XCTAssertTrue(y[w.rows].isNaN, "wrote past the last row") }
                    }
                }
                XCTAssertEqual(got, expected, "group of \(groupSize), \(threads) threads")
                XCTAssertFalse(got.joined().contains { !$0.isFinite }, "every row written")
            }
        }
    }
}
