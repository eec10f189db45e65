import Foundation
@testable import RedflagKernels
import XCTest

/// Random rows and the scalar dot-product references shared by the kernel tests.
extension XCTestCase {
    func gaussian(_ n: Int, seed: UInt64) -> [Float] {
        var s = seed
        func next() -> Float {
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Float(s >> 40) / Float(1 << 24)
        }
        return (0..<n).map { _ in
            let u = max(next(), 1e-7), v = next()
            return (-2 * Foundation.log(u)).squareRoot() * Foundation.cos(2 * .pi * v)
        }
    }

    func quantizedRow(_ type: TensorType, _ values: [Float]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: type.rowBytes(values.count)!)
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBytes { dst in Quantize.row(type, from: src.baseAddress!, count: values.count, into: dst.baseAddress!) }
        }
        return out
    }

    func reference(_ type: TensorType, _ row: UnsafeRawPointer, _ a: QuantizedActivations, blocks: Int) -> Float {
        switch type {
        case .q8_0: return DotProducts.q8_0Reference(row, a, blocks: blocks)
        case .q4_0: return DotProducts.q4_0Reference(row, a, blocks: blocks)
        default: return DotProducts.q4_1Reference(row, a, blocks: blocks)
        }
    }

    /// Σ_b of the magnitudes of the float terms a kernel adds (|d_w·d_x·Σq·x|, plus |m_w·d_x·Σx| for Q4_1): the
    /// scale a float reassociation error is relative to (the Q4_1 terms can cancel, so |result| is too small).
    func termMagnitude(_ type: TensorType, _ row: UnsafeRawPointer, _ a: QuantizedActivations, blocks: Int) -> Float {
        let bytes = type.rowBytes(32)!
        var mag: Float = 0
        for b in 0..<blocks {
            let blk = row + b * bytes
            let d = halfToFloat(blk.loadUnaligned(as: UInt16.self))
            var s: Int32 = 0
            for j in 0..<32 {
                let x = Int32(a.values[b * 32 + j])
                switch type {
                case .q8_0: s += Int32(blk.load(fromByteOffset: 2 + j, as: Int8.self)) * x
                case .q4_0:
                    let byte = blk.load(fromByteOffset: 2 + j % 16, as: UInt8.self)
                    s += (Int32(j < 16 ? byte & 15 : byte >> 4) - 8) * x
                default:
                    let byte = blk.load(fromByteOffset: 4 + j % 16, as: UInt8.self)
                    s += Int32(j < 16 ? byte & 15 : byte >> 4) * x
                }
            }
            mag += abs(d * a.scales[b] * Float(s))
            if type == .q4_1 {
                mag += abs(halfToFloat(blk.loadUnaligned(fromByteOffset: 2, as: UInt16.self)) * a.scales[b] * Float(a.sums[b]))
            }
        }
        return mag
    }
}
