#if arch(x86_64) && REDFLAG_AVX2
import _Builtin_intrinsics.intel

/// x86-64 (AVX2) bodies of the int8 dot products in `DotProducts`: same arguments and integer sums as the
/// references, float accumulation order within `DotProductTests`' tolerance. Built when the kernels are
/// compiled for a CPU with AVX2 (`REDFLAG_AVX2`, set by Package.swift for the default `haswell` target
/// and other AVX2 CPUs); other x86 targets keep the portable Swift SIMD code in `DotProducts`.
///
/// Why intrinsics here and not `SIMD32<Int8>` arithmetic: the product that makes int8 GEMV cheap on
/// x86 is `vpmaddubsw` (unsigned × signed bytes, adjacent pairs summed into int16) followed by
/// `vpmaddwd` against ones (adjacent int16 pairs into int32): two instructions per 32 products. LLVM
/// does not form either from Swift's generic SIMD widening, so the portable code needs int16 lanes,
/// two `vpmullw`, and shifts to widen: about twice the work per block and twice the activation bytes.
/// The clang intrinsics are imported as Swift functions (`_Builtin_intrinsics.intel`); everything
/// else stays Swift.
///
/// Activations are `QuantizedActivations.values` (int8, natural order): `kernelInput` on this build.
/// The unsigned operand of `vpmaddubsw`:
/// - Q4_0 / Q4_1: the nibbles themselves (0…15); Q4_0's −8 offset is `−8·Σx`, subtracted from each block's
///   int32 sum (the block sums `QuantizedActivations.sums`), Q4_1's min term is `m·d_x·Σx`;
/// - Q8_0: |w|, with the sign moved onto x (`vpsignb`), exact since w, x ∈ −127…127 (2·127² < 2¹⁵).
@usableFromInline
enum DotProductsX86 {
    @inline(__always) @usableFromInline
    static func load32(_ p: UnsafeRawPointer) -> __m256i {
        _mm256_loadu_si256(p.assumingMemoryBound(to: __m256i.self))
    }

    /// 32 nibbles of a packed 4-bit block (byte j: value j low, value j + 16 high) as bytes 0…15 in natural order.
    @inline(__always) @usableFromInline
    static func nibbles(_ p: UnsafeRawPointer) -> __m256i {
        let packed = _mm_loadu_si128(p.assumingMemoryBound(to: __m128i.self))
        let m = _mm_set1_epi8(0x0F)
        return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(packed, 4), m), _mm_and_si128(packed, m))
    }

    @inline(__always) @usableFromInline
    static func total(_ a: __m256, _ b: __m256) -> Float {
        unsafeBitCast(_mm256_add_ps(a, b), to: SIMD8<Float>.self).sum()
    }

    /// Lane k = Σ of v_k's eight int32 lanes (k < 8): `vphaddd` tree plus one cross-half add.
    @inline(__always) @usableFromInline
    static func blockSums(_ v0: __m256i, _ v1: __m256i, _ v2: __m256i, _ v3: __m256i,
                        _ v4: __m256i, _ v5: __m256i, _ v6: __m256i, _ v7: __m256i) -> __m256i {
        let h0123 = _mm256_hadd_epi32(_mm256_hadd_epi32(v0, v1), _mm256_hadd_epi32(v2, v3))
        let h4567 = _mm256_hadd_epi32(_mm256_hadd_epi32(v4, v5), _mm256_hadd_epi32(v6, v7))
        // lane halves regrouped in Swift SIMD (`_mm256_permute2x128_si256` is a macro, not importable)
        let a = unsafeBitCast(h0123, to: SIMD8<Int32>.self), c = unsafeBitCast(h4567, to: SIMD8<Int32>.self)
        return unsafeBitCast(SIMD8(lowHalf: a.lowHalf, highHalf: c.lowHalf) &+ SIMD8(lowHalf: a.highHalf, highHalf: c.highHalf),
                             to: __m256i.self)
    }

    /// Eight f16 values `stride` bytes apart starting at `p` (the scales of eight consecutive blocks), as floats.
    @inline(__always) @usableFromInline
    static func halves8(_ p: UnsafeRawPointer, _ stride: Int) -> __m256 {
        let h = SIMD8<UInt16>(p.loadUnaligned(as: UInt16.self),
                              p.loadUnaligned(fromByteOffset: stride, as: UInt16.self),
                              p.loadUnaligned(fromByteOffset: 2 &* stride, as: UInt16.self),
                              p.loadUnaligned(fromByteOffset: 3 &* stride, as: UInt16.self),
                              p.loadUnaligned(fromByteOffset: 4 &* stride, as: UInt16.self),
                              p.loadUnaligned(fromByteOffset: 5 &* stride, as: UInt16.self),
                              p.loadUnaligned(fromByteOffset: 6 &* stride, as: UInt16.self),
                              p.loadUnaligned(fromByteOffset: 7 &* stride, as: UInt16.self))
        return _mm256_cvtph_ps(unsafeBitCast(h, to: __m128i.self))
    }

    /// Lane k = Σ of v_k's eight int32 lanes (k < 4): the four-block version of `blockSums`.
    @inline(__always) @usableFromInline
    static func blockSums4(_ v0: __m256i, _ v1: __m256i, _ v2: __m256i, _ v3: __m256i) -> __m128i {
        let h = unsafeBitCast(_mm256_hadd_epi32(_mm256_hadd_epi32(v0, v1), _mm256_hadd_epi32(v2, v3)), to: SIMD8<Int32>.self)
        return unsafeBitCast(h.lowHalf &+ h.highHalf, to: __m128i.self)
    }

    /// Four f16 values `stride` bytes apart starting at `p`, as floats.
    @inline(__always) @usableFromInline
    static func halves4(_ p: UnsafeRawPointer, _ stride: Int) -> __m128 {
        let h = SIMD8<UInt16>(p.loadUnaligned(as: UInt16.self),
                              p.loadUnaligned(fromByteOffset: stride, as: UInt16.self),
                              p.loadUnaligned(fromByteOffset: 2 &* stride, as: UInt16.self),
                              p.loadUnaligned(fromByteOffset: 3 &* stride, as: UInt16.self), 0, 0, 0, 0)
        return _mm_cvtph_ps(unsafeBitCast(h, to: __m128i.self))
    }

    /// `blockSums4` of four consecutive blocks (see `eightBlocks`).
    @inline(__always) @usableFromInline
    static func fourBlocks(_ q: UnsafeRawPointer, bytes: Int, _ v: UnsafeRawPointer,
                           _ dot: (UnsafeRawPointer, UnsafeRawPointer) -> __m256i) -> __m128i {
        blockSums4(dot(q, v), dot(q + bytes, v + 32), dot(q + 2 &* bytes, v + 64), dot(q + 3 &* bytes, v + 96))
    }

    /// Per-block integer dot of 32 products, as 8 int32 lanes (not yet reduced).
    @inline(__always) @usableFromInline
    static func idot(_ u: __m256i, _ s: __m256i) -> __m256i {
        _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1))
    }

    /// Signed × signed bytes through `vpmaddubsw`: |w| times x with w's sign.
    @inline(__always) @usableFromInline
    static func idotSigned(_ w: __m256i, _ x: __m256i) -> __m256i {
        idot(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w))
    }

    /// `blockSums` of eight consecutive blocks: `dot(quants of block k, activations of block k)` for k < 8,
    /// where `q` points at block 0's quants and blocks are `bytes` apart (activation blocks 32 bytes apart).
    @inline(__always) @usableFromInline
    static func eightBlocks(_ q: UnsafeRawPointer, bytes: Int, _ v: UnsafeRawPointer,
                            _ dot: (UnsafeRawPointer, UnsafeRawPointer) -> __m256i) -> __m256i {
        blockSums(dot(q, v), dot(q + bytes, v + 32), dot(q + 2 &* bytes, v + 64), dot(q + 3 &* bytes, v + 96),
                  dot(q + 4 &* bytes, v + 128), dot(q + 5 &* bytes, v + 160), dot(q + 6 &* bytes, v + 192),
                  dot(q + 7 &* bytes, v + 224))
    }

    // The kernels walk one row front to back (the hardware prefetchers see one sequential stream; kernels that
    // interleaved eight rows block by block ran at half the speed) and take blocks eight at a time: the eight
    // blocks' int32 sums are reduced into one vector (lane k: block k), so the int→float conversion, the scales
    // (eight f16 → `vcvtph2ps`, times eight activation scales) and the FMA are one vector operation each per
    // eight blocks instead of per block. Leftover blocks (< 8) go one at a time.

    @inline(__always) @usableFromInline
    static func q8_0(_ row: UnsafeRawPointer, _ x: UnsafeRawPointer, _ xs: UnsafePointer<Float>, blocks: Int) -> Float {
        var acc = _mm256_setzero_ps(), tail = _mm256_setzero_ps()
        var b = 0
        while b &+ 8 <= blocks {
            let p = row + b &* 34, v = x + b &* 32
            let s = eightBlocks(p + 2, bytes: 34, v) { idotSigned(load32($0), load32($1)) }
            let d = _mm256_mul_ps(halves8(p, 34), _mm256_loadu_ps(xs + b))
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), d, acc)
            b &+= 8
        }
        var acc4 = _mm_setzero_ps()
        if b &+ 4 <= blocks {   // rows of 640 columns (20 blocks) end in four
            let p = row + b &* 34
            let s = fourBlocks(p + 2, bytes: 34, x + b &* 32) { idotSigned(load32($0), load32($1)) }
            acc4 = _mm_mul_ps(_mm_cvtepi32_ps(s), _mm_mul_ps(halves4(p, 34), _mm_loadu_ps(xs + b)))
            b &+= 4
        }
        while b < blocks {
            let p = row + b &* 34
            let d = DotProducts.half(p.loadUnaligned(as: UInt16.self)) * xs[b]
            tail = _mm256_fmadd_ps(_mm256_cvtepi32_ps(idotSigned(load32(p + 2), load32(x + b &* 32))), _mm256_set1_ps(d), tail)
            b &+= 1
        }
        return total(acc, tail, acc4)
    }

    @inline(__always) @usableFromInline
    static func q4_0(_ row: UnsafeRawPointer, _ x: UnsafeRawPointer, _ xs: UnsafePointer<Float>,
                     _ xsum: UnsafePointer<Int32>, blocks: Int) -> Float {
        var acc = _mm256_setzero_ps(), tail = _mm256_setzero_ps()
        var b = 0
        while b &+ 8 <= blocks {
            let p = row + b &* 18, v = x + b &* 32
            let s = eightBlocks(p + 2, bytes: 18, v) { idot(nibbles($0), load32($1)) }
            // Σ (q − 8)·x = Σ q·x − 8·Σx, exact in int32
            let q = _mm256_sub_epi32(s, _mm256_slli_epi32(load32(UnsafeRawPointer(xsum + b)), 3))
            let d = _mm256_mul_ps(halves8(p, 18), _mm256_loadu_ps(xs + b))
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q), d, acc)
            b &+= 8
        }
        var acc4 = _mm_setzero_ps()
        if b &+ 4 <= blocks {
            let p = row + b &* 18
            let s = fourBlocks(p + 2, bytes: 18, x + b &* 32) { idot(nibbles($0), load32($1)) }
            let q = _mm_sub_epi32(s, _mm_slli_epi32(_mm_loadu_si128(UnsafeRawPointer(xsum + b).assumingMemoryBound(to: __m128i.self)), 3))
            acc4 = _mm_mul_ps(_mm_cvtepi32_ps(q), _mm_mul_ps(halves4(p, 18), _mm_loadu_ps(xs + b)))
            b &+= 4
        }
        while b < blocks {
            let p = row + b &* 18
            let d = DotProducts.half(p.loadUnaligned(as: UInt16.self)) * xs[b]
            let q = _mm256_sub_epi32(idot(nibbles(p + 2), load32(x + b &* 32)), _mm256_setr_epi32(8 &* xsum[b], 0, 0, 0, 0, 0, 0, 0))
            tail = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q), _mm256_set1_ps(d), tail)
            b &+= 1
        }
        return total(acc, tail, acc4)
    }

    @inline(__always) @usableFromInline
    static func q4_1(_ row: UnsafeRawPointer, _ x: UnsafeRawPointer, _ xs: UnsafePointer<Float>,
                     _ xsum: UnsafePointer<Int32>, blocks: Int) -> Float {
        var acc = _mm256_setzero_ps(), accMin = _mm256_setzero_ps(), tail = _mm256_setzero_ps()
        var mins: Float = 0
        var b = 0
        while b &+ 8 <= blocks {
            let p = row + b &* 20, v = x + b &* 32
            let s = eightBlocks(p + 4, bytes: 20, v) { idot(nibbles($0), load32($1)) }
            let dx = _mm256_loadu_ps(xs + b)
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(halves8(p, 20), dx), acc)
            // m·d_x·Σx per block
            let sx = _mm256_cvtepi32_ps(load32(UnsafeRawPointer(xsum + b)))
            accMin = _mm256_fmadd_ps(halves8(p + 2, 20), _mm256_mul_ps(dx, sx), accMin)
            b &+= 8
        }
        var acc4 = _mm_setzero_ps()
        if b &+ 4 <= blocks {
            let p = row + b &* 20
            let s = fourBlocks(p + 4, bytes: 20, x + b &* 32) { idot(nibbles($0), load32($1)) }
            let dx = _mm_loadu_ps(xs + b)
            let sx = _mm_cvtepi32_ps(_mm_loadu_si128(UnsafeRawPointer(xsum + b).assumingMemoryBound(to: __m128i.self)))
            acc4 = _mm_add_ps(_mm_mul_ps(_mm_cvtepi32_ps(s), _mm_mul_ps(halves4(p, 20), dx)),
                              _mm_mul_ps(halves4(p + 2, 20), _mm_mul_ps(dx, sx)))
            b &+= 4
        }
        while b < blocks {
            let p = row + b &* 20
            let d = DotProducts.half(p.loadUnaligned(as: UInt16.self)) * xs[b]
            let m = DotProducts.half(p.loadUnaligned(fromByteOffset: 2, as: UInt16.self)) * xs[b]
            tail = _mm256_fmadd_ps(_mm256_cvtepi32_ps(idot(nibbles(p + 4), load32(x + b &* 32))), _mm256_set1_ps(d), tail)
            mins += m * Float(xsum[b])
            b &+= 1
        }
        return total(_mm256_add_ps(acc, accMin), tail, acc4) + mins
    }

    @inline(__always) @usableFromInline
    static func total(_ a: __m256, _ b: __m256, _ c: __m128) -> Float {
        let s = unsafeBitCast(_mm256_add_ps(a, b), to: SIMD8<Float>.self)
        return (s.lowHalf + s.highHalf + unsafeBitCast(c, to: SIMD4<Float>.self)).sum()
    }

    // MARK: activation quantization

    /// One 32-float block to int8 exactly as the portable `QuantizedActivations.quantize` does it
    /// (d = max|x|/127, q = round(x·(1/d)), ties away from zero) → (d, Σq). Rounding without a rounding-mode
    /// immediate (`_mm256_round_ps` is a macro): i = trunc(t), then i += trunc(2·(t − i)), which is ±1 exactly
    /// when |t − i| ≥ ½ (both steps exact for |t| ≤ 127).
    @inline(__always) @usableFromInline
    static func quantizeBlock(_ x: UnsafePointer<Float>, into q: UnsafeMutablePointer<Int8>) -> (Float, Int32) {
        let v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8), v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24)
        let m = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFF_FFFF))
        let mx = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v0, m), _mm256_and_ps(v1, m)),
                               _mm256_max_ps(_mm256_and_ps(v2, m), _mm256_and_ps(v3, m)))
        let amax = unsafeBitCast(mx, to: SIMD8<Float>.self).max()
        let d = amax / 127
        let id: Float = d > 0 ? 1 / d : 0
        let s = _mm256_set1_ps(id), two = _mm256_set1_ps(2)
        @inline(__always) func round(_ v: __m256) -> __m256i {
            let t = _mm256_mul_ps(v, s)
            let i = _mm256_cvttps_epi32(t)
            return _mm256_add_epi32(i, _mm256_cvttps_epi32(_mm256_mul_ps(two, _mm256_sub_ps(t, _mm256_cvtepi32_ps(i)))))
        }
        let r0 = round(v0), r1 = round(v1), r2 = round(v2), r3 = round(v3)
        let total = unsafeBitCast(_mm256_add_epi32(_mm256_add_epi32(r0, r1), _mm256_add_epi32(r2, r3)),
                                  to: SIMD8<Int32>.self).wrappedSum()
        // packs work per 128-bit lane: bytes come out as dwords [r0 lo, r1 lo, r2 lo, r3 lo, r0 hi, …]
        let packed = _mm256_packs_epi16(_mm256_packs_epi32(r0, r1), _mm256_packs_epi32(r2, r3))
        let ordered = _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))
        _mm256_storeu_si256(UnsafeMutableRawPointer(q).assumingMemoryBound(to: __m256i.self), ordered)
        return (d, total)
    }
}
#endif
