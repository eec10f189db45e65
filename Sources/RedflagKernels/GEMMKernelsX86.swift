#if arch(x86_64) && REDFLAG_AVX2
import _Builtin_intrinsics.intel

/// x86-64 (AVX2) kernels of `QuantizedGEMM`: eight weight rows are repacked once into an interleaved tile, then
/// dotted with every token of the batch.
///
/// Tile layout, per block b (256 bytes): eight 32-byte chunks; chunk c holds bytes 4c…4c+3 of row 0, then of
/// row 1, …, row 7. With the token's bytes 4c…4c+3 broadcast to all lanes, `vpmaddubsw` + `vpmaddwd` leave
/// lane k = row k's partial dot, so the eight rows' block sums build up in one register with no horizontal
/// adds, the scales of the eight rows are one vector (`d[8b…8b+7]`), and the eight results are one store.
/// Unsigned operand: the nibbles (0…15) for Q4_0/Q4_1, |w| for Q8_0 (with `signs` holding w, whose sign moves
/// onto x). Q4_0's −8 offset is −8·Σx per block (int32), Q4_1's min term m·d_x·Σx, as in `DotProductsX86`.
@usableFromInline
enum GEMMKernelsX86 {
    typealias K = DotProductsX86

    /// Bytes of one block of an eight-row tile.
    @usableFromInline static let tileBlockBytes = 256

    /// Scatters 32 bytes (one block of row `k`, natural order) into the tile block at `t`.
    @inline(__always) @usableFromInline
    static func scatter(_ v: __m256i, row k: Int, into t: UnsafeMutableRawPointer) {
        let w = unsafeBitCast(v, to: SIMD8<UInt32>.self)
        for c in 0..<8 { t.storeBytes(of: w[c], toByteOffset: c &* 32 &+ 4 &* k, as: UInt32.self) }
    }

    /// Rows `row0…row0+rows−1` (rows ≤ 8) of a Q4_0 (`blockBytes` 18) or Q4_1 (20: scale, min) matrix → tile,
    /// scales `d` `(blocks × 8)`, and for Q4_1 mins `m` `(blocks × 8)`; missing rows get zero scales.
    @inline(__always) @usableFromInline
    static func packQ4(_ row0: UnsafeRawPointer, rows: Int, stride: Int, blockBytes: Int, blocks: Int,
                       tile: UnsafeMutableRawPointer, _ d: UnsafeMutablePointer<Float>, _ m: UnsafeMutablePointer<Float>?) {
        let quants = blockBytes - 16
        if rows < 8 { zeroScales(d, m, blocks: blocks) }
        for k in 0..<rows {
            let row = row0 + k &* stride
            for b in 0..<blocks {
                let p = row + b &* blockBytes
                scatter(K.nibbles(p + quants), row: k, into: tile + b &* tileBlockBytes)
                d[b &* 8 &+ k] = DotProducts.half(p.loadUnaligned(as: UInt16.self))
                if let m { m[b &* 8 &+ k] = DotProducts.half(p.loadUnaligned(fromByteOffset: 2, as: UInt16.self)) }
            }
        }
    }

    /// Missing rows of a partial tile: zero scales (their tile bytes are left as they are and weigh nothing).
    @inline(__always) @usableFromInline
    static func zeroScales(_ d: UnsafeMutablePointer<Float>, _ m: UnsafeMutablePointer<Float>?, blocks: Int) {
        d.update(repeating: 0, count: blocks &* 8)
        m?.update(repeating: 0, count: blocks &* 8)
    }

    /// Rows `row0…row0+rows−1` (rows ≤ 8) of a Q8_0 matrix → |w| tile, w tile (`signs`), scales `d` `(blocks × 8)`.
    @inline(__always) @usableFromInline
    static func packQ8_0(_ row0: UnsafeRawPointer, rows: Int, stride: Int, blocks: Int, tile: UnsafeMutableRawPointer,
                         signs: UnsafeMutableRawPointer, _ d: UnsafeMutablePointer<Float>) {
        if rows < 8 { zeroScales(d, nil, blocks: blocks) }
        for k in 0..<rows {
            let row = row0 + k &* stride
            for b in 0..<blocks {
                let p = row + b &* 34
                let w = K.load32(p + 2)
                scatter(_mm256_sign_epi8(w, w), row: k, into: tile + b &* tileBlockBytes)
                scatter(w, row: k, into: signs + b &* tileBlockBytes)
                d[b &* 8 &+ k] = DotProducts.half(p.loadUnaligned(as: UInt16.self))
            }
        }
    }

    @inline(__always) @usableFromInline
    static func broadcast4(_ x: UnsafeRawPointer, _ c: Int) -> __m256i {
        _mm256_set1_epi32(x.loadUnaligned(fromByteOffset: c &* 4, as: Int32.self))
    }

    /// Q4 block sums of the eight rows for one token block: int16 partial sums stay in range
    /// (8 chunks · 2 · 15 · 127 = 30 480 < 2¹⁵), widened once.
    @inline(__always) @usableFromInline
    static func q4BlockSums(_ t: UnsafeRawPointer, _ x: UnsafeRawPointer) -> __m256i {
        var s = _mm256_maddubs_epi16(K.load32(t), broadcast4(x, 0))
        s = _mm256_add_epi16(s, _mm256_maddubs_epi16(K.load32(t + 32), broadcast4(x, 1)))
        s = _mm256_add_epi16(s, _mm256_maddubs_epi16(K.load32(t + 64), broadcast4(x, 2)))
        s = _mm256_add_epi16(s, _mm256_maddubs_epi16(K.load32(t + 96), broadcast4(x, 3)))
        s = _mm256_add_epi16(s, _mm256_maddubs_epi16(K.load32(t + 128), broadcast4(x, 4)))
        s = _mm256_add_epi16(s, _mm256_maddubs_epi16(K.load32(t + 160), broadcast4(x, 5)))
        s = _mm256_add_epi16(s, _mm256_maddubs_epi16(K.load32(t + 192), broadcast4(x, 6)))
        s = _mm256_add_epi16(s, _mm256_maddubs_epi16(K.load32(t + 224), broadcast4(x, 7)))
        return _mm256_madd_epi16(s, _mm256_set1_epi16(1))
    }

    /// Eight rows · one token, Q4_0: lane k = row k's dot.
    @inline(__always) @usableFromInline
    static func q4_0(_ tile: UnsafeRawPointer, _ d: UnsafePointer<Float>, _ x: UnsafeRawPointer,
                     _ xs: UnsafePointer<Float>, _ xsum: UnsafePointer<Int32>, blocks: Int) -> __m256 {
        var acc = _mm256_setzero_ps()
        for b in 0..<blocks {
            let s = _mm256_sub_epi32(q4BlockSums(tile + b &* tileBlockBytes, x + b &* 32), _mm256_set1_epi32(8 &* xsum[b]))
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(_mm256_loadu_ps(d + b &* 8), _mm256_set1_ps(xs[b])), acc)
        }
        return acc
    }

    /// Eight rows · one token, Q4_1.
    @inline(__always) @usableFromInline
    static func q4_1(_ tile: UnsafeRawPointer, _ d: UnsafePointer<Float>, _ m: UnsafePointer<Float>, _ x: UnsafeRawPointer,
                     _ xs: UnsafePointer<Float>, _ xsum: UnsafePointer<Int32>, blocks: Int) -> __m256 {
        var acc = _mm256_setzero_ps(), accMin = _mm256_setzero_ps()
        for b in 0..<blocks {
            let s = q4BlockSums(tile + b &* tileBlockBytes, x + b &* 32)
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(_mm256_loadu_ps(d + b &* 8), _mm256_set1_ps(xs[b])), acc)
            accMin = _mm256_fmadd_ps(_mm256_loadu_ps(m + b &* 8), _mm256_set1_ps(xs[b] * Float(xsum[b])), accMin)
        }
        return _mm256_add_ps(acc, accMin)
    }

    /// Eight rows · one token, Q8_0 (int32 per chunk: |w|·x pairs reach 2·127² and do not add in int16).
    @inline(__always) @usableFromInline
    static func q8_0(_ tile: UnsafeRawPointer, _ signs: UnsafeRawPointer, _ d: UnsafePointer<Float>, _ x: UnsafeRawPointer,
                     _ xs: UnsafePointer<Float>, blocks: Int) -> __m256 {
        var acc = _mm256_setzero_ps()
        for b in 0..<blocks {
            let t = tile + b &* tileBlockBytes, sg = signs + b &* tileBlockBytes, xb = x + b &* 32
            @inline(__always) func chunk(_ c: Int) -> __m256i {
                K.idot(K.load32(t + c &* 32), _mm256_sign_epi8(broadcast4(xb, c), K.load32(sg + c &* 32)))
            }
            let s = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(chunk(0), chunk(1)), _mm256_add_epi32(chunk(2), chunk(3))),
                                     _mm256_add_epi32(_mm256_add_epi32(chunk(4), chunk(5)), _mm256_add_epi32(chunk(6), chunk(7))))
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(_mm256_loadu_ps(d + b &* 8), _mm256_set1_ps(xs[b])), acc)
        }
        return acc
    }

    /// Stores the first `rows` lanes of `v` at `y`.
    @inline(__always) @usableFromInline
    static func store(_ v: __m256, rows: Int, _ y: UnsafeMutablePointer<Float>) {
        if rows == 8 {
            _mm256_storeu_ps(y, v)
        } else {
            let f = unsafeBitCast(v, to: SIMD8<Float>.self)
            for k in 0..<rows { y[k] = f[k] }
        }
    }
}
#endif
