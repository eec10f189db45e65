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
/// - Q4_0 / Q4_1: the nibbles themselves (0…15); Q4_0's −8 offset is `−8·d·Σx`, summed per block in
///   float beside the vector accumulator (the block sums `QuantizedActivations.sums` exist for Q4_1);
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

    /// Σ_j u_j·s_j over 32 bytes (u unsigned ≤ 127 or ≤ 15, s signed) as 8 float lanes (exact: |Σ| < 2²⁴).
    @inline(__always) @usableFromInline
    static func dot(_ u: __m256i, _ s: __m256i) -> __m256 {
        _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)))
    }

    @inline(__always) @usableFromInline
    static func total(_ a: __m256, _ b: __m256) -> Float {
        unsafeBitCast(_mm256_add_ps(a, b), to: SIMD8<Float>.self).sum()
    }

    @inline(__always) @usableFromInline
    static func q8_0(_ row: UnsafeRawPointer, _ x: UnsafeRawPointer, _ xs: UnsafePointer<Float>, blocks: Int) -> Float {
        var acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps()
        @inline(__always) func block(_ b: Int) -> (__m256, __m256) {
            let blk = row + b &* 34
            let w = load32(blk + 2), v = load32(x + b &* 32)
            let d = DotProducts.half(blk.loadUnaligned(as: UInt16.self)) * xs[b]
            return (dot(_mm256_sign_epi8(w, w), _mm256_sign_epi8(v, w)), _mm256_set1_ps(d))
        }
        var b = 0
        while b &+ 2 <= blocks {
            let (p0, d0) = block(b), (p1, d1) = block(b &+ 1)
            acc0 = _mm256_fmadd_ps(p0, d0, acc0)
            acc1 = _mm256_fmadd_ps(p1, d1, acc1)
            b &+= 2
        }
        if b < blocks { let (p, d) = block(b); acc0 = _mm256_fmadd_ps(p, d, acc0) }
        return total(acc0, acc1)
    }

    @inline(__always) @usableFromInline
    static func q4_0(_ row: UnsafeRawPointer, _ x: UnsafeRawPointer, _ xs: UnsafePointer<Float>,
                     _ xsum: UnsafePointer<Int32>, blocks: Int) -> Float {
        var acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps()
        var offset: Float = 0   // Σ_b d_b·Σx_b, taken 8 times at the end
        @inline(__always) func block(_ b: Int) -> (__m256, Float) {
            let blk = row + b &* 18
            let d = DotProducts.half(blk.loadUnaligned(as: UInt16.self)) * xs[b]
            return (dot(nibbles(blk + 2), load32(x + b &* 32)), d)
        }
        var b = 0
        while b &+ 2 <= blocks {
            let (p0, d0) = block(b), (p1, d1) = block(b &+ 1)
            acc0 = _mm256_fmadd_ps(p0, _mm256_set1_ps(d0), acc0)
            acc1 = _mm256_fmadd_ps(p1, _mm256_set1_ps(d1), acc1)
            offset += d0 * Float(xsum[b]) + d1 * Float(xsum[b &+ 1])
            b &+= 2
        }
        if b < blocks {
            let (p, d) = block(b)
            acc0 = _mm256_fmadd_ps(p, _mm256_set1_ps(d), acc0)
            offset += d * Float(xsum[b])
        }
        return total(acc0, acc1) - 8 * offset
    }

    @inline(__always) @usableFromInline
    static func q4_1(_ row: UnsafeRawPointer, _ x: UnsafeRawPointer, _ xs: UnsafePointer<Float>,
                     _ xsum: UnsafePointer<Int32>, blocks: Int) -> Float {
        var acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps()
        var mins: Float = 0     // Σ_b m_b·d_x·Σx_b
        @inline(__always) func block(_ b: Int) -> (__m256, Float, Float) {
            let blk = row + b &* 20
            let d = DotProducts.half(blk.loadUnaligned(as: UInt16.self)) * xs[b]
            let m = DotProducts.half(blk.loadUnaligned(fromByteOffset: 2, as: UInt16.self)) * xs[b]
            return (dot(nibbles(blk + 4), load32(x + b &* 32)), d, m * Float(xsum[b]))
        }
        var b = 0
        while b &+ 2 <= blocks {
            let (p0, d0, m0) = block(b), (p1, d1, m1) = block(b &+ 1)
            acc0 = _mm256_fmadd_ps(p0, _mm256_set1_ps(d0), acc0)
            acc1 = _mm256_fmadd_ps(p1, _mm256_set1_ps(d1), acc1)
            mins += m0 + m1
            b &+= 2
        }
        if b < blocks {
            let (p, d, m) = block(b)
            acc0 = _mm256_fmadd_ps(p, _mm256_set1_ps(d), acc0)
            mins += m
        }
        return total(acc0, acc1) + mins
    }
    // MARK: eight rows at a time

    /// Rows per call of the `…x8` kernels.
    @usableFromInline static let rowsPerCall = 8

    /// Lane r = Σ of v_r's eight int32 lanes (r < 8): `vphaddd` tree plus one cross-half add.
    @inline(__always) @usableFromInline
    static func rowSums(_ v0: __m256i, _ v1: __m256i, _ v2: __m256i, _ v3: __m256i,
                        _ v4: __m256i, _ v5: __m256i, _ v6: __m256i, _ v7: __m256i) -> __m256i {
        let h0123 = _mm256_hadd_epi32(_mm256_hadd_epi32(v0, v1), _mm256_hadd_epi32(v2, v3))
        let h4567 = _mm256_hadd_epi32(_mm256_hadd_epi32(v4, v5), _mm256_hadd_epi32(v6, v7))
        // lane halves regrouped in Swift SIMD (`_mm256_permute2x128_si256` is a macro, not importable)
        let a = unsafeBitCast(h0123, to: SIMD8<Int32>.self), c = unsafeBitCast(h4567, to: SIMD8<Int32>.self)
        return unsafeBitCast(SIMD8(lowHalf: a.lowHalf, highHalf: c.lowHalf) &+ SIMD8(lowHalf: a.highHalf, highHalf: c.highHalf),
                             to: __m256i.self)
    }

    /// The f16 at byte `offset` of eight rows `stride` bytes apart, as eight floats (lane r: row r).
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

    /// Per-block integer dot of 32 products, as 8 int32 lanes (not yet reduced).
    @inline(__always) @usableFromInline
    static func idot(_ u: __m256i, _ s: __m256i) -> __m256i {
        _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1))
    }

    /// `out[r] = row_r · x` for the eight rows at `rows + r·stride` (Q4_0). The activation block is loaded
    /// once for all eight; lane r of one vector accumulates row r, so there is no per-row horizontal sum and
    /// one float conversion and one FMA per block serve eight rows.
    @inline(__always) @usableFromInline
    static func q4_0x8(_ rows: UnsafeRawPointer, stride: Int, _ x: UnsafeRawPointer, _ xs: UnsafePointer<Float>,
                       _ xsum: UnsafePointer<Int32>, blocks: Int, into out: UnsafeMutablePointer<Float>) {
        var acc = _mm256_setzero_ps()
        for b in 0..<blocks {
            let p = rows + b &* 18
            let v = load32(x + b &* 32)
            let s = rowSums(idot(nibbles(p + 2), v), idot(nibbles(p + stride + 2), v),
                            idot(nibbles(p + 2 &* stride + 2), v), idot(nibbles(p + 3 &* stride + 2), v),
                            idot(nibbles(p + 4 &* stride + 2), v), idot(nibbles(p + 5 &* stride + 2), v),
                            idot(nibbles(p + 6 &* stride + 2), v), idot(nibbles(p + 7 &* stride + 2), v))
            // Σ (q − 8)·x = Σ q·x − 8·Σx, exact in int32
            let q = _mm256_sub_epi32(s, _mm256_set1_epi32(8 &* xsum[b]))
            let d = _mm256_mul_ps(halves8(p, stride), _mm256_set1_ps(xs[b]))
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q), d, acc)
        }
        _mm256_storeu_ps(out, acc)
    }

    /// Eight Q4_1 rows (see `q4_0x8`); the min term m·d_x·Σx is one more FMA per block.
    @inline(__always) @usableFromInline
    static func q4_1x8(_ rows: UnsafeRawPointer, stride: Int, _ x: UnsafeRawPointer, _ xs: UnsafePointer<Float>,
                       _ xsum: UnsafePointer<Int32>, blocks: Int, into out: UnsafeMutablePointer<Float>) {
        var acc = _mm256_setzero_ps(), accMin = _mm256_setzero_ps()
        for b in 0..<blocks {
            let p = rows + b &* 20
            let v = load32(x + b &* 32)
            let s = rowSums(idot(nibbles(p + 4), v), idot(nibbles(p + stride + 4), v),
                            idot(nibbles(p + 2 &* stride + 4), v), idot(nibbles(p + 3 &* stride + 4), v),
                            idot(nibbles(p + 4 &* stride + 4), v), idot(nibbles(p + 5 &* stride + 4), v),
                            idot(nibbles(p + 6 &* stride + 4), v), idot(nibbles(p + 7 &* stride + 4), v))
            let dx = xs[b]
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(halves8(p, stride), _mm256_set1_ps(dx)), acc)
            accMin = _mm256_fmadd_ps(halves8(p + 2, stride), _mm256_set1_ps(dx * Float(xsum[b])), accMin)
        }
        _mm256_storeu_ps(out, _mm256_add_ps(acc, accMin))
    }

    /// Eight Q8_0 rows (see `q4_0x8`).
    @inline(__always) @usableFromInline
    static func q8_0x8(_ rows: UnsafeRawPointer, stride: Int, _ x: UnsafeRawPointer, _ xs: UnsafePointer<Float>,
                       blocks: Int, into out: UnsafeMutablePointer<Float>) {
        var acc = _mm256_setzero_ps()
        @inline(__always) func signed(_ w: __m256i, _ v: __m256i) -> __m256i {
            idot(_mm256_sign_epi8(w, w), _mm256_sign_epi8(v, w))
        }
        for b in 0..<blocks {
            let p = rows + b &* 34
            let v = load32(x + b &* 32)
            let s = rowSums(signed(load32(p + 2), v), signed(load32(p + stride + 2), v),
                            signed(load32(p + 2 &* stride + 2), v), signed(load32(p + 3 &* stride + 2), v),
                            signed(load32(p + 4 &* stride + 2), v), signed(load32(p + 5 &* stride + 2), v),
                            signed(load32(p + 6 &* stride + 2), v), signed(load32(p + 7 &* stride + 2), v))
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(halves8(p, stride), _mm256_set1_ps(xs[b])), acc)
        }
        _mm256_storeu_ps(out, acc)
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
