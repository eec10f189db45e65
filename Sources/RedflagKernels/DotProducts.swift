/// Dot products of one weight row (in a ggml block layout) with int8-quantized activations.
///
/// Each fast kernel sits beside its scalar reference (`…Reference`); `DotProductTests` compares them
/// for every block count 1…33 and large rows. `x` is `QuantizedActivations.kernelInput(for:)` (the activation
/// layout this build's kernels read). Integer products accumulate in int32 and each block
/// costs one float multiply-add. Weights and activations are assumed in −127…127 (what every
/// quantizer here produces), so two int8·int8 products summed fit in an int16 lane (≤ 32 258).
public enum DotProducts {
    // MARK: helpers (bit-casts plus shifts; generic widening conversions are not inlined well)

    /// Σ_i (wE[i]·xE[i] + wO[i]·xO[i]) as 8 int32 partial sums. Int16 products of int8-range values,
    /// two summed (|p| ≤ 2·127·127 fits int16), then adjacent int16 pairs widened to int32 by shifts.
    @inline(__always) @usableFromInline
    static func madd(_ wE: SIMD16<Int16>, _ xE: SIMD16<Int16>, _ wO: SIMD16<Int16>, _ xO: SIMD16<Int16>) -> SIMD8<Int32> {
        let p = wE &* xE &+ wO &* xO
        let pw = unsafeBitCast(p, to: SIMD8<Int32>.self)
        return ((pw &<< 16) &>> 16) &+ (pw &>> 16)
    }

    /// Weights of a 16-byte packed 4-bit block (byte j: value j in the low nibble, j + 16 in the high one)
    /// as even and odd lanes matching `QuantizedActivations.pairs`.
    @inline(__always) @usableFromInline
    static func nibbles(_ packed: SIMD8<UInt16>) -> (even: SIMD16<Int16>, odd: SIMD16<Int16>) {
        let m = SIMD8<UInt16>(repeating: 0x0F)
        let evenLo = packed & m, oddLo = (packed &>> 8) & m          // values 2i, 2i+1 (i < 8)
        let evenHi = (packed &>> 4) & m, oddHi = packed &>> 12       // values 16+2i, 17+2i
        return (unsafeBitCast(SIMD16(lowHalf: evenLo, highHalf: evenHi), to: SIMD16<Int16>.self),
                unsafeBitCast(SIMD16(lowHalf: oddLo, highHalf: oddHi), to: SIMD16<Int16>.self))
    }

    /// f16 bits to Float in hot loops: one `vcvtph2ps`/`fcvt` where the target has it (F16C on x86-64-v3/haswell,
    /// every aarch64); `halfToFloat` is the portable, exact reference it is tested against.
    @inline(__always) @usableFromInline
    static func half(_ bits: UInt16) -> Float { Float(Float16(bitPattern: bits)) }

    /// Int32 lanes with |v| < 2²² to Float exactly, without a (non-inlined) generic conversion:
    /// adding the bits of 1.5·2²³ puts v in the mantissa.
    @inline(__always) @usableFromInline
    static func toFloat(_ v: SIMD8<Int32>) -> SIMD8<Float> {
        unsafeBitCast(v &+ 0x4B40_0000, to: SIMD8<Float>.self) - 12_582_912
    }

    // MARK: Q8_0 · q8

    /// Scalar reference: Σ_b d_w[b]·d_x[b]·Σ_j q_w·q_x.
    public static func q8_0Reference(_ row: UnsafeRawPointer, _ a: QuantizedActivations, blocks: Int) -> Float {
        var sum: Float = 0
        for b in 0..<blocks {
            let blk = row + b * 34
            let d = halfToFloat(blk.loadUnaligned(as: UInt16.self))
            var s: Int32 = 0
            for j in 0..<32 { s += Int32(blk.load(fromByteOffset: 2 + j, as: Int8.self)) * Int32(a.values[b * 32 + j]) }
            sum += d * a.scales[b] * Float(s)
        }
        return sum
    }

    @inlinable @inline(__always)
    public static func q8_0(_ x: UnsafeRawPointer, row: UnsafeRawPointer, _ xs: UnsafePointer<Float>, blocks: Int) -> Float {
        #if arch(arm64)
        return DotProductsARM.q8_0(row, x.assumingMemoryBound(to: Int16.self), xs, blocks: blocks)
        #elseif arch(x86_64) && REDFLAG_AVX2
        return DotProductsX86.q8_0(row, x, xs, blocks: blocks)
        #else
        // Two accumulators (even and odd blocks) so consecutive FMAs do not wait on each other.
        var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
        let xr = x
        @inline(__always) func block(_ b: Int) -> SIMD8<Float> {
            let blk = row + b * 34
            let w = blk.loadUnaligned(fromByteOffset: 2, as: SIMD16<Int16>.self)   // 32 int8 as 16 byte pairs
            let xE = xr.loadUnaligned(fromByteOffset: b * 64, as: SIMD16<Int16>.self)
            let xO = xr.loadUnaligned(fromByteOffset: b * 64 + 32, as: SIMD16<Int16>.self)
            return toFloat(madd((w &<< 8) &>> 8, xE, w &>> 8, xO))
        }
        @inline(__always) func scale(_ b: Int) -> SIMD8<Float> {
            SIMD8(repeating: half((row + b * 34).loadUnaligned(as: UInt16.self)) * xs[b])
        }
        var b = 0
        while b + 2 <= blocks {
            acc0.addProduct(block(b), scale(b))
            acc1.addProduct(block(b + 1), scale(b + 1))
            b += 2
        }
        if b < blocks { acc0.addProduct(block(b), scale(b)) }
        return (acc0 + acc1).sum()
        #endif
    }

    // MARK: Q4_0 · q8

    /// Scalar reference: Σ_b d_w·d_x·Σ_j (q_w − 8)·q_x.
    public static func q4_0Reference(_ row: UnsafeRawPointer, _ a: QuantizedActivations, blocks: Int) -> Float {
        var sum: Float = 0
        for b in 0..<blocks {
            let blk = row + b * 18
            let d = halfToFloat(blk.loadUnaligned(as: UInt16.self))
            var s: Int32 = 0
            for j in 0..<16 {
                let byte = blk.load(fromByteOffset: 2 + j, as: UInt8.self)
                s += (Int32(byte & 15) - 8) * Int32(a.values[b * 32 + j])
                s += (Int32(byte >> 4) - 8) * Int32(a.values[b * 32 + j + 16])
            }
            sum += d * a.scales[b] * Float(s)
        }
        return sum
    }

    @inlinable @inline(__always)
    public static func q4_0(_ x: UnsafeRawPointer, row: UnsafeRawPointer, _ xs: UnsafePointer<Float>,
                            _ xsum: UnsafePointer<Int32>, blocks: Int) -> Float {
        #if arch(arm64)
        return DotProductsARM.q4_0(row, x.assumingMemoryBound(to: Int16.self), xs, xsum, blocks: blocks)
        #elseif arch(x86_64) && REDFLAG_AVX2
        return DotProductsX86.q4_0(row, x, xs, xsum, blocks: blocks)
        #else
        var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
        let xr = x
        @inline(__always) func block(_ b: Int) -> (SIMD8<Float>, SIMD8<Float>) {
            let blk = row + b * 18
            let (wE, wO) = nibbles(blk.loadUnaligned(fromByteOffset: 2, as: SIMD8<UInt16>.self))   // 0…15
            let xE = xr.loadUnaligned(fromByteOffset: b * 64, as: SIMD16<Int16>.self)
            let xO = xr.loadUnaligned(fromByteOffset: b * 64 + 32, as: SIMD16<Int16>.self)
            // Σ (q − 8)·x = Σ q·x − 8·Σ x; the correction goes into lane 0.
            var isum = madd(wE, xE, wO, xO)
            isum[0] &-= 8 &* xsum[b]
            return (toFloat(isum), SIMD8(repeating: half(blk.loadUnaligned(as: UInt16.self)) * xs[b]))
        }
        var b = 0
        while b + 2 <= blocks {
            let (v0, s0) = block(b), (v1, s1) = block(b + 1)
            acc0.addProduct(v0, s0)
            acc1.addProduct(v1, s1)
            b += 2
        }
        if b < blocks { let (v, sc) = block(b); acc0.addProduct(v, sc) }
        return (acc0 + acc1).sum()
        #endif
    }

    // MARK: Q4_1 · q8

    /// Scalar reference: Σ_b (d_w·d_x·Σ_j q_w·q_x + m_w·d_x·Σ_j q_x).
    public static func q4_1Reference(_ row: UnsafeRawPointer, _ a: QuantizedActivations, blocks: Int) -> Float {
        var sum: Float = 0
        for b in 0..<blocks {
            let blk = row + b * 20
            let d = halfToFloat(blk.loadUnaligned(as: UInt16.self))
            let m = halfToFloat(blk.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
            var s: Int32 = 0, sx: Int32 = 0
            for j in 0..<16 {
                let byte = blk.load(fromByteOffset: 4 + j, as: UInt8.self)
                s += Int32(byte & 15) * Int32(a.values[b * 32 + j]) + Int32(byte >> 4) * Int32(a.values[b * 32 + j + 16])
                sx += Int32(a.values[b * 32 + j]) + Int32(a.values[b * 32 + j + 16])
            }
            sum += d * a.scales[b] * Float(s) + m * a.scales[b] * Float(sx)
        }
        return sum
    }

    @inlinable @inline(__always)
    public static func q4_1(_ x: UnsafeRawPointer, row: UnsafeRawPointer, _ xs: UnsafePointer<Float>,
                            _ xsum: UnsafePointer<Int32>, blocks: Int) -> Float {
        #if arch(arm64)
        return DotProductsARM.q4_1(row, x.assumingMemoryBound(to: Int16.self), xs, xsum, blocks: blocks)
        #elseif arch(x86_64) && REDFLAG_AVX2
        return DotProductsX86.q4_1(row, x, xs, xsum, blocks: blocks)
        #else
        var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
        var mins: Float = 0
        let xr = x
        @inline(__always) func block(_ b: Int) -> (SIMD8<Float>, SIMD8<Float>, Float) {
            let blk = row + b * 20
            let (wE, wO) = nibbles(blk.loadUnaligned(fromByteOffset: 4, as: SIMD8<UInt16>.self))
            let xE = xr.loadUnaligned(fromByteOffset: b * 64, as: SIMD16<Int16>.self)
            let xO = xr.loadUnaligned(fromByteOffset: b * 64 + 32, as: SIMD16<Int16>.self)
            let d = half(blk.loadUnaligned(as: UInt16.self))
            let m = half(blk.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
            return (toFloat(madd(wE, xE, wO, xO)), SIMD8(repeating: d * xs[b]), m * xs[b] * Float(xsum[b]))
        }
        var b = 0
        while b + 2 <= blocks {
            let (v0, s0, m0) = block(b), (v1, s1, m1) = block(b + 1)
            acc0.addProduct(v0, s0)
            acc1.addProduct(v1, s1)
            mins += m0 + m1
            b += 2
        }
        if b < blocks { let (v, sc, m) = block(b); acc0.addProduct(v, sc); mins += m }
        return (acc0 + acc1).sum() + mins
        #endif
    }
}
