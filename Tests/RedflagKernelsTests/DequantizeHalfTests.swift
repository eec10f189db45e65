import XCTest
@testable import RedflagKernels

/// The bit-level f16 / bf16 conversions in Half.swift.
final class DequantizeHalfTests: XCTestCase {
    #if !(os(macOS) && arch(x86_64))
    func testHalfToFloatMatchesFloat16ForAllBitPatterns() {
        for bits in 0...UInt16.max {
            let expected = Float(Float16(bitPattern: bits))
            let actual = halfToFloat(bits)
            if expected.isNaN {
                XCTAssertTrue(actual.isNaN, "0x\(String(bits, radix: 16))")
            } else {
                XCTAssertEqual(actual.bitPattern, expected.bitPattern, "0x\(String(bits, radix: 16))")
            }
        }
    }

    func testFloatToHalfMatchesFloat16RoundToNearestEven() {
        func check(_ x: Float) {
            let expected = Float16(x)
            let actual = floatToHalf(x)
            if expected.isNaN {
                XCTAssertTrue(Float16(bitPattern: actual).isNaN, "\(x)")
            } else if actual != expected.bitPattern {
                XCTFail("floatToHalf(\(x) = 0x\(String(x.bitPattern, radix: 16))): 0x\(String(actual, radix: 16)) expected 0x\(String(expected.bitPattern, radix: 16))")
            }
        }
        // Every half value, the exact midpoints between neighbours (ties) and their f32 neighbours.
        for bits in 0...UInt16.max {
            let x = halfToFloat(bits)
            guard x.isFinite else { check(x); continue }
            check(x)
            let next = halfToFloat(bits &+ 1)
            if next.isFinite, (bits & 0x7FFF) != 0x7BFF, bits != 0x7FFF {
                let mid = (Double(x) + Double(next)) / 2
                let m = Float(mid)
                XCTAssertEqual(Double(m), mid)  // midpoints of halfs are exact f32 values
                check(m)
                check(m.nextUp)
                check(m.nextDown)
            }
        }
        // Random f32 bit patterns across the whole range.
        var rng = QuantTestRNG(seed: 7)
        for _ in 0..<500_000 {
            check(Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())))
        }
        // Random values near the half range.
        for _ in 0..<200_000 {
            let e = Float(Int(rng.next() % 48) - 30)
            check(Float(rng.nextUnitExcludingZero()) * Float.pow2(e) * (rng.next() & 1 == 0 ? 1 : -1))
        }
    }
    #endif

    func testFloatToHalfEdgeCases() {
        XCTAssertEqual(floatToHalf(0), 0x0000)
        XCTAssertEqual(floatToHalf(-0.0), 0x8000)
        XCTAssertEqual(floatToHalf(1), 0x3C00)
        XCTAssertEqual(floatToHalf(-2), 0xC000)
        XCTAssertEqual(floatToHalf(0.5), 0x3800)
        XCTAssertEqual(floatToHalf(65504), 0x7BFF)
        XCTAssertEqual(floatToHalf(65519.996), 0x7BFF)
        XCTAssertEqual(floatToHalf(65520), 0x7C00)       // tie to even → inf
        XCTAssertEqual(floatToHalf(-1e10), 0xFC00)
        XCTAssertEqual(floatToHalf(.infinity), 0x7C00)
        XCTAssertEqual(floatToHalf(0x1p-14), 0x0400)      // smallest normal
        XCTAssertEqual(floatToHalf(0x1p-24), 0x0001)      // smallest subnormal
        XCTAssertEqual(floatToHalf(0x1p-25), 0x0000)      // tie → even (0)
        XCTAssertEqual(floatToHalf(Float(0x1p-25).nextUp), 0x0001)
        XCTAssertEqual(floatToHalf(0x1.8p-24), 0x0002)    // 1.5 subnormal steps → 2 (even)
        XCTAssertEqual(floatToHalf(0x1.8p-23), 0x0003)    // 3 steps exactly
        XCTAssertEqual(floatToHalf(1 + 0x1p-11), 0x3C00)  // tie → even mantissa
        XCTAssertEqual(floatToHalf(1 + 0x1.8p-10), 0x3C02)
        XCTAssertEqual(floatToHalf(0x1.FFFp-15), 0x0400)  // rounds up into the normal range
        XCTAssertTrue(halfToFloat(floatToHalf(.nan)).isNaN)
        XCTAssertEqual(halfToFloat(0x0001), 0x1p-24)
        XCTAssertEqual(halfToFloat(0x83FF), -0x1.FF8p-15)
        XCTAssertEqual(halfToFloat(0x7BFF), 65504)
        XCTAssertEqual(halfToFloat(0xFC00), -.infinity)
    }

    func testFloatToHalfRoundingUpNeverBelowValue() {
        var rng = QuantTestRNG(seed: 11)
        for _ in 0..<100_000 {
            let x = Float(rng.nextUnitExcludingZero()) * Float.pow2(Float(Int(rng.next() % 40) - 30))
            guard x <= 65504 else { continue }
            let h = floatToHalfRoundingUp(x)
            let v = halfToFloat(h)
            XCTAssertGreaterThanOrEqual(v, x)
            if h > 0 { XCTAssertLessThan(halfToFloat(h - 1), x) }
        }
        XCTAssertEqual(floatToHalfRoundingUp(0), 0)
        XCTAssertEqual(floatToHalfRoundingUp(1e-30), 1)
        XCTAssertEqual(floatToHalfRoundingUp(1), 0x3C00)
    }

    func testBFloat16() {
        XCTAssertEqual(floatToBFloat16(1), 0x3F80)
        XCTAssertEqual(floatToBFloat16(Float(bitPattern: 0x3F80_8000)), 0x3F80)  // tie → even
        XCTAssertEqual(floatToBFloat16(Float(bitPattern: 0x3F81_8000)), 0x3F82)  // tie → even
        XCTAssertEqual(floatToBFloat16(Float(bitPattern: 0x3F80_8001)), 0x3F81)
        XCTAssertEqual(floatToBFloat16(.greatestFiniteMagnitude), 0x7F80)
        XCTAssertEqual(floatToBFloat16(-.infinity), 0xFF80)
        XCTAssertEqual(floatToBFloat16(Float(bitPattern: 0x7F80_0001)), 0x7FC0)  // sNaN → quiet
        XCTAssertEqual(bfloat16ToFloat(0xC040), -3)
    }
}

private extension Float {
    static func pow2(_ e: Float) -> Float { Float(sign: .plus, exponent: Int(e), significand: 1) }
}
