import XCTest
@testable import RedflagKernels

final class QuantizeTests: XCTestCase {
    typealias S = QuantTestSupport

    static let quantizable: [TensorType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0]

    /// Round-trip (quantize → dequantize) RMSE on N(0, 1) data, relative to the data's RMS.
    /// Measured (gguf-py, 16384 values): F16 2.1e-4, BF16 1.7e-3, Q8_0 5.3e-3, Q5_0 0.043,
    /// Q4_0 0.086, Q4_1 0.078 — roughly step/√12 with step = amax/127, /16, /8, range/15.
    /// The bounds leave ~15–25% headroom.
    static let maxRelativeRMSE: [TensorType: Float] = [
        .f32: 0, .f16: 2.5e-4, .bf16: 2.0e-3, .q8_0: 6.0e-3, .q5_0: 0.05, .q4_0: 0.10, .q4_1: 0.10,
    ]

    // MARK: - gguf-py fixtures

    func testQuantizersMatchGGUFPyBitExact() throws {
        let fixtures = try QuantFixtureFile.load()
        var covered = Set<TensorType>()
        for c in fixtures.quantize {
            let type = try XCTUnwrap(S.tensorType(named: c.type))
            let input = S.floats(hex: c.input)
            XCTAssertEqual(input.count, c.count)
            let expected = S.bytes(hex: c.blocks)
            let actual = S.quantize(type, input)
            XCTAssertEqual(actual.count, expected.count)
            if actual != expected {
                let bs = type.blockBytes
                for b in 0..<(expected.count / bs) where actual[b * bs ..< (b + 1) * bs] != expected[b * bs ..< (b + 1) * bs] {
                    XCTFail("\(c.type)/\(c.name): block \(b) differs: \(Array(actual[b * bs ..< (b + 1) * bs])) vs \(Array(expected[b * bs ..< (b + 1) * bs]))")
                }
            }
            covered.insert(type)
        }
        XCTAssertEqual(covered, Set(Self.quantizable).subtracting([.f32]))
    }

    // MARK: - Hand-computed blocks

    func testQ8_0HandComputed() {
        // amax = 127 → d = 1 exactly; ties round half away from zero.
        var x = [Float](repeating: 0, count: 32)
        x[0] = 127; x[1] = 2.5; x[2] = -3.5; x[3] = 0.5; x[4] = -0.5; x[5] = -127; x[6] = 1.49; x[7] = -2.51
        let block = S.quantize(.q8_0, x)
        XCTAssertEqual(Array(block[0..<2]), [0x00, 0x3C])  // f16(1.0)
        let q = block[2...].map { Int8(bitPattern: $0) }
        XCTAssertEqual(Array(q[0..<8]), [127, 3, -4, 1, -1, -127, 1, -3])
        XCTAssertTrue(q[8...].allSatisfy { $0 == 0 })
        // d = 0.5 case: amax = 63.5.
        let y = (0..<32).map { Float($0 - 16) * 0.5 } .map { $0 == -8 ? -63.5 : $0 }
        let b2 = S.quantize(.q8_0, y)
        XCTAssertEqual(Array(b2[0..<2]), [0x00, 0x38])  // f16(0.5)
        XCTAssertEqual(S.dequantize(.q8_0, b2, count: 32), y)
    }

    func testQ4_0HandComputed() {
        // max (by |x|) = −8 → d = 1, q = x + 8.
        let x = (0..<32).map { Float($0 % 16 - 8) }
        let block = S.quantize(.q4_0, x)
        XCTAssertEqual(Array(block[0..<2]), [0x00, 0x3C])
        XCTAssertEqual(Array(block[2...]), (0..<16).map { UInt8($0) | UInt8($0) << 4 })
        XCTAssertEqual(S.dequantize(.q4_0, block, count: 32), x)
        // max = +4 → d = −0.5: x = 4 maps to q = trunc(−8 + 8.5) = 0, i.e. −0.5·(0 − 8) = 4.
        var y = [Float](repeating: 0, count: 32)
        y[5] = 4; y[6] = -3.5; y[7] = 1.2
        let b2 = S.quantize(.q4_0, y)
        XCTAssertEqual(halfToFloat(UInt16(b2[0]) | UInt16(b2[1]) << 8), -0.5)
        let back = S.dequantize(.q4_0, b2, count: 32)
        XCTAssertEqual(back[5], 4)
        XCTAssertEqual(back[6], -3.5)
        XCTAssertEqual(back[7], 1.0)  // 1.2/−0.5 + 8.5 = 6.1 → 6 → −0.5·(6 − 8) = 1
        XCTAssertEqual(back[0], 0)
    }

    func testQ4_1HandComputed() {
        // min −1, max 2 → d = 0.2, m = −1.
        let x = (0..<32).map { Float($0 % 16) * 0.2 - 1 }
        let block = S.quantize(.q4_1, x)
        XCTAssertEqual(halfToFloat(UInt16(block[0]) | UInt16(block[1]) << 8), halfToFloat(floatToHalf(0.2)))
        XCTAssertEqual(halfToFloat(UInt16(block[2]) | UInt16(block[3]) << 8), -1)
        XCTAssertEqual(Array(block[4...]), (0..<16).map { UInt8($0) | UInt8($0) << 4 })
    }

    // MARK: - Edge cases

    func testAllZeroBlocks() {
        let zeros = [Float](repeating: 0, count: 64)
        for type in Self.quantizable {
            let block = S.quantize(type, zeros)
            XCTAssertEqual(S.dequantize(type, block, count: 64), zeros, "\(type)")
        }
        // The exact encodings ggml produces for an all-zero block.
        XCTAssertEqual(S.quantize(.q8_0, Array(zeros[0..<32])), [UInt8](repeating: 0, count: 34))
        // Q4_0/Q5_0: d = max/−8 with max = +0 gives d = −0 (f16 0x8000), exactly as ggml does.
        XCTAssertEqual(S.quantize(.q4_0, Array(zeros[0..<32])), [0x00, 0x80] + [UInt8](repeating: 0x88, count: 16))
        XCTAssertEqual(S.quantize(.q4_1, Array(zeros[0..<32])), [UInt8](repeating: 0, count: 20))
        XCTAssertEqual(S.quantize(.q5_0, Array(zeros[0..<32])), [0x00, 0x80, 0xFF, 0xFF, 0xFF, 0xFF] + [UInt8](repeating: 0, count: 16))
    }

    func testBlockWithOneHugeValue() {
        var x = S.gaussian(32, seed: 3, sigma: 0.01)
        x[7] = 1.0e4
        for type: TensorType in [.q8_0, .q4_0, .q4_1, .q5_0] {
            let y = S.dequantize(type, S.quantize(type, x), count: 32)
            // The huge value survives up to the f16 rounding of the scale (and of m for Q4_1).
            XCTAssertEqual(y[7], 1.0e4, accuracy: 1.0e4 * 2e-3, "\(type)")
            // The small values collapse to the grid point nearest 0 (at most half a step away).
            let step: Float = type == .q8_0 ? 1e4 / 127 : type == .q5_0 ? 1e4 / 16 : type == .q4_0 ? 1e4 / 8 : 1e4 / 15
            for i in 0..<32 where i != 7 {
                XCTAssertLessThanOrEqual(abs(y[i] - x[i]), step * 0.5 * 1.01, "\(type) value \(i)")
            }
        }
    }

    func testCountZeroAndErrors() throws {
        var out: [UInt8] = [0xAB]
        let x: [Float] = [1]
        try x.withUnsafeBufferPointer { s in
            try out.withUnsafeMutableBytes { d in
                for type in Self.quantizable {
                    Quantize.row(type, from: s.baseAddress!, count: 0, into: d.baseAddress!)
                }
                XCTAssertThrowsError(try Quantize.checkedRow(.q4_K, from: s.baseAddress!, count: 256, into: d.baseAddress!)) {
                    XCTAssertEqual($0 as? KernelError, .unsupportedType(.q4_K))
                }
                XCTAssertThrowsError(try Quantize.checkedRow(.q8_0, from: s.baseAddress!, count: 1, into: d.baseAddress!)) {
                    XCTAssertEqual($0 as? KernelError, .invalidCount(1, .q8_0))
                }
            }
        }
        XCTAssertEqual(out, [0xAB])
        XCTAssertFalse(Quantize.supports(.q6_K))
        XCTAssertTrue(Quantize.supports(.q5_0))
    }

    func testRoundingHelpersMatchLibm() {
        var values: [Float] = [0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, 126.5, -126.5, 126.49999, 126.99999,
                               0.49999997, -0.49999997, 0.50000006, 127, -127, 1e-30, 8.5, 15.5]
        var rng = QuantTestRNG(seed: 77)
        for _ in 0..<100_000 { values.append(Float(rng.nextUnitExcludingZero() * 254 - 127)) }
        for k in -127...126 { values.append(Float(k) + 0.5) }
        for v in values {
            XCTAssertEqual(Quantize.roundCode127(v), Int8(v.rounded(.toNearestOrAwayFromZero)), "\(v)")
            let t = v.rounded(.towardZero)
            XCTAssertEqual(Quantize.truncCode(v, 15), t <= 0 ? 0 : UInt8(min(15, t)), "\(v)")
        }
        XCTAssertEqual(Quantize.roundCode127(.nan), 0)
        XCTAssertEqual(Quantize.roundCode127(-1000), -127)
        XCTAssertEqual(Quantize.truncCode(.nan, 15), 0)
        XCTAssertEqual(Quantize.truncCode(1e9, 31), 31)
    }

    func testNonFiniteInputsDoNotTrap() {
        var x = S.gaussian(64, seed: 12)
        x[3] = .infinity; x[40] = .nan; x[32] = .nan
        for type in Self.quantizable {
            let y = S.dequantize(type, S.quantize(type, x), count: 64)
            XCTAssertEqual(y.count, 64)
        }
        // Garbage scales (NaN / inf halfs) in K-quant blocks convert without trapping.
        for (type, offsets) in [(TensorType.q4_K, [0, 2]), (.q6_K, [208])] {
            var bytes = S.randomBytes(type.blockBytes, seed: 13)
            for o in offsets { bytes[o] = 0x01; bytes[o + 1] = 0x7E }  // NaN
            for target in [TensorType.q8_0, .q4_1, .q4_0, .f16] {
                XCTAssertEqual(S.convert(type, bytes, to: target, count: 256).count, target.rowBytes(256))
            }
        }
    }

    // MARK: - Accuracy

    func testRoundTripRMSEOnGaussianData() {
        let x = S.gaussian(32 * 512, seed: 42)
        let rms = (x.reduce(Float(0)) { $0 + $1 * $1 } / Float(x.count)).squareRoot()
        for type in Self.quantizable {
            let y = S.dequantize(type, S.quantize(type, x), count: x.count)
            var se: Float = 0
            for i in 0..<x.count { se += (x[i] - y[i]) * (x[i] - y[i]) }
            let relative = (se / Float(x.count)).squareRoot() / rms
            XCTAssertLessThanOrEqual(relative, Self.maxRelativeRMSE[type]!, "\(type)")
            if type != .f32 { XCTAssertGreaterThan(relative, 0, "\(type) is lossy on random data") }
        }
    }

    /// Per value, Q8_0 is within half a step of the scale used for rounding, plus the effect of
    /// storing that scale as f16: |x − f16(d)·q| ≤ d/2 + 127·|d − f16(d)| ≤ d·(1/2 + 127/2048).
    func testQ8_0PerValueErrorBound() {
        let x = S.gaussian(32 * 256, seed: 9, sigma: 0.05)
        let y = S.dequantize(.q8_0, S.quantize(.q8_0, x), count: x.count)
        for b in 0..<(x.count / 32) {
            let amax = x[(32 * b)..<(32 * b + 32)].map(abs).max()!
            let d = amax / 127
            for i in (32 * b)..<(32 * b + 32) {
                XCTAssertLessThanOrEqual(abs(x[i] - y[i]), d * (0.5 + 127.0 / 2048) * 1.0001, "value \(i)")
            }
        }
    }
}
