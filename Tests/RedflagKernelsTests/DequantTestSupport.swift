import Foundation
import XCTest
@testable import RedflagKernels

/// The gguf-py fixtures written by `tools/make_quant_fixtures.py`.
struct QuantFixtureFile: Decodable {
    struct DequantizeCase: Decodable {
        let type: String
        let name: String
        let count: Int
        let blocks: String
        let values: String
    }

    struct QuantizeCase: Decodable {
        let type: String
        let name: String
        let count: Int
        let input: String
        let blocks: String
    }

    let seed: Int
    let dequantize: [DequantizeCase]
    let quantize: [QuantizeCase]

    static let url = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
        .appendingPathComponent("quant_fixtures.json")

    static func load() throws -> QuantFixtureFile {
        let data = try Data(contentsOf: url)
        return try JSONDecoder().decode(QuantFixtureFile.self, from: data)
    }
}

/// Helpers shared by the Dequantize / Quantize / BlockConversion tests (namespaced so they do not
/// collide with other test files in the target).
enum QuantTestSupport {
    static func tensorType(named name: String) -> TensorType? {
        TensorType.allCases.first { $0.description == name }
    }

    static func bytes(hex: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(hex.utf8.count / 2)
        var high: UInt8? = nil
        for c in hex.utf8 {
            let v: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): v = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): v = c - UInt8(ascii: "A") + 10
            default: preconditionFailure("bad hex digit")
            }
            if let h = high { out.append(h << 4 | v); high = nil } else { high = v }
        }
        precondition(high == nil, "odd hex length")
        return out
    }

    /// Little-endian f32 values from hex.
    static func floats(hex: String) -> [Float] {
        let b = bytes(hex: hex)
        return stride(from: 0, to: b.count, by: 4).map { i in
            let lo: UInt32 = UInt32(b[i]) | UInt32(b[i + 1]) << 8
            let hi: UInt32 = UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
            return Float(bitPattern: lo | hi)
        }
    }

    static func dequantize(_ type: TensorType, _ bytes: [UInt8], count: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: count)
        bytes.withUnsafeBytes { src in
            out.withUnsafeMutableBufferPointer { dst in
                Dequantize.row(type, from: src.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, count: count,
                               into: dst.baseAddress ?? UnsafeMutablePointer(bitPattern: 4)!)
            }
        }
        return out
    }

    static func quantize(_ type: TensorType, _ x: [Float]) -> [UInt8] {
        var out = [UInt8](repeating: 0xA5, count: type.rowBytes(x.count)!)
        x.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBytes { dst in
                Quantize.row(type, from: src.baseAddress!, count: x.count, into: dst.baseAddress!)
            }
        }
        return out
    }

    static func convert(_ source: TensorType, _ bytes: [UInt8], to target: TensorType, count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0xA5, count: target.rowBytes(count)!)
        bytes.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                BlockConversion.convertRow(from: source, src.baseAddress!, to: target, dst.baseAddress!, count: count)
            }
        }
        return out
    }

    static func halfBytes(_ value: Float) -> [UInt8] {
        let h = floatToHalf(value)
        return [UInt8(h & 0xFF), UInt8(h >> 8)]
    }

    /// Asserts bit-for-bit equality of two f32 arrays (so +0/−0 and NaN payloads count).
    static func assertBitEqual(_ actual: [Float], _ expected: [Float], _ message: String,
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, expected.count, "\(message): count", file: file, line: line)
        var mismatches = 0
        for i in 0..<min(actual.count, expected.count) where actual[i].bitPattern != expected[i].bitPattern {
            if mismatches < 5 {
                XCTFail("\(message): value \(i): got \(actual[i]) expected \(expected[i])", file: file, line: line)
            }
            mismatches += 1
        }
        if mismatches > 5 { XCTFail("\(message): \(mismatches) mismatches in all", file: file, line: line) }
    }

    /// Gaussian values from a seeded generator.
    static func gaussian(_ count: Int, seed: UInt64, sigma: Float = 1) -> [Float] {
        var rng = QuantTestRNG(seed: seed)
        return (0..<count).map { _ in rng.nextGaussian() * sigma }
    }

    /// Random bytes from a seeded generator.
    static func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var rng = QuantTestRNG(seed: seed)
        return (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }
}

/// The reproducible test-data generator (the shared SplitMix64), with the draws these tests use.
typealias QuantTestRNG = SplitMix64

extension SplitMix64 {
    /// Uniform in (0, 1].
    mutating func nextUnitExcludingZero() -> Double {
        (Double(next() >> 11) + 1) * 0x1p-53
    }

    /// Standard normal (Box–Muller).
    mutating func nextGaussian() -> Float {
        let u1 = nextUnitExcludingZero()
        let u2 = nextUnitExcludingZero()
        return Float((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2))
    }
}
