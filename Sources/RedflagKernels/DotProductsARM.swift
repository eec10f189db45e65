#if arch(arm64)
/// aarch64 bodies of the int8 dot products in `DotProducts` (same arguments, same integer sums; only the
/// float accumulation order differs, within `DotProductTests`' tolerance).
///
/// Every block reduces 32 int8·int8 products to one int32 with the "reduce form"
/// `(widen(a) &* widen(b)).wrappedSum()` over 16-lane vectors, widened lane by lane in `@inline(__always)`
/// code (the generic `SIMD16<Int32>(truncatingIfNeeded:)` is an out-of-line call). LLVM lowers that form to
/// `sdot` + `addv` when the target has the dot-product extension (`-target-cpu cortex-a76`, Pi 5) and to
/// `smull`/`smull2` + `saddl`/`saddw(2)` + `addv` otherwise (`cortex-a72`, Pi 4, or no CPU given).
/// `tools/neon-table.sh` checks the release objects for exactly that and for no `bl` inside any loop.
///
/// Activations arrive as `QuantizedActivations.pairs` (int16, per block 16 even lanes then 16 odd lanes);
/// `natural` turns one block back into 32 int8 values in their natural order with two 128-bit
/// shift-insert/merge operations, so the weights are used exactly as stored.
@usableFromInline
enum DotProductsARM {
    /// Lane-wise sign extension, written out so it always inlines (one `sshll`/`sshll2` pair or folded
    /// into `smull`/`sdot`).
    @inline(__always) @usableFromInline
    static func widen(_ v: SIMD16<Int8>) -> SIMD16<Int32> {
        SIMD16(Int32(v[0]), Int32(v[1]), Int32(v[2]), Int32(v[3]), Int32(v[4]), Int32(v[5]), Int32(v[6]), Int32(v[7]),
               Int32(v[8]), Int32(v[9]), Int32(v[10]), Int32(v[11]), Int32(v[12]), Int32(v[13]), Int32(v[14]), Int32(v[15]))
    }

    /// Σ a[i]·b[i] over 16 int8 lanes (exact: |Σ| ≤ 16·128² fits int32).
    @inline(__always) @usableFromInline
    static func dot(_ a: SIMD16<Int8>, _ b: SIMD16<Int8>) -> Int32 {
        (widen(a) &* widen(b)).wrappedSum()
    }

    /// Block `b` of the even/odd int16 activation pairs as int8 values in natural order
    /// (`x[0…15]`, `x[16…31]`): lane i of `(even & 0xFF) | (odd << 8)` holds bytes x[2i], x[2i+1].
    @inline(__always) @usableFromInline
    static func natural(_ xr: UnsafeRawPointer, _ b: Int) -> (SIMD16<Int8>, SIMD16<Int8>) {
        let e0 = xr.loadUnaligned(fromByteOffset: b * 64, as: SIMD8<Int16>.self)
        let e1 = xr.loadUnaligned(fromByteOffset: b * 64 + 16, as: SIMD8<Int16>.self)
        let o0 = xr.loadUnaligned(fromByteOffset: b * 64 + 32, as: SIMD8<Int16>.self)
        let o1 = xr.loadUnaligned(fromByteOffset: b * 64 + 48, as: SIMD8<Int16>.self)
        let m = SIMD8<Int16>(repeating: 0xFF)
        return (unsafeBitCast((e0 & m) | (o0 &<< 8), to: SIMD16<Int8>.self),
                unsafeBitCast((e1 & m) | (o1 &<< 8), to: SIMD16<Int8>.self))
    }

    /// The 32 4-bit values of a packed block (byte j: value j low, value j + 16 high) as int8 0…15.
    @inline(__always) @usableFromInline
    static func nibbles(_ p: UnsafeRawPointer) -> (SIMD16<Int8>, SIMD16<Int8>) {
        let packed = p.loadUnaligned(as: SIMD16<UInt8>.self)
        return (unsafeBitCast(packed & 0x0F, to: SIMD16<Int8>.self), unsafeBitCast(packed &>> 4, to: SIMD16<Int8>.self))
    }

    // MARK: kernels (arguments as in `DotProducts`)

    @inlinable @inline(__always)
    static func q8_0(_ row: UnsafeRawPointer, _ xp: UnsafePointer<Int16>, _ xs: UnsafePointer<Float>, blocks: Int) -> Float {
        let xr = UnsafeRawPointer(xp)
        @inline(__always) func block(_ b: Int) -> Float {
            let blk = row + b * 34
            let (x0, x1) = natural(xr, b)
            let isum = dot(blk.loadUnaligned(fromByteOffset: 2, as: SIMD16<Int8>.self), x0)
                &+ dot(blk.loadUnaligned(fromByteOffset: 18, as: SIMD16<Int8>.self), x1)
            return Float(isum) * (DotProducts.half(blk.loadUnaligned(as: UInt16.self)) * xs[b])
        }
        // Two accumulators (even and odd blocks) so consecutive adds do not wait on each other.
        var acc0: Float = 0, acc1: Float = 0
        var b = 0
        while b + 2 <= blocks {
            acc0 += block(b)
            acc1 += block(b + 1)
            b += 2
        }
        if b < blocks { acc0 += block(b) }
        return acc0 + acc1
    }

    @inlinable @inline(__always)
    static func q4_0(_ row: UnsafeRawPointer, _ xp: UnsafePointer<Int16>, _ xs: UnsafePointer<Float>,
                     _ xsum: UnsafePointer<Int32>, blocks: Int) -> Float {
        let xr = UnsafeRawPointer(xp)
        @inline(__always) func block(_ b: Int) -> Float {
            let blk = row + b * 18
            let (x0, x1) = natural(xr, b)
            let (w0, w1) = nibbles(blk + 2)                     // 0…15
            // Σ (q − 8)·x = Σ q·x − 8·Σ x
            let isum = dot(w0, x0) &+ dot(w1, x1) &- 8 &* xsum[b]
            return Float(isum) * (DotProducts.half(blk.loadUnaligned(as: UInt16.self)) * xs[b])
        }
        var acc0: Float = 0, acc1: Float = 0
        var b = 0
        while b + 2 <= blocks {
            acc0 += block(b)
            acc1 += block(b + 1)
            b += 2
        }
        if b < blocks { acc0 += block(b) }
        return acc0 + acc1
    }

    @inlinable @inline(__always)
    static func q4_1(_ row: UnsafeRawPointer, _ xp: UnsafePointer<Int16>, _ xs: UnsafePointer<Float>,
                     _ xsum: UnsafePointer<Int32>, blocks: Int) -> Float {
        let xr = UnsafeRawPointer(xp)
        @inline(__always) func block(_ b: Int) -> Float {
            let blk = row + b * 20
            let (x0, x1) = natural(xr, b)
            let (w0, w1) = nibbles(blk + 4)
            let isum = dot(w0, x0) &+ dot(w1, x1)
            let d = DotProducts.half(blk.loadUnaligned(as: UInt16.self))
            let m = DotProducts.half(blk.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
            // d·xs·Σ q·x + m·xs·Σ x
            return xs[b] * (d * Float(isum) + m * Float(xsum[b]))
        }
        var acc0: Float = 0, acc1: Float = 0
        var b = 0
        while b + 2 <= blocks {
            acc0 += block(b)
            acc1 += block(b + 1)
            b += 2
        }
        if b < blocks { acc0 += block(b) }
        return acc0 + acc1
    }
}
#endif
