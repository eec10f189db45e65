#if arch(arm64)
/// aarch64 bodies of the int8 dot products in `DotProducts` (same arguments, same integer sums; only the
/// float accumulation order differs, within `DotProductTests`' tolerance). `DotProducts.q8_0/q4_0/q4_1`
/// forward here on arm64; the x86 code is untouched.
///
/// Two forms of the per-block integer dot product, chosen at compile time:
/// - with `-D REDFLAG_DOTPROD` (the Pi 5 build: `REDFLAG_TARGET_CPU=cortex-a76`, `-Xswiftc -DREDFLAG_DOTPROD`):
///   `sum(widen(a) &* widen(b))` with int32 products, which LLVM lowers to `sdot` + `addv` when the target
///   has the dot-product extension;
/// - otherwise (Pi 4 / any aarch64): int16 products `widen16(a) &* widen16(b)` (exact, |a·b| ≤ 128²) whose
///   halves are added in int32, lowered to `smull`/`smull2` + `saddl`/`saddl2` + `addv` (or, for the
///   small nibble products, `smull` + `smlal2` in int16 + `saddlv`). The int32 form on a CPU without `sdot`
///   compiles (6.0.3) to `sxtl` + 32-bit `smull`/`smlal`, twice the instructions; the int16 form never
///   becomes `sdot`. Swift cannot test CPU features at compile time, hence the flag.
/// Both are fragile; each choice below was checked with Swift 6.0.3 (Debian trixie, the aarch64 build) and
/// 6.3.1, and `tools/neon-table.sh` checks the release objects (`tools/arm64-check.sh`):
/// - the widening and the sum are written lane by lane (the generic `SIMD32<Int32>(truncatingIfNeeded:)`
///   is a call, and `wrappedSum()` can stay one);
/// - operands are loads, shuffles of loads, or 16-lane arithmetic on loads. Shuffling a computed vector
///   (weights de-interleaved, or two 16-lane nibble halves concatenated) moves the shuffle behind the
///   extension and loses `sdot`; `SIMD32` shifts and masks are lane-by-lane loops in 6.0.3;
/// - nibble weights are taken minus 8, so their sign is unknown to LLVM (a known non-negative operand is
///   zero-extended, and the mixed sign/zero form has no `sdot` without i8mm);
/// - Q8_0: one 32-lane reduction per block; Q4: two 16-lane reductions, each converted to Float before
///   they are added (integer sums of two reductions are merged into one and lose `sdot`; exact, |Σ| < 2²⁴);
/// - one accumulator: with two independent block chains the SLP vectorizer pairs the two blocks'
///   reductions into 2-lane code.
///
/// Activations arrive as `QuantizedActivations.pairs` (int16; per block 16 even lanes, then 16 odd lanes);
/// their low bytes are the int8 values, and `natural` interleaves them back into natural order (`trn1`).
/// Passing `QuantizedActivations.values` (int8, natural order) instead would save those two `trn1` per block.
@usableFromInline
enum DotProductsARM {
    /// Lane-wise sign extension, written out so it always inlines (folded into `sdot`/`smull`).
    @inline(__always) @usableFromInline
    static func widen(_ v: SIMD32<Int8>) -> SIMD32<Int32> {
        SIMD32(Int32(v[0]), Int32(v[1]), Int32(v[2]), Int32(v[3]), Int32(v[4]), Int32(v[5]), Int32(v[6]), Int32(v[7]),
            Int32(v[8]), Int32(v[9]), Int32(v[10]), Int32(v[11]), Int32(v[12]), Int32(v[13]), Int32(v[14]), Int32(v[15]),
            Int32(v[16]), Int32(v[17]), Int32(v[18]), Int32(v[19]), Int32(v[20]), Int32(v[21]), Int32(v[22]), Int32(v[23]),
            Int32(v[24]), Int32(v[25]), Int32(v[26]), Int32(v[27]), Int32(v[28]), Int32(v[29]), Int32(v[30]), Int32(v[31]))
    }

    @inline(__always) @usableFromInline
    static func widen(_ v: SIMD16<Int8>) -> SIMD16<Int32> {
        SIMD16(Int32(v[0]), Int32(v[1]), Int32(v[2]), Int32(v[3]), Int32(v[4]), Int32(v[5]), Int32(v[6]), Int32(v[7]),
            Int32(v[8]), Int32(v[9]), Int32(v[10]), Int32(v[11]), Int32(v[12]), Int32(v[13]), Int32(v[14]), Int32(v[15]))
    }

    @inline(__always) @usableFromInline
    static func widen16(_ v: SIMD32<Int8>) -> SIMD32<Int16> {
        SIMD32(Int16(v[0]), Int16(v[1]), Int16(v[2]), Int16(v[3]), Int16(v[4]), Int16(v[5]), Int16(v[6]), Int16(v[7]),
            Int16(v[8]), Int16(v[9]), Int16(v[10]), Int16(v[11]), Int16(v[12]), Int16(v[13]), Int16(v[14]), Int16(v[15]),
            Int16(v[16]), Int16(v[17]), Int16(v[18]), Int16(v[19]), Int16(v[20]), Int16(v[21]), Int16(v[22]), Int16(v[23]),
            Int16(v[24]), Int16(v[25]), Int16(v[26]), Int16(v[27]), Int16(v[28]), Int16(v[29]), Int16(v[30]), Int16(v[31]))
    }

    @inline(__always) @usableFromInline
    static func widen16(_ v: SIMD16<Int8>) -> SIMD16<Int16> {
        SIMD16(Int16(v[0]), Int16(v[1]), Int16(v[2]), Int16(v[3]), Int16(v[4]), Int16(v[5]), Int16(v[6]), Int16(v[7]),
            Int16(v[8]), Int16(v[9]), Int16(v[10]), Int16(v[11]), Int16(v[12]), Int16(v[13]), Int16(v[14]), Int16(v[15]))
    }

    /// The two halves of int16 products, widened and added: 16 (or 8) int32 partial sums (`saddl`/`saddl2`).
    @inline(__always) @usableFromInline
    static func halves(_ p: SIMD32<Int16>) -> SIMD16<Int32> {
        SIMD16<Int32>(Int32(p[0]), Int32(p[1]), Int32(p[2]), Int32(p[3]), Int32(p[4]), Int32(p[5]), Int32(p[6]), Int32(p[7]),
                      Int32(p[8]), Int32(p[9]), Int32(p[10]), Int32(p[11]), Int32(p[12]), Int32(p[13]), Int32(p[14]), Int32(p[15]))
            &+ SIMD16<Int32>(Int32(p[16]), Int32(p[17]), Int32(p[18]), Int32(p[19]), Int32(p[20]), Int32(p[21]), Int32(p[22]), Int32(p[23]),
                         Int32(p[24]), Int32(p[25]), Int32(p[26]), Int32(p[27]), Int32(p[28]), Int32(p[29]), Int32(p[30]), Int32(p[31]))
    }

    @inline(__always) @usableFromInline
    static func halves(_ p: SIMD16<Int16>) -> SIMD8<Int32> {
        SIMD8<Int32>(Int32(p[0]), Int32(p[1]), Int32(p[2]), Int32(p[3]), Int32(p[4]), Int32(p[5]), Int32(p[6]), Int32(p[7]))
            &+ SIMD8<Int32>(Int32(p[8]), Int32(p[9]), Int32(p[10]), Int32(p[11]), Int32(p[12]), Int32(p[13]), Int32(p[14]), Int32(p[15]))
    }

    /// Σ a[i]·b[i] over 32 int8 lanes (exact: |Σ| ≤ 32·128² fits int32).
    @inline(__always) @usableFromInline
    static func dot(_ a: SIMD32<Int8>, _ b: SIMD32<Int8>) -> Int32 {
        #if REDFLAG_DOTPROD
        sum(widen(a) &* widen(b))                   // int32 products of int8: sdot
        #else
        sum(halves(widen16(a) &* widen16(b)))       // int16 products (|a·b| ≤ 128²): smull + saddl
        #endif
    }

    /// Σ a[i]·b[i] over 16 int8 lanes.
    @inline(__always) @usableFromInline
    static func dot(_ a: SIMD16<Int8>, _ b: SIMD16<Int8>) -> Int32 {
        #if REDFLAG_DOTPROD
        sum(widen(a) &* widen(b))
        #else
        sum(halves(widen16(a) &* widen16(b)))
        #endif
    }

    /// Σ v[i], written out: `wrappedSum()` is a generic specialization that SwiftPM's release build (WMO with
    /// one LLVM module per file) leaves out of line — a `bl` per block and no `sdot`. LLVM turns the chain into
    /// one vector reduction.
    @inline(__always) @usableFromInline
    static func sum(_ v: SIMD8<Int32>) -> Int32 {
        v[0] &+ v[1] &+ v[2] &+ v[3] &+ v[4] &+ v[5] &+ v[6] &+ v[7]
    }

    @inline(__always) @usableFromInline
    static func sum(_ v: SIMD16<Int32>) -> Int32 {
        v[0] &+ v[1] &+ v[2] &+ v[3] &+ v[4] &+ v[5] &+ v[6] &+ v[7]
            &+ v[8] &+ v[9] &+ v[10] &+ v[11] &+ v[12] &+ v[13] &+ v[14] &+ v[15]
    }

    @inline(__always) @usableFromInline
    static func sum(_ v: SIMD32<Int32>) -> Int32 {
        v[0] &+ v[1] &+ v[2] &+ v[3] &+ v[4] &+ v[5] &+ v[6] &+ v[7]
            &+ v[8] &+ v[9] &+ v[10] &+ v[11] &+ v[12] &+ v[13] &+ v[14] &+ v[15]
            &+ v[16] &+ v[17] &+ v[18] &+ v[19] &+ v[20] &+ v[21] &+ v[22] &+ v[23]
            &+ v[24] &+ v[25] &+ v[26] &+ v[27] &+ v[28] &+ v[29] &+ v[30] &+ v[31]
    }

    /// Block `blk` of the int16 activation pairs as its two 32-byte halves (even lanes, odd lanes);
    /// byte 2i of each is the int8 value of lane i (values are in −127…127).
    @inline(__always) @usableFromInline
    static func pairBytes(_ xr: UnsafeRawPointer, _ blk: Int) -> (SIMD32<Int8>, SIMD32<Int8>) {
        (xr.loadUnaligned(fromByteOffset: blk &* 64, as: SIMD32<Int8>.self),
         xr.loadUnaligned(fromByteOffset: blk &* 64 &+ 32, as: SIMD32<Int8>.self))
    }

    /// The block's 32 int8 activations in natural order: x[2i] = even lane i, x[2i + 1] = odd lane i.
    @inline(__always) @usableFromInline
    static func natural(_ xr: UnsafeRawPointer, _ blk: Int) -> SIMD32<Int8> {
        let (a, c) = pairBytes(xr, blk)
        return SIMD32(a[0], c[0], a[2], c[2], a[4], c[4], a[6], c[6],
            a[8], c[8], a[10], c[10], a[12], c[12], a[14], c[14],
            a[16], c[16], a[18], c[18], a[20], c[20], a[22], c[22],
            a[24], c[24], a[26], c[26], a[28], c[28], a[30], c[30])
    }

    /// The same as two halves, x[0…15] and x[16…31].
    @inline(__always) @usableFromInline
    static func naturalHalves(_ xr: UnsafeRawPointer, _ blk: Int) -> (SIMD16<Int8>, SIMD16<Int8>) {
        let (a, c) = pairBytes(xr, blk)
        return (SIMD16(a[0], c[0], a[2], c[2], a[4], c[4], a[6], c[6],
                a[8], c[8], a[10], c[10], a[12], c[12], a[14], c[14]),
                SIMD16(a[16], c[16], a[18], c[18], a[20], c[20], a[22], c[22],
                a[24], c[24], a[26], c[26], a[28], c[28], a[30], c[30]))
    }

    /// The 32 4-bit values v of a packed block (byte j: value j low, value j + 16 high) as int8 v − 8 (−8…7):
    /// values 0…15 and 16…31.
    @inline(__always) @usableFromInline
    static func nibblesMinus8(_ p: UnsafeRawPointer) -> (SIMD16<Int8>, SIMD16<Int8>) {
        let packed = p.loadUnaligned(as: SIMD16<UInt8>.self)
        return (unsafeBitCast(packed & 0x0F, to: SIMD16<Int8>.self) &- 8,
                unsafeBitCast(packed &>> 4, to: SIMD16<Int8>.self) &- 8)
    }

    /// Σ_j (v_j − 8)·x_j over one 4-bit block, as a Float (exact: |Σ| ≤ 32·8·127 < 2²⁴).
    @inline(__always) @usableFromInline
    static func nibbleDot(_ p: UnsafeRawPointer, _ xr: UnsafeRawPointer, _ blk: Int) -> Float {
        let (w0, w1) = nibblesMinus8(p)
        let (x0, x1) = naturalHalves(xr, blk)
        return Float(dot(w0, x0)) + Float(dot(w1, x1))
    }

    // MARK: kernels (arguments as in `DotProducts`)

    @inlinable @inline(__always)
    static func q8_0(_ row: UnsafeRawPointer, _ xp: UnsafePointer<Int16>, _ xs: UnsafePointer<Float>, blocks: Int) -> Float {
        let xr = UnsafeRawPointer(xp)
        var acc: Float = 0
        var b = 0
        while b < blocks {
            let blk = row + b &* 34
            let isum = dot(blk.loadUnaligned(fromByteOffset: 2, as: SIMD32<Int8>.self), natural(xr, b))
            acc.addProduct(Float(isum), DotProducts.half(blk.loadUnaligned(as: UInt16.self)) * xs[b])
            b &+= 1
        }
        return acc
    }

    @inlinable @inline(__always)
    static func q4_0(_ row: UnsafeRawPointer, _ xp: UnsafePointer<Int16>, _ xs: UnsafePointer<Float>,
                     _ xsum: UnsafePointer<Int32>, blocks: Int) -> Float {
        let xr = UnsafeRawPointer(xp)
        var acc: Float = 0
        var b = 0
        while b < blocks {
            let blk = row + b &* 18
            let s = nibbleDot(blk + 2, xr, b)                                   // Σ (q − 8)·x
            acc.addProduct(s, DotProducts.half(blk.loadUnaligned(as: UInt16.self)) * xs[b])
            b &+= 1
        }
        return acc
    }

    @inlinable @inline(__always)
    static func q4_1(_ row: UnsafeRawPointer, _ xp: UnsafePointer<Int16>, _ xs: UnsafePointer<Float>,
                     _ xsum: UnsafePointer<Int32>, blocks: Int) -> Float {
        let xr = UnsafeRawPointer(xp)
        var acc: Float = 0
        var b = 0
        while b < blocks {
            let blk = row + b &* 20
            let sx = Float(xsum[b])
            let s = nibbleDot(blk + 4, xr, b) + 8 * sx                          // Σ q·x = Σ (q − 8)·x + 8·Σ x
            let d = DotProducts.half(blk.loadUnaligned(as: UInt16.self))
            let m = DotProducts.half(blk.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
            acc.addProduct(xs[b], d * s + m * sx)                               // xs·(d·Σ q·x + m·Σ x)
            b &+= 1
        }
        return acc
    }
}
#endif
