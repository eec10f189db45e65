import XCTest
@testable import RedflagKernels

final class ConversionTests: XCTestCase {
    typealias S = QuantTestSupport

    /// Half an f16 ulp is at most |x|·2⁻¹¹ for normal halfs …
    static let f16HalfUlpRelative: Float = 0x1p-11
    /// … and exactly 2⁻²⁵ in the subnormal range (|x| < 2⁻¹⁴).
    static let f16HalfUlpSubnormal: Float = 0x1p-25
    /// Q6_K → Q8_0 may differ from the exact value by at most this many steps of the stored scale.
    static let q6KToQ8_0MaxErrorSteps: Float = 0.5
    /// Slack for the f32 rounding of the products themselves, in f32 ulps of the magnitude.
    static let f32Slack: Float = 4

    static func f16HalfUlp(_ x: Float) -> Float { max(abs(x) * f16HalfUlpRelative, f16HalfUlpSubnormal) }

    /// Fixture rows per type (all cases whose count is a whole number of 256 values or of 32).
    func fixtureRows() throws -> [(type: TensorType, name: String, bytes: [UInt8], count: Int)] {
        try QuantFixtureFile.load().dequantize.map { c in
            (try XCTUnwrap(S.tensorType(named: c.type)), c.name, S.bytes(hex: c.blocks), c.count)
        }
    }

    /// Random valid K-quant blocks: random bytes with small finite f16 scales (d·sc then spans
    /// both the subnormal and the normal f16 range, as in real checkpoints).
    static func randomKBlocks(_ type: TensorType, blocks: Int, seed: UInt64) -> [UInt8] {
        var bytes = S.randomBytes(type.blockBytes * blocks, seed: seed)
        var rng = QuantTestRNG(seed: seed ^ 0xABCDEF)
        func randomScale() -> [UInt8] {
            let e = -17 + Int(rng.next() % 12)
            return S.halfBytes(Float(sign: .plus, exponent: e, significand: 1 + Float(rng.nextUnitExcludingZero())))
        }
        for b in 0..<blocks {
            let base = b * type.blockBytes
            if type == .q4_K {
                bytes.replaceSubrange(base..<(base + 2), with: randomScale())
                bytes.replaceSubrange((base + 2)..<(base + 4), with: randomScale())
            } else {
                bytes.replaceSubrange((base + 208)..<(base + 210), with: randomScale())
            }
        }
        return bytes
    }

    // MARK: - Q4_K → Q4_1

    func testQ4_KToQ4_1WithinF16RoundingOfScales() throws {
        var rows = try fixtureRows().filter { $0.type == .q4_K }.map { ($0.bytes, $0.count) }
        rows.append((Self.randomKBlocks(.q4_K, blocks: 64, seed: 1), 64 * 256))
        var checked = 0
        for (bytes, count) in rows {
            let exact = S.dequantize(.q4_K, bytes, count: count)
            let converted = S.dequantize(.q4_1, S.convert(.q4_K, bytes, to: .q4_1, count: count), count: count)
            bytes.withUnsafeBytes { raw in
                for b in 0..<(count / 256) {
                    let block = raw.baseAddress! + 144 * b
                    let d: Float = halfToFloat(UInt16(raw[144 * b]) | UInt16(raw[144 * b + 1]) << 8)
                    let dmin: Float = halfToFloat(UInt16(raw[144 * b + 2]) | UInt16(raw[144 * b + 3]) << 8)
                    for j in 0..<8 {
                        let (sc, m) = Dequantize.q4_KScaleMin(block + 4, j)
                        let a: Float = d * Float(sc), c: Float = dmin * Float(m)
                        for l in 0..<32 {
                            let i = 256 * b + 32 * j + l
                            let byte: UInt8 = raw[144 * b + 16 + 32 * (j / 2) + l]
                            let code = Float((byte >> UInt8(4 * (j % 2))) & 15)
                            let slack: Float = Self.f32Slack * (abs(a) * 15 + abs(c)).ulp
                            let bound: Float = code * Self.f16HalfUlp(a) + Self.f16HalfUlp(c) + slack
                            XCTAssertLessThanOrEqual(abs(converted[i] - exact[i]), bound, "value \(i)")
                            checked += 1
                        }
                    }
                }
            }
        }
        XCTAssertGreaterThan(checked, 64 * 256)
    }

    func testQ4_KToQ4_1IsExactWhenScalesFitInHalf() {
        // d, dmin powers of two ≥ 2⁻¹⁴·… so d·sc and dmin·m (6-bit integers) are exact halfs:
        // then only the 4-bit codes matter and they must be copied unchanged.
        var bytes = Self.randomKBlocks(.q4_K, blocks: 8, seed: 2)
        for b in 0..<8 {
            bytes.replaceSubrange((144 * b)..<(144 * b + 4), with: S.halfBytes(0x1p-8) + S.halfBytes(0x1p-9))
        }
        let exact = S.dequantize(.q4_K, bytes, count: 2048)
        let converted = S.convert(.q4_K, bytes, to: .q4_1, count: 2048)
        XCTAssertEqual(converted.count, 64 * 20)
        S.assertBitEqual(S.dequantize(.q4_1, converted, count: 2048), exact, "Q4_K → Q4_1 exact scales")
    }

    func testQ4_KToQ4_1FallsBackWhenScaleOverflowsHalf() {
        // d = 2000: d·63 = 126000 and d·40 = 80000 overflow f16, d·1 does not. The overflowing
        // sub-blocks (0 and 5) only use codes 0...3, so their values do fit a Q4_1 block.
        var sc = [UInt8](repeating: 0, count: 8)
        sc[0] = 63; sc[1] = 1; sc[5] = 40
        var codes = S.randomBytes(128, seed: 5)
        for l in 0..<32 { codes[l] &= 0xF3 }       // sub-block 0: low nibbles of bytes 0..<32
        for l in 64..<96 { codes[l] &= 0x3F }      // sub-block 5: high nibbles of bytes 64..<96
        let block = S.halfBytes(2000) + S.halfBytes(0) + DequantizeTests.packQ4KScales(sc, [UInt8](repeating: 0, count: 8)) + codes
        let exact = S.dequantize(.q4_K, block, count: 256)
        let converted = S.convert(.q4_K, block, to: .q4_1, count: 256)
        let y = S.dequantize(.q4_1, converted, count: 256)
        XCTAssertTrue(y.allSatisfy(\.isFinite))
        // Sub-blocks 0 and 5 are re-quantized with the reference Q4_1 quantizer …
        XCTAssertEqual(Array(converted[0..<20]), S.quantize(.q4_1, Array(exact[0..<32])))
        XCTAssertEqual(Array(converted[100..<120]), S.quantize(.q4_1, Array(exact[160..<192])))
        // … the others take the direct path (d·1 = 2000 and d·0 = 0 are exact halfs).
        S.assertBitEqual(Array(y[32..<160]), Array(exact[32..<160]), "sub-blocks 1-4")
        S.assertBitEqual(Array(y[192..<256]), Array(exact[192..<256]), "sub-blocks 6-7")
    }

    // MARK: - Lossless paths

    func testQ5_0AndQ4_0ToQ8_0AreExact() throws {
        var seen = Set<TensorType>()
        for row in try fixtureRows() where row.type == .q5_0 || row.type == .q4_0 {
            let converted = S.convert(row.type, row.bytes, to: .q8_0, count: row.count)
            S.assertBitEqual(S.dequantize(.q8_0, converted, count: row.count),
                             S.dequantize(row.type, row.bytes, count: row.count), "\(row.type)/\(row.name) → Q8_0")
            // Same scale bytes, int8 values in the source's range.
            for b in 0..<(row.count / 32) {
                XCTAssertEqual(Array(converted[(34 * b)..<(34 * b + 2)]),
                               Array(row.bytes[(row.type.blockBytes * b)..<(row.type.blockBytes * b + 2)]))
                let lo: Int8 = row.type == .q5_0 ? -16 : -8
                XCTAssertTrue(converted[(34 * b + 2)..<(34 * b + 34)].allSatisfy { (lo...(-lo - 1)).contains(Int8(bitPattern: $0)) })
            }
            seen.insert(row.type)
        }
        XCTAssertEqual(seen, [.q5_0, .q4_0])
        XCTAssertTrue(BlockConversion.isLossless(from: .q5_0, to: .q8_0))
        XCTAssertTrue(BlockConversion.isLossless(from: .q4_0, to: .q8_0))
        XCTAssertFalse(BlockConversion.isLossless(from: .q4_K, to: .q4_1))
        XCTAssertFalse(BlockConversion.isLossless(from: .q6_K, to: .q8_0))
    }

    func testEveryLosslessClaimHoldsOnFixtures() throws {
        for row in try fixtureRows() {
            for target in TensorType.allCases where BlockConversion.isLossless(from: row.type, to: target) {
                guard row.count % target.blockSize == 0 else { continue }
                let converted = S.convert(row.type, row.bytes, to: target, count: row.count)
                let original = S.dequantize(row.type, row.bytes, count: row.count)
                S.assertBitEqual(S.dequantize(target, converted, count: row.count), original,
                                 "\(row.type)/\(row.name) → \(target)")
                if target == .f32 {
                    XCTAssertEqual(converted, original.withUnsafeBytes { Array($0) })
                }
            }
        }
    }

    // MARK: - Q6_K → Q8_0

    func testQ6_KToQ8_0WithinHalfAStep() throws {
        var rows = try fixtureRows().filter { $0.type == .q6_K }.map { ($0.bytes, $0.count) }
        rows.append((Self.randomKBlocks(.q6_K, blocks: 64, seed: 3), 64 * 256))
        for (bytes, count) in rows {
            let exact = S.dequantize(.q6_K, bytes, count: count)
            let converted = S.convert(.q6_K, bytes, to: .q8_0, count: count)
            let y = S.dequantize(.q8_0, converted, count: count)
            for g in 0..<(count / 32) {
                let d = halfToFloat(UInt16(converted[34 * g]) | UInt16(converted[34 * g + 1]) << 8)
                let amax = exact[(32 * g)..<(32 * g + 32)].map(abs).max()!
                // The stored scale is amax/127 rounded up to a half (so no value is clamped).
                XCTAssertGreaterThanOrEqual(d, amax / 127)
                XCTAssertLessThanOrEqual(d, amax / 127 + 2 * Self.f16HalfUlp(amax / 127))
                for i in (32 * g)..<(32 * g + 32) {
                    let bound = Self.q6KToQ8_0MaxErrorSteps * d * (1 + 0x1p-16) + Self.f32Slack * exact[i].ulp
                    XCTAssertLessThanOrEqual(abs(y[i] - exact[i]), bound, "value \(i)")
                }
            }
        }
    }

    // MARK: - Generic paths

    func testGenericConversionsEqualDequantizeThenQuantize() throws {
        let dedicated: Set<[TensorType]> = [[.q5_0, .q8_0], [.q4_0, .q8_0], [.q4_K, .q4_1], [.q6_K, .q8_0]]
        let targets = TensorType.allCases.filter { Quantize.supports($0) }
        var pairs = 0
        for row in try fixtureRows() {
            for target in targets where target != row.type && !dedicated.contains([row.type, target]) {
                guard row.count % target.blockSize == 0 else { continue }
                XCTAssertTrue(BlockConversion.canConvert(from: row.type, to: target))
                let converted = S.convert(row.type, row.bytes, to: target, count: row.count)
                let expected = S.quantize(target, S.dequantize(row.type, row.bytes, count: row.count))
                XCTAssertEqual(converted, expected, "\(row.type)/\(row.name) → \(target)")
                pairs += 1
            }
        }
        XCTAssertGreaterThan(pairs, 40)
    }

    func testGenericConversionAcrossChunkBoundaries() {
        // 3 × 256 + 64 values: exercises the 256-value chunking and a shorter tail chunk.
        let x = S.gaussian(832, seed: 8)
        let f16 = S.quantize(.f16, x)
        XCTAssertEqual(S.convert(.f16, f16, to: .q4_1, count: 832), S.quantize(.q4_1, S.dequantize(.f16, f16, count: 832)))
        let q8 = S.quantize(.q8_0, x)
        XCTAssertEqual(S.convert(.q8_0, q8, to: .bf16, count: 832), S.quantize(.bf16, S.dequantize(.q8_0, q8, count: 832)))
    }

    // MARK: - Edge cases

    func testSameTypeIsAByteCopyEvenForUndecodableTypes() {
        let bytes = S.randomBytes(176 * 2, seed: 4)
        XCTAssertEqual(S.convert(.q5_K, bytes, to: .q5_K, count: 512), bytes)
        XCTAssertTrue(BlockConversion.canConvert(from: .q5_K, to: .q5_K))
        XCTAssertTrue(BlockConversion.isLossless(from: .q5_K, to: .q5_K))
        XCTAssertFalse(BlockConversion.canConvert(from: .q5_K, to: .q8_0))
        XCTAssertFalse(BlockConversion.canConvert(from: .q8_0, to: .q6_K))
    }

    func testAllZeroSourcesConvertToZeros() {
        for source in TensorType.allCases where source.isSupported {
            for target in TensorType.allCases where Quantize.supports(target) {
                let zeros = [UInt8](repeating: 0, count: source.rowBytes(256)!)
                let converted = S.convert(source, zeros, to: target, count: 256)
                XCTAssertEqual(S.dequantize(target, converted, count: 256), [Float](repeating: 0, count: 256), "\(source) → \(target)")
            }
        }
    }

    func testCountZeroAndCheckedErrors() throws {
        var out: [UInt8] = [0xCD]
        let src: [UInt8] = [1, 2]
        try src.withUnsafeBytes { s in
            try out.withUnsafeMutableBytes { d in
                BlockConversion.convertRow(from: .q6_K, s.baseAddress!, to: .q8_0, d.baseAddress!, count: 0)
                BlockConversion.convertRow(from: .q4_K, s.baseAddress!, to: .q4_1, d.baseAddress!, count: 0)
                BlockConversion.convertRow(from: .f16, s.baseAddress!, to: .q4_0, d.baseAddress!, count: 0)
                XCTAssertThrowsError(try BlockConversion.checkedConvertRow(from: .q5_K, s.baseAddress!, to: .q8_0, d.baseAddress!, count: 256)) {
                    XCTAssertEqual($0 as? KernelError, .unsupportedConversion(from: .q5_K, to: .q8_0))
                }
                XCTAssertThrowsError(try BlockConversion.checkedConvertRow(from: .f16, s.baseAddress!, to: .q8_0, d.baseAddress!, count: 16)) {
                    XCTAssertEqual($0 as? KernelError, .invalidCount(16, .q8_0))
                }
                XCTAssertThrowsError(try BlockConversion.checkedConvertRow(from: .q4_K, s.baseAddress!, to: .q8_0, d.baseAddress!, count: 32)) {
                    XCTAssertEqual($0 as? KernelError, .invalidCount(32, .q4_K))
                }
                XCTAssertNoThrow(try BlockConversion.checkedConvertRow(from: .q4_K, s.baseAddress!, to: .q8_0, d.baseAddress!, count: 0))
            }
        }
        XCTAssertEqual(out, [0xCD])
    }
}
