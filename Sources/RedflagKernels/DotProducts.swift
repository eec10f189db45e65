/// Dot products of one weight row (in a ggml block layout) with int8-quantized activations.
///
/// Each fast kernel sits beside its scalar reference (`…Reference`); `DotProductTests` compares them
/// for every block count 1…33 and large rows. Integer products accumulate in int32 and each block
/// costs one float multiply-add. Weights and activations are assumed in −127…127 (what every
/// quantizer here produces), so two int8·int8 products summed fit in an int16 lane (≤ 32 258).
public enum DotProducts {
    // MARK: widening helpers (bit-casts plus shifts; generic widening conversions are not inlined well)

    /// Σ over 16 lanes of a·b as 4 int32 partial sums.
    @inline(__always) @usableFromInline
    static func dot16(_ a: SIMD16<Int8>, _ b: SIMD16<Int8>) -> SIMD4<Int32> {
        let aw = unsafeBitCast(a, to: SIMD8<Int16>.self)
        let bw = unsafeBitCast(b, to: SIMD8<Int16>.self)
        let aEven = (aw &<< 8) &>> 8, aOdd = aw &>> 8
        let bEven = (bw &<< 8) &>> 8, bOdd = bw &>> 8
        let p = aEven &* bEven &+ aOdd &* bOdd                 // |p| ≤ 2·127·127
        let pw = unsafeBitCast(p, to: SIMD4<Int32>.self)
        return ((pw &<< 16) &>> 16) &+ (pw &>> 16)
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
    public static func q8_0(_ row: UnsafeRawPointer, _ xq: UnsafePointer<Int8>, _ xs: UnsafePointer<Float>, blocks: Int) -> Float {
        var sum: Float = 0
        let xr = UnsafeRawPointer(xq)
        for b in 0..<blocks {
            let blk = row + b * 34
            let w0 = blk.loadUnaligned(fromByteOffset: 2, as: SIMD16<Int8>.self)
            let w1 = blk.loadUnaligned(fromByteOffset: 18, as: SIMD16<Int8>.self)
            let x0 = xr.loadUnaligned(fromByteOffset: b * 32, as: SIMD16<Int8>.self)
            let x1 = xr.loadUnaligned(fromByteOffset: b * 32 + 16, as: SIMD16<Int8>.self)
            let s = (dot16(w0, x0) &+ dot16(w1, x1)).wrappedSum()
            sum += halfToFloat(blk.loadUnaligned(as: UInt16.self)) * xs[b] * Float(s)
        }
        return sum
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
    public static func q4_0(_ row: UnsafeRawPointer, _ xq: UnsafePointer<Int8>, _ xs: UnsafePointer<Float>,
                            _ xsum: UnsafePointer<Int32>, blocks: Int) -> Float {
        var sum: Float = 0
        let xr = UnsafeRawPointer(xq)
        for b in 0..<blocks {
            let blk = row + b * 18
            let packed = blk.loadUnaligned(fromByteOffset: 2, as: SIMD16<UInt8>.self)
            let lo = unsafeBitCast(packed & 0x0F, to: SIMD16<Int8>.self)   // values 0…15
            let hi = unsafeBitCast(packed &>> 4, to: SIMD16<Int8>.self)
            let x0 = xr.loadUnaligned(fromByteOffset: b * 32, as: SIMD16<Int8>.self)
            let x1 = xr.loadUnaligned(fromByteOffset: b * 32 + 16, as: SIMD16<Int8>.self)
            // Σ (q − 8)·x = Σ q·x − 8·Σ x
            let s = (dot16(lo, x0) &+ dot16(hi, x1)).wrappedSum() &- 8 &* xsum[b]
            sum += halfToFloat(blk.loadUnaligned(as: UInt16.self)) * xs[b] * Float(s)
        }
        return sum
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
    public static func q4_1(_ row: UnsafeRawPointer, _ xq: UnsafePointer<Int8>, _ xs: UnsafePointer<Float>,
                            _ xsum: UnsafePointer<Int32>, blocks: Int) -> Float {
        var sum: Float = 0
        let xr = UnsafeRawPointer(xq)
        for b in 0..<blocks {
            let blk = row + b * 20
            let packed = blk.loadUnaligned(fromByteOffset: 4, as: SIMD16<UInt8>.self)
            let lo = unsafeBitCast(packed & 0x0F, to: SIMD16<Int8>.self)
            let hi = unsafeBitCast(packed &>> 4, to: SIMD16<Int8>.self)
            let x0 = xr.loadUnaligned(fromByteOffset: b * 32, as: SIMD16<Int8>.self)
            let x1 = xr.loadUnaligned(fromByteOffset: b * 32 + 16, as: SIMD16<Int8>.self)
            let s = (dot16(lo, x0) &+ dot16(hi, x1)).wrappedSum()
            let d = halfToFloat(blk.loadUnaligned(as: UInt16.self))
            let m = halfToFloat(blk.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
            sum += xs[b] * (d * Float(s) + m * Float(xsum[b]))
        }
        return sum
    }
}
