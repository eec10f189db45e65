import XCTest
@testable import RedflagKernels

final class DequantizeTests: XCTestCase {
    typealias S = QuantTestSupport

    static let supported: [TensorType] = [.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q8_0, .q4_K, .q6_K]

    // MARK: - gguf-py fixtures

    func testEveryDequantizerMatchesGGUFPyBitForBit() throws {
        let fixtures = try QuantFixtureFile.load()
        var covered = Set<TensorType>()
        for c in fixtures.dequantize {
            let type = try XCTUnwrap(S.tensorType(named: c.type), c.type)
            let blocks = S.bytes(hex: c.blocks)
            let expected = S.floats(hex: c.values)
            XCTAssertEqual(expected.count, c.count)
            XCTAssertEqual(type.rowBytes(c.count), blocks.count, "\(c.type)/\(c.name) byte size")
            S.assertBitEqual(S.dequantize(type, blocks, count: c.count), expected, "\(c.type)/\(c.name)")
            covered.insert(type)
        }
        XCTAssertEqual(covered, Set(Self.supported), "every supported type has fixtures")
        XCTAssertEqual(Set(TensorType.allCases.filter(\.isSupported)), Set(Self.supported))
    }

    func testUnalignedSourceGivesSameResult() throws {
        let fixtures = try QuantFixtureFile.load()
        for c in fixtures.dequantize {
            let type = try XCTUnwrap(S.tensorType(named: c.type))
            let blocks = S.bytes(hex: c.blocks)
            let shifted = [UInt8(0x55)] + blocks
            var out = [Float](repeating: 0, count: c.count)
            shifted.withUnsafeBytes { src in
                out.withUnsafeMutableBufferPointer { dst in
                    Dequantize.row(type, from: src.baseAddress! + 1, count: c.count, into: dst.baseAddress!)
                }
            }
            S.assertBitEqual(out, S.floats(hex: c.values), "\(c.type)/\(c.name) at odd address")
        }
    }

    func testMatrixWithRowStrides() throws {
        let fixtures = try QuantFixtureFile.load()
        let c = try XCTUnwrap(fixtures.dequantize.first { $0.type == "Q4_K" && $0.name == "random_blocks" })
        let blocks = S.bytes(hex: c.blocks)  // 4 blocks: read as 2 rows of 512, padded to 300-byte stride
        let expected = S.floats(hex: c.values)
        let padded = Array(blocks[0..<288]) + [UInt8](repeating: 0xEE, count: 12) + Array(blocks[288..<576])
        var out = [Float](repeating: -1, count: 2 * 520)
        padded.withUnsafeBytes { src in
            out.withUnsafeMutableBufferPointer { dst in
                Dequantize.matrix(.q4_K, from: src.baseAddress!, rows: 2, columns: 512, srcRowBytes: 300,
                                  into: dst.baseAddress!, dstRowStride: 520)
            }
        }
        S.assertBitEqual(Array(out[0..<512]), Array(expected[0..<512]), "row 0")
        S.assertBitEqual(Array(out[520..<1032]), Array(expected[512..<1024]), "row 1")
        XCTAssertEqual(out[512], -1, "gap between rows untouched")
        XCTAssertEqual(out[1039], -1)
    }

    // MARK: - Hand-computed blocks

    func testQ8_0HandBlock() {
        let qs: [Int8] = [-128, -127, -1, 0, 1, 2, 3, 127] + (8..<32).map { Int8($0 - 20) }
        let block = S.halfBytes(0.5) + qs.map { UInt8(bitPattern: $0) }
        let y = S.dequantize(.q8_0, block, count: 32)
        XCTAssertEqual(y, qs.map { Float($0) * 0.5 })
        XCTAssertEqual(Array(y[0..<8]), [-64, -63.5, -0.5, 0, 0.5, 1, 1.5, 63.5])
    }

    func testQ4_0HandBlock() {
        // Byte j: low nibble j (value j), high nibble 15 − j (value j + 16).
        let codes: [UInt8] = (0..<16).map { UInt8($0) | UInt8(15 - $0) << 4 }
        let block = S.halfBytes(0.5) + codes
        let y = S.dequantize(.q4_0, block, count: 32)
        XCTAssertEqual(Array(y[0..<16]), (0..<16).map { 0.5 * Float($0 - 8) })
        XCTAssertEqual(Array(y[16..<32]), (0..<16).map { 0.5 * Float(7 - $0) })
        XCTAssertEqual(y[0], -4)
        XCTAssertEqual(y[16], 3.5)
    }

    func testQ4_1HandBlock() {
        let codes: [UInt8] = (0..<16).map { UInt8($0) | UInt8(15 - $0) << 4 }
        let block = S.halfBytes(0.25) + S.halfBytes(-1) + codes
        let y = S.dequantize(.q4_1, block, count: 32)
        XCTAssertEqual(Array(y[0..<16]), (0..<16).map { 0.25 * Float($0) - 1 })
        XCTAssertEqual(Array(y[16..<32]), (0..<16).map { 0.25 * Float(15 - $0) - 1 })
    }

    func testQ5_0HandBlock() {
        // 5-bit codes c_j = j (0..31): low nibbles from qs, the 5th bit from qh bit j (little-endian u32).
        let codes = Array(0..<32)
        var qh: UInt32 = 0
        for j in 0..<32 where codes[j] & 16 != 0 { qh |= 1 << UInt32(j) }
        let qhBytes = (0..<4).map { UInt8(truncatingIfNeeded: qh >> (8 * UInt32($0))) }
        let qs = (0..<16).map { UInt8(codes[$0] & 15) | UInt8(codes[$0 + 16] & 15) << 4 }
        let y = S.dequantize(.q5_0, S.halfBytes(2) + qhBytes + qs, count: 32)
        XCTAssertEqual(y, codes.map { 2 * Float($0 - 16) })
        XCTAssertEqual(qhBytes, [0, 0, 0xFF, 0xFF])
    }

    /// Packs eight 6-bit (scale, min) pairs the way Q4_K stores them (written from the format
    /// description, independently of the implementation).
    static func packQ4KScales(_ sc: [UInt8], _ m: [UInt8]) -> [UInt8] {
        var s = [UInt8](repeating: 0, count: 12)
        for j in 0..<4 {
            s[j] = (sc[j] & 63) | ((sc[j + 4] >> 4) << 6)
            s[j + 4] = (m[j] & 63) | ((m[j + 4] >> 4) << 6)
            s[j + 8] = (sc[j + 4] & 15) | ((m[j + 4] & 15) << 4)
        }
        return s
    }

    func testQ4_KLayoutHandBuilt() {
        let sc: [UInt8] = [1, 2, 63, 17, 33, 48, 5, 63]
        let m: [UInt8] = [0, 3, 62, 16, 47, 1, 63, 32]
        // codes[32j + l]: a different pattern per sub-block.
        let codes: [UInt8] = (0..<256).map { (i: Int) -> UInt8 in UInt8((i * 7 + i / 32) % 16) }
        var qs = [UInt8](repeating: 0, count: 128)
        for j in 0..<8 {
            for l in 0..<32 {
                let byte = 32 * (j / 2) + l
                qs[byte] |= j % 2 == 0 ? codes[32 * j + l] : codes[32 * j + l] << 4
            }
        }
        let d: Float = 0.125, dmin: Float = 0.0625  // exact in f16; products exact in f32
        let block = S.halfBytes(d) + S.halfBytes(dmin) + Self.packQ4KScales(sc, m) + qs
        XCTAssertEqual(block.count, 144)
        let y = S.dequantize(.q4_K, block, count: 256)
        for i in 0..<256 {
            let j = i / 32
            XCTAssertEqual(y[i], d * Float(sc[j]) * Float(codes[i]) - dmin * Float(m[j]), "value \(i)")
        }
    }

    func testQ6_KLayoutHandBuilt() {
        let codes: [UInt8] = (0..<256).map { (i: Int) -> UInt8 in UInt8((i * 13 + i / 64) % 64) }  // value = code − 32
        let scales: [Int8] = [1, -2, 3, -4, 5, 127, -128, 8, 9, -10, 11, 12, -13, 14, 15, -16]
        var ql = [UInt8](repeating: 0, count: 128)
        var qh = [UInt8](repeating: 0, count: 64)
        for p in 0..<256 {
            let h = p / 128, r = p % 128, g = r / 32, l = r % 32
            let c = codes[p]
            let qlIndex = 64 * h + l + (g & 1) * 32
            ql[qlIndex] |= g >= 2 ? (c & 15) << 4 : c & 15
            qh[32 * h + l] |= (c >> 4) << UInt8(2 * g)
        }
        let d: Float = 0.25
        let block = ql + qh + scales.map { UInt8(bitPattern: $0) } + S.halfBytes(d)
        XCTAssertEqual(block.count, 210)
        let y = S.dequantize(.q6_K, block, count: 256)
        for i in 0..<256 {
            XCTAssertEqual(y[i], d * Float(scales[i / 16]) * Float(Int(codes[i]) - 32), "value \(i)")
        }
    }

    // MARK: - Edge cases

    func testAllZeroBlocksGiveZeros() {
        for type in Self.supported {
            let count = type.blockSize == 1 ? 8 : 2 * type.blockSize
            let y = S.dequantize(type, [UInt8](repeating: 0, count: type.rowBytes(count)!), count: count)
            XCTAssertEqual(y, [Float](repeating: 0, count: count), "\(type)")
        }
    }

    func testCountZeroWritesNothing() throws {
        for type in Self.supported {
            var out: [Float] = [42]
            let src: [UInt8] = [1, 2, 3, 4]
            try src.withUnsafeBytes { s in
                try out.withUnsafeMutableBufferPointer { d in
                    Dequantize.row(type, from: s.baseAddress!, count: 0, into: d.baseAddress!)
                    XCTAssertNoThrow(try Dequantize.checkedRow(type, from: s.baseAddress!, count: 0, into: d.baseAddress!))
                }
            }
            XCTAssertEqual(out, [42], "\(type)")
        }
    }

    func testCheckedRowRejectsUnsupportedTypesAndBadCounts() throws {
        let src = [UInt8](repeating: 0, count: 1024)
        var out = [Float](repeating: 0, count: 512)
        try src.withUnsafeBytes { s in
            try out.withUnsafeMutableBufferPointer { d in
                for type in TensorType.allCases where !type.isSupported {
                    XCTAssertThrowsError(try Dequantize.checkedRow(type, from: s.baseAddress!, count: 256, into: d.baseAddress!)) {
                        XCTAssertEqual($0 as? KernelError, .unsupportedType(type))
                    }
                }
                XCTAssertThrowsError(try Dequantize.checkedRow(.q8_0, from: s.baseAddress!, count: 33, into: d.baseAddress!)) {
                    XCTAssertEqual($0 as? KernelError, .invalidCount(33, .q8_0))
                }
                XCTAssertThrowsError(try Dequantize.checkedRow(.q4_K, from: s.baseAddress!, count: 32, into: d.baseAddress!)) {
                    XCTAssertEqual($0 as? KernelError, .invalidCount(32, .q4_K))
                }
                XCTAssertThrowsError(try Dequantize.checkedRow(.f16, from: s.baseAddress!, count: -1, into: d.baseAddress!))
                XCTAssertNoThrow(try Dequantize.checkedRow(.q6_K, from: s.baseAddress!, count: 256, into: d.baseAddress!))
            }
        }
        XCTAssertEqual(KernelError.unsupportedType(.q5_K).description, "unsupported tensor type Q5_K")
    }
}
