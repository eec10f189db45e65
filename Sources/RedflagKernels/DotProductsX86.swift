#if arch(x86_64) && REDFLAG_AVX2
import _Builtin_intrinsics.intel
import CPrefetch

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
/// Activations: `QuantizedActivations.values` (int8, natural order) for Q8_0, `pairedBlocks` for the 4-bit
/// kernels (`kernelInput(for:)` on this build). The unsigned operand of `vpmaddubsw`:
/// - Q4_0 / Q4_1: the nibbles themselves (0…15); Q4_0's −8 offset is `−8·Σx`, subtracted from each block's
///   int32 sum (the block sums `QuantizedActivations.sums`), Q4_1's min term is `m·d_x·Σx`;
/// - Q8_0: |w|, with the sign moved onto x (`vpsignb`), exact since w, x ∈ −127…127 (2·127² < 2¹⁵).
@usableFromInline
enum DotProductsX86 {
    /// How far ahead of the block being multiplied the kernels ask for weight bytes (`prefetch`). Decode streams
    /// each matrix once, front to back (rows are contiguous, so the hint runs on into the next row); at one
    /// thread the hardware prefetchers alone leave the core waiting on DRAM.
    @usableFromInline static let prefetchDistance = 4096

    /// Prefetch hints for the `bytes` bytes at `p + prefetchDistance`, one per 64-byte line.
    @inline(__always) @usableFromInline
    static func prefetch(_ p: UnsafeRawPointer, bytes: Int) {
        var o = 0
        while o < bytes {
            redflag_prefetch(p + (prefetchDistance &+ o))
            o &+= 64
        }
    }

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
    // eight blocks instead of per block. Four leftover blocks (rows of 640 columns) go as one group, the rest
    // one at a time.

    @inline(__always) @usableFromInline
    static func q8_0(_ row: UnsafeRawPointer, _ x: UnsafeRawPointer, _ xs: UnsafePointer<Float>, blocks: Int) -> Float {
        var acc = _mm256_setzero_ps(), tail = _mm256_setzero_ps()
        var b = 0
        while b &+ 8 <= blocks {
            let p = row + b &* 34, v = x + b &* 32
            prefetch(p, bytes: 8 &* 34)
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

    // MARK: 4-bit kernels (activations in `QuantizedActivations.pairedBlocks` order)
    //
    // Two blocks per 256-bit load: block b's 16 packed bytes in the low half, block b + 1's in the high half, so
    // one AND gives both blocks' low nibbles (values 0…15 of each) and one shift + AND their high nibbles
    // (values 16…31), matching the paired activations `[x_b[0…15], x_b+1[0…15]]`, `[x_b[16…31], x_b+1[16…31]]`.
    // The two `vpmaddubsw` results add in int16 (≤ 2·2·15·127 = 7 620), one `vpmaddwd` widens: lanes 0…3 hold
    // block b's partial sums, lanes 4…7 block b + 1's. Three `vphaddd` reduce four such pairs to one vector
    // whose lanes are blocks [0, 2, 4, 6, 1, 3, 5, 7] of the group (`groupOrder`); scales, activation scales and
    // block sums are taken in that order.

    /// Lane order of an eight-block group's sums.
    @inline(__always) @usableFromInline
    static var groupOrder: __m256i { _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7) }

    /// Partial sums of blocks b (lanes 0…3) and b + 1 (lanes 4…7); `p` points at block b's packed nibbles,
    /// `x` at the pair's 64 paired activation bytes.
    @inline(__always) @usableFromInline
    static func pairSums(_ p: UnsafeRawPointer, bytes: Int, _ x: UnsafeRawPointer) -> __m256i {
        _mm256_madd_epi16(pairSums16(p, bytes: bytes, x), _mm256_set1_epi16(1))
    }

    /// Sums of eight blocks starting at `p` (packed nibbles), lanes in `groupOrder`.
    @inline(__always) @usableFromInline
    static func groupSums(_ p: UnsafeRawPointer, bytes: Int, _ x: UnsafeRawPointer) -> __m256i {
        let h01 = _mm256_hadd_epi32(pairSums(p, bytes: bytes, x), pairSums(p + 2 &* bytes, bytes: bytes, x + 64))
        let h23 = _mm256_hadd_epi32(pairSums(p + 4 &* bytes, bytes: bytes, x + 128), pairSums(p + 6 &* bytes, bytes: bytes, x + 192))
        return _mm256_hadd_epi32(h01, h23)
    }

    /// Sums of four blocks starting at `p`: lanes 0, 1, 4, 5 = blocks 0, 2, 1, 3; other lanes 0.
    @inline(__always) @usableFromInline
    static func quadSums(_ p: UnsafeRawPointer, bytes: Int, _ x: UnsafeRawPointer) -> __m256i {
        _mm256_hadd_epi32(_mm256_hadd_epi32(pairSums(p, bytes: bytes, x), pairSums(p + 2 &* bytes, bytes: bytes, x + 64)),
                          _mm256_setzero_si256())
    }

    /// The first four bytes of eight blocks `stride` apart, in `groupOrder` (a 4-bit block starts with its f16
    /// scale, then Q4_1's f16 min).
    @inline(__always) @usableFromInline
    static func heads8(_ p: UnsafeRawPointer, _ stride: Int) -> __m256i {
        @inline(__always) func h(_ k: Int) -> Int32 { p.loadUnaligned(fromByteOffset: k &* stride, as: Int32.self) }
        return _mm256_set_m128i(_mm_setr_epi32(h(1), h(3), h(5), h(7)), _mm_setr_epi32(h(0), h(2), h(4), h(6)))
    }

    /// The first four bytes of four blocks in `quadSums`' lane order (zeros elsewhere).
    @inline(__always) @usableFromInline
    static func heads4(_ p: UnsafeRawPointer, _ stride: Int) -> __m256i {
        @inline(__always) func h(_ k: Int) -> Int32 { p.loadUnaligned(fromByteOffset: k &* stride, as: Int32.self) }
        return _mm256_set_m128i(_mm_setr_epi32(h(1), h(3), 0, 0), _mm_setr_epi32(h(0), h(2), 0, 0))
    }

    /// Block heads → (scales, mins) as floats, lane for lane: the low f16 of each 32-bit head is the scale,
    /// the high one Q4_1's min. One byte shuffle gathers each 128-bit half's scales into its low 8 bytes and
    /// mins into its high 8, one cross-lane permute puts all scales in the low half.
    @inline(__always) @usableFromInline
    static func scalesAndMins(_ h: __m256i) -> (__m256, __m256) {
        let split = _mm256_shuffle_epi8(h, _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15,
                                                            0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15))
        let v = unsafeBitCast(_mm256_permutevar8x32_epi32(split, _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7)), to: SIMD16<UInt16>.self)
        return (_mm256_cvtph_ps(unsafeBitCast(v.lowHalf, to: __m128i.self)), _mm256_cvtph_ps(unsafeBitCast(v.highHalf, to: __m128i.self)))
    }

    /// Σ of eight lanes as a tree (`SIMD8.sum()` adds the lanes one after another).
    @inline(__always) @usableFromInline
    static func hsum(_ v: __m256) -> Float {
        let f = unsafeBitCast(v, to: SIMD8<Float>.self)
        let q = f.lowHalf + f.highHalf
        let d = q.lowHalf + q.highHalf
        return d[0] + d[1]
    }

    /// Eight floats / int32 at `p` permuted into `groupOrder`.
    @inline(__always) @usableFromInline
    static func grouped(_ p: UnsafePointer<Float>) -> __m256 { _mm256_permutevar8x32_ps(_mm256_loadu_ps(p), groupOrder) }
    @inline(__always) @usableFromInline
    static func grouped(_ p: UnsafePointer<Int32>) -> __m256i { _mm256_permutevar8x32_epi32(load32(UnsafeRawPointer(p)), groupOrder) }
    /// Four values at `p` in `quadSums`' lane order.
    @inline(__always) @usableFromInline
    static func quad(_ p: UnsafePointer<Float>) -> __m256 { _mm256_setr_ps(p[0], p[2], 0, 0, p[1], p[3], 0, 0) }
    @inline(__always) @usableFromInline
    static func quad(_ p: UnsafePointer<Int32>) -> __m256i { _mm256_setr_epi32(p[0], p[2], 0, 0, p[1], p[3], 0, 0) }

    /// Integer sum of one block (`p`: packed nibbles) whose 32 activations are in `pairedBlocks` order: block b of
    /// `blocks` is half of a pair unless it is an odd last block (natural order).
    @inline(__always) @usableFromInline
    static func singleSum(_ p: UnsafeRawPointer, _ x: UnsafeRawPointer, block b: Int, blocks: Int) -> Int32 {
        let packed = _mm_loadu_si128(p.assumingMemoryBound(to: __m128i.self))
        let m = _mm_set1_epi8(0x0F)
        let paired: Bool = b & 1 == 1 || b &+ 1 < blocks
        let pairBase: Int = (b & ~1) &* 32
        let lo: UnsafeRawPointer = x + (paired ? pairBase &+ (b & 1) &* 16 : pairBase)   // values 0…15
        let hi: UnsafeRawPointer = lo + (paired ? 32 : 16)                                // values 16…31
        let s = _mm_add_epi16(_mm_maddubs_epi16(_mm_and_si128(packed, m), _mm_loadu_si128(lo.assumingMemoryBound(to: __m128i.self))),
                              _mm_maddubs_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), m),
                                                _mm_loadu_si128(hi.assumingMemoryBound(to: __m128i.self))))
        return unsafeBitCast(_mm_madd_epi16(s, _mm_set1_epi16(1)), to: SIMD4<Int32>.self).wrappedSum()
    }

    @inline(__always) @usableFromInline
    static func q4_0(_ row: UnsafeRawPointer, _ x: UnsafeRawPointer, _ xs: UnsafePointer<Float>,
                     _ xsum: UnsafePointer<Int32>, blocks: Int) -> Float {
        var acc = _mm256_setzero_ps()
        var b = 0
        while b &+ 8 <= blocks {
            let p = row + b &* 18
            prefetch(p, bytes: 8 &* 18)
            // Σ (q − 8)·x = Σ q·x − 8·Σx, exact in int32
            let q = _mm256_sub_epi32(groupSums(p + 2, bytes: 18, x + b &* 32), _mm256_slli_epi32(grouped(xsum + b), 3))
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q), _mm256_mul_ps(scalesAndMins(heads8(p, 18)).0, grouped(xs + b)), acc)
            b &+= 8
        }
        if b &+ 4 <= blocks {   // rows of 640 columns (20 blocks) end in four
            let p = row + b &* 18
            let q = _mm256_sub_epi32(quadSums(p + 2, bytes: 18, x + b &* 32), _mm256_slli_epi32(quad(xsum + b), 3))
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q), _mm256_mul_ps(scalesAndMins(heads4(p, 18)).0, quad(xs + b)), acc)
            b &+= 4
        }
        var tail: Float = 0
        while b < blocks {
            let p = row + b &* 18
            let q = singleSum(p + 2, x, block: b, blocks: blocks) &- 8 &* xsum[b]
            tail += Float(q) * (DotProducts.half(p.loadUnaligned(as: UInt16.self)) * xs[b])
            b &+= 1
        }
        return hsum(acc) + tail
    }

    @inline(__always) @usableFromInline
    static func q4_1(_ row: UnsafeRawPointer, _ x: UnsafeRawPointer, _ xs: UnsafePointer<Float>,
                     _ xsum: UnsafePointer<Int32>, blocks: Int) -> Float {
        var acc = _mm256_setzero_ps(), accMin = _mm256_setzero_ps()
        var b = 0
        while b &+ 8 <= blocks {
            let p = row + b &* 20
            prefetch(p, bytes: 8 &* 20)
            let (d, m) = scalesAndMins(heads8(p, 20)), dx = grouped(xs + b)
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(groupSums(p + 4, bytes: 20, x + b &* 32)), _mm256_mul_ps(d, dx), acc)
            // m·d_x·Σx per block
            accMin = _mm256_fmadd_ps(m, _mm256_mul_ps(dx, _mm256_cvtepi32_ps(grouped(xsum + b))), accMin)
            b &+= 8
        }
        if b &+ 4 <= blocks {
            let p = row + b &* 20
            let (d, m) = scalesAndMins(heads4(p, 20)), dx = quad(xs + b)
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(quadSums(p + 4, bytes: 20, x + b &* 32)), _mm256_mul_ps(d, dx), acc)
            accMin = _mm256_fmadd_ps(m, _mm256_mul_ps(dx, _mm256_cvtepi32_ps(quad(xsum + b))), accMin)
            b &+= 4
        }
        var tail: Float = 0
        while b < blocks {
            let p = row + b &* 20
            let d = DotProducts.half(p.loadUnaligned(as: UInt16.self)) * xs[b]
            let m = DotProducts.half(p.loadUnaligned(fromByteOffset: 2, as: UInt16.self)) * xs[b]
            tail += Float(singleSum(p + 4, x, block: b, blocks: blocks)) * d + m * Float(xsum[b])
            b &+= 1
        }
        return hsum(_mm256_add_ps(acc, accMin)) + tail
    }

    // MARK: 4-bit rows with precomputed activation terms (`QuantizedGEMV` on rows of 8n or 8n + 4 blocks)
    //
    // The per-token terms of a group (activation scales, Q4_0's 8·Σx, Q4_1's d_x·Σx) are the same for every row,
    // so `QuantizedActivations.fillGroupTerms` lays them out once per input in `groupOrder` and the row loop
    // loads them as they are. Rows of 8n + 4 blocks (640 columns: the LM head, q/k/v, gate/up) are taken two at
    // a time: row r's last four blocks and row r + 1's first four — adjacent in memory — form one full group
    // (lanes 0, 1, 4, 5: row r; 2, 3, 6, 7: row r + 1) instead of two half-empty four-block tails. A row whose
    // partner is outside the caller's range stands in for the partner with its own blocks and keeps only its
    // lanes: every lane is computed from its own row's data and reduced in the same order, so a row's value is
    // the same bit for bit whichever way the rows are split over threads.

    /// Sums of the eight blocks of a group whose blocks 0…3 start at `p` (activations `x`) and blocks 4…7 at
    /// `p4` (activations `x4`), lanes in `groupOrder`. For an ordinary group `p4 = p + 4·bytes`, `x4 = x + 128`.
    @inline(__always) @usableFromInline
    static func splitGroupSums(_ p: UnsafeRawPointer, _ p4: UnsafeRawPointer, bytes: Int,
                               _ x: UnsafeRawPointer, _ x4: UnsafeRawPointer) -> __m256i {
        // The adds stay in int16 until two lanes per block are left: a lane of `pairSums16` is at most
        // 2·2·15·127 = 7 620 in magnitude, after two `vphaddw` 30 480 < 2¹⁵; one `vpmaddwd` then widens.
        let h01 = _mm256_hadd_epi16(pairSums16(p, bytes: bytes, x), pairSums16(p + 2 &* bytes, bytes: bytes, x + 64))
        let h23 = _mm256_hadd_epi16(pairSums16(p4, bytes: bytes, x4), pairSums16(p4 + 2 &* bytes, bytes: bytes, x4 + 64))
        return _mm256_madd_epi16(_mm256_hadd_epi16(h01, h23), _mm256_set1_epi16(1))
    }

    /// `pairSums` before widening: int16 lanes 0…7 block b's, 8…15 block b + 1's partial sums.
    @inline(__always) @usableFromInline
    static func pairSums16(_ p: UnsafeRawPointer, bytes: Int, _ x: UnsafeRawPointer) -> __m256i {
        let packed = _mm256_set_m128i(_mm_loadu_si128((p + bytes).assumingMemoryBound(to: __m128i.self)),
                                      _mm_loadu_si128(p.assumingMemoryBound(to: __m128i.self)))
        let m = _mm256_set1_epi8(0x0F)
        let lo = _mm256_and_si256(packed, m), hi = _mm256_and_si256(_mm256_srli_epi16(packed, 4), m)
        return _mm256_add_epi16(_mm256_maddubs_epi16(lo, load32(x)), _mm256_maddubs_epi16(hi, load32(x + 32)))
    }

    /// The f16 scales (first two bytes) of a group's eight blocks, lanes in `groupOrder`, as floats.
    @inline(__always) @usableFromInline
    static func groupScales(_ p: UnsafeRawPointer, _ p4: UnsafeRawPointer, _ stride: Int) -> __m256 {
        @inline(__always) func h(_ q: UnsafeRawPointer, _ k: Int) -> UInt16 { q.loadUnaligned(fromByteOffset: k &* stride, as: UInt16.self) }
        let v = SIMD8<UInt16>(h(p, 0), h(p, 2), h(p4, 0), h(p4, 2), h(p, 1), h(p, 3), h(p4, 1), h(p4, 3))
        return _mm256_cvtph_ps(unsafeBitCast(v, to: __m128i.self))
    }

    /// The four head bytes (Q4_1: scale, min) of a group's eight blocks, lanes in `groupOrder`.
    @inline(__always) @usableFromInline
    static func groupHeads(_ p: UnsafeRawPointer, _ p4: UnsafeRawPointer, _ stride: Int) -> __m256i {
        @inline(__always) func h(_ q: UnsafeRawPointer, _ k: Int) -> Int32 { q.loadUnaligned(fromByteOffset: k &* stride, as: Int32.self) }
        return _mm256_set_m128i(_mm_setr_epi32(h(p, 1), h(p, 3), h(p4, 1), h(p4, 3)), _mm_setr_epi32(h(p, 0), h(p, 2), h(p4, 0), h(p4, 2)))
    }

    /// One Q4_0 group (see `splitGroupSums`) with its terms at `s` (d_x) and `o` (8·Σx), added to `acc`.
    @inline(__always) @usableFromInline
    static func q4_0Group(_ p: UnsafeRawPointer, _ p4: UnsafeRawPointer, _ x: UnsafeRawPointer, _ x4: UnsafeRawPointer,
                          _ s: UnsafePointer<Float>, _ o: UnsafePointer<Int32>, _ acc: __m256) -> __m256 {
        prefetch(p, bytes: 8 &* 18)
        let q = _mm256_sub_epi32(splitGroupSums(p + 2, p4 + 2, bytes: 18, x, x4), load32(UnsafeRawPointer(o)))
        return _mm256_fmadd_ps(_mm256_cvtepi32_ps(q), _mm256_mul_ps(groupScales(p, p4, 18), _mm256_loadu_ps(s)), acc)
    }

    /// One Q4_1 group with its terms at `s` (d_x) and `t` (d_x·Σx), added to `acc` (scale terms) and `accMin`.
    @inline(__always) @usableFromInline
    static func q4_1Group(_ p: UnsafeRawPointer, _ p4: UnsafeRawPointer, _ x: UnsafeRawPointer, _ x4: UnsafeRawPointer,
                          _ s: UnsafePointer<Float>, _ t: UnsafePointer<Float>, _ acc: inout __m256, _ accMin: inout __m256) {
        prefetch(p, bytes: 8 &* 20)
        let (d, m) = scalesAndMins(groupHeads(p, p4, 20))
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(splitGroupSums(p + 4, p4 + 4, bytes: 20, x, x4)), _mm256_mul_ps(d, _mm256_loadu_ps(s)), acc)
        accMin = _mm256_fmadd_ps(m, _mm256_loadu_ps(t), accMin)
    }

    /// Terms of an activation vector for the row kernels below (pointers into `QuantizedActivations`).
    @usableFromInline
    struct GroupTerms {
        @usableFromInline let x: UnsafeRawPointer            // `pairedBlocks`
        @usableFromInline let scales: UnsafePointer<Float>   // `groupScales`
        @usableFromInline let offsets: UnsafePointer<Int32>  // `groupOffsets`
        @usableFromInline let minTerms: UnsafePointer<Float> // `groupMinTerms`
        @inlinable init(_ a: QuantizedActivations) {
            x = UnsafeRawPointer(a.pairedBlocks)
            scales = UnsafePointer(a.groupScales)
            offsets = UnsafePointer(a.groupOffsets)
            minTerms = UnsafePointer(a.groupMinTerms)
        }
    }

    /// Rows `range` of `W·x` for a Q4_0 or Q4_1 matrix whose rows have 8n or 8n + 4 blocks (`rowKernelApplies`).
    @inline(__always) @usableFromInline
    static func rows4(_ type: TensorType, _ base: UnsafeRawPointer, rowBytes: Int, blocks: Int, _ a: GroupTerms,
                      _ y: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
        let n = blocks >> 3
        let bb = type == .q4_0 ? 18 : 20
        let x = a.x, s = a.scales, o = a.offsets, t = a.minTerms
        // Lanes 0, 1, 4, 5 of a row-joining group belong to its first row.
        let firstRow = _mm256_castsi256_ps(_mm256_setr_epi32(-1, -1, 0, 0, -1, -1, 0, 0))
        let zero = _mm256_setzero_ps()

        /// The n full groups of one row starting at block `first` (0 or 4).
        @inline(__always) func groups(_ row: UnsafeRawPointer, first: Int) -> __m256 {
            var acc = zero, accMin = zero
            var g = 0
            while g < n {
                let b = first &+ g &* 8
                let p = row + b &* bb, xb = x + b &* 32
                let slot = b >> 2
                if type == .q4_0 {
                    acc = q4_0Group(p, p + 4 &* bb, xb, xb + 128, s + slot &* 8, o + slot &* 8, acc)
                } else {
                    q4_1Group(p, p + 4 &* bb, xb, xb + 128, s + slot &* 8, t + slot &* 8, &acc, &accMin)
                }
                g &+= 1
            }
            return _mm256_add_ps(acc, accMin)
        }

        /// The row-joining group: `tail` = the first row's last four blocks, `head` = the next row's first four.
        @inline(__always) func joined(_ tail: UnsafeRawPointer, _ xTail: UnsafeRawPointer, _ head: UnsafeRawPointer) -> __m256 {
            let slot = QuantizedActivations.straddleSlot(blocks: blocks) &* 8
            if type == .q4_0 { return q4_0Group(tail, head, xTail, x, s + slot, o + slot, zero) }
            var acc = zero, accMin = zero
            q4_1Group(tail, head, xTail, x, s + slot, t + slot, &acc, &accMin)
            return _mm256_add_ps(acc, accMin)
        }

        var r = range.lowerBound
        if blocks & 7 == 0 {
            while r < range.upperBound {
                y[r] = hsum(groups(base + r &* rowBytes, first: 0))
                r &+= 1
            }
            return
        }
        let tailBytes = (blocks &- 4) &* bb, xTail = x + (blocks &- 4) &* 32
        if r & 1 == 1 && r < range.upperBound {   // second row of a pair whose first row is not ours
            let row = base + r &* rowBytes
            let j = joined(row, x, row)
            y[r] = hsum(_mm256_add_ps(groups(row, first: 4), _mm256_andnot_ps(firstRow, j)))
            r &+= 1
        }
        while r &+ 2 <= range.upperBound {
            let rowA = base + r &* rowBytes, rowB = rowA + rowBytes
            let a0 = groups(rowA, first: 0)
            let j = joined(rowA + tailBytes, xTail, rowB)
            let b0 = groups(rowB, first: 4)
            y[r] = hsum(_mm256_add_ps(a0, _mm256_and_ps(firstRow, j)))
            y[r &+ 1] = hsum(_mm256_add_ps(b0, _mm256_andnot_ps(firstRow, j)))
            r &+= 2
        }
        if r < range.upperBound {   // first row of a pair whose second row is not ours
            let rowA = base + r &* rowBytes
            let j = joined(rowA + tailBytes, xTail, rowA + tailBytes)
            y[r] = hsum(_mm256_add_ps(groups(rowA, first: 0), _mm256_and_ps(firstRow, j)))
        }
    }

    /// Whether `rows4` takes rows of `blocks` blocks.
    @inlinable
    static func rowKernelApplies(blocks: Int) -> Bool { blocks & 7 == 0 || (blocks & 7 == 4) }

    @inline(__always) @usableFromInline
    static func total(_ a: __m256, _ b: __m256, _ c: __m128) -> Float {
        let s = unsafeBitCast(_mm256_add_ps(a, b), to: SIMD8<Float>.self)
        let q = s.lowHalf + s.highHalf + unsafeBitCast(c, to: SIMD4<Float>.self)
        let d = q.lowHalf + q.highHalf
        return d[0] + d[1]
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
