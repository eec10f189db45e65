/// Errors reported by the checked (throwing) entry points of the kernels.
public enum KernelError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The type has no implementation for the requested operation (see `TensorType.isSupported`,
    /// ``Quantize/supports(_:)``, ``BlockConversion/canConvert(from:to:)``).
    case unsupportedType(TensorType)
    /// No conversion between these two types.
    case unsupportedConversion(from: TensorType, to: TensorType)
    /// `count` is negative or not a whole number of blocks of `type`.
    case invalidCount(Int, TensorType)

    public var description: String {
        switch self {
        case .unsupportedType(let type): return "unsupported tensor type \(type)"
        case .unsupportedConversion(let from, let to): return "no conversion from \(from) to \(to)"
        case .invalidCount(let count, let type):
            return "\(count) values is not a whole number of \(type) blocks (\(type.blockSize) values each)"
        }
    }
}

/// Scalar reference dequantization: ggml block formats → f32.
///
/// Supported types are exactly those with `TensorType.isSupported == true`:
/// F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q8_0, Q4_K, Q6_K. The results are bit-identical to
/// the reference numpy implementation in gguf-py (`gguf.quants.dequantize`), which performs
/// the same f32 operations in the same order (e.g. Q4_K computes `(d·sc)·q − dmin·m`,
/// Q6_K computes `(d·sc)·q`). No fused multiply-add is used.
///
/// Blocks are read with unaligned little-endian loads, so `src` may point anywhere (e.g. into an
/// mmapped GGUF file at an arbitrary offset).
///
/// Block layouts (block bytes / values per block), `d`, `m`, `dmin` are IEEE halfs:
/// - Q8_0 `{d; int8 qs[32]}` 34/32: `x[j] = d·qs[j]`
/// - Q4_0 `{d; u8 qs[16]}` 18/32: `x[j] = d·((qs[j] & 15) − 8)`, `x[j+16] = d·((qs[j] >> 4) − 8)`
/// - Q4_1 `{d; m; u8 qs[16]}` 20/32: `x[j] = d·(qs[j] & 15) + m`, `x[j+16] = d·(qs[j] >> 4) + m`
/// - Q5_0 `{d; u32le qh; u8 qs[16]}` 22/32: the nibbles of Q4_0 with bit `j` of `qh` as the
///   5th bit of value `j`, minus 16
/// - Q4_K `{d; dmin; u8 scales[12]; u8 qs[128]}` 144/256: 8 sub-blocks of 32 with 6-bit
///   scales/mins; `x = d·sc·q − dmin·m`; chunk c (64 values) uses bytes `qs[32c..<32c+32]`,
///   low nibbles for sub-block 2c, high nibbles for 2c+1
/// - Q6_K `{u8 ql[128]; u8 qh[64]; int8 scales[16]; d}` 210/256: 6-bit values (4 low bits
///   in `ql`, 2 high bits in `qh`) minus 32, one int8 scale per 16 values
public enum Dequantize {
    /// Dequantizes `count` values of `type` from `src` into `dst`.
    ///
    /// - Precondition: `type.isSupported` and `count` is a non-negative multiple of
    ///   `type.blockSize`. Callers that cannot guarantee this (e.g. for tensors from an
    ///   untrusted file) must check first or use ``checkedRow(_:from:count:into:)``.
    public static func row(_ type: TensorType, from src: UnsafeRawPointer, count: Int,
                           into dst: UnsafeMutablePointer<Float>) {
        precondition(type.isSupported, "Dequantize.row: unsupported type \(type)")
        precondition(count >= 0 && count % type.blockSize == 0,
                     "Dequantize.row: \(count) is not a multiple of the \(type) block size")
        let blocks = count / type.blockSize
        switch type {
        case .f32:
            UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: count * 4)
        case .f16:
            for i in 0..<count { dst[i] = halfToFloat(loadU16(src, 2 * i)) }
        case .bf16:
            for i in 0..<count { dst[i] = bfloat16ToFloat(loadU16(src, 2 * i)) }
        case .q4_0:
            for b in 0..<blocks { q4_0Block(src + 18 * b, dst + 32 * b) }
        case .q4_1:
            for b in 0..<blocks { q4_1Block(src + 20 * b, dst + 32 * b) }
        case .q5_0:
            for b in 0..<blocks { q5_0Block(src + 22 * b, dst + 32 * b) }
        case .q8_0:
            for b in 0..<blocks { q8_0Block(src + 34 * b, dst + 32 * b) }
        case .q4_K:
            for b in 0..<blocks { q4_KBlock(src + 144 * b, dst + 256 * b) }
        case .q6_K:
            for b in 0..<blocks { q6_KBlock(src + 210 * b, dst + 256 * b) }
        default:
            preconditionFailure("unreachable: isSupported checked above")
        }
    }

    /// Like ``row(_:from:count:into:)`` but reports an unsupported type or a bad `count`
    /// as an error instead of trapping.
    public static func checkedRow(_ type: TensorType, from src: UnsafeRawPointer, count: Int,
                                  into dst: UnsafeMutablePointer<Float>) throws(KernelError) {
        guard type.isSupported else { throw .unsupportedType(type) }
        guard count >= 0, count % type.blockSize == 0 else { throw .invalidCount(count, type) }
        row(type, from: src, count: count, into: dst)
    }

    /// Dequantizes `rows` rows of `columns` values each.
    ///
    /// - Parameters:
    ///   - srcRowBytes: byte distance between source rows; defaults to the packed row size
    ///     `type.rowBytes(columns)`.
    ///   - dstRowStride: distance between destination rows in floats; defaults to `columns`.
    /// - Precondition: as for ``row(_:from:count:into:)`` with `count = columns`; `rows ≥ 0`.
    public static func matrix(_ type: TensorType, from src: UnsafeRawPointer, rows: Int, columns: Int,
                              srcRowBytes: Int? = nil,
                              into dst: UnsafeMutablePointer<Float>, dstRowStride: Int? = nil) {
        precondition(rows >= 0, "Dequantize.matrix: negative row count")
        guard let packed = type.rowBytes(columns) else {
            preconditionFailure("Dequantize.matrix: \(columns) is not a multiple of the \(type) block size")
        }
        let srcStride = srcRowBytes ?? packed
        let dstStride = dstRowStride ?? columns
        for r in 0..<rows {
            row(type, from: src + r * srcStride, count: columns, into: dst + r * dstStride)
        }
    }

    // MARK: - Blocks

    @inline(__always)
    static func loadU16(_ p: UnsafeRawPointer, _ offset: Int) -> UInt16 {
        UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inline(__always)
    static func loadU32(_ p: UnsafeRawPointer, _ offset: Int) -> UInt32 {
        UInt32(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inline(__always)
    static func loadU8(_ p: UnsafeRawPointer, _ offset: Int) -> UInt8 {
        p.load(fromByteOffset: offset, as: UInt8.self)
    }

    @inline(__always)
    static func loadHalf(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        halfToFloat(loadU16(p, offset))
    }

    /// Q4_0: `{f16 d; u8 qs[16]}`.
    @inline(__always)
    static func q4_0Block(_ block: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = loadHalf(block, 0)
        for j in 0..<16 {
            let byte = Int32(loadU8(block, 2 + j))
            y[j] = d * Float((byte & 0x0F) - 8)
            y[j + 16] = d * Float((byte >> 4) - 8)
        }
    }

    /// Q4_1: `{f16 d; f16 m; u8 qs[16]}`.
    @inline(__always)
    static func q4_1Block(_ block: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = loadHalf(block, 0)
        let m = loadHalf(block, 2)
        for j in 0..<16 {
            let byte = Int32(loadU8(block, 4 + j))
            y[j] = d * Float(byte & 0x0F) + m
            y[j + 16] = d * Float(byte >> 4) + m
        }
    }

    /// Q5_0: `{f16 d; u32le qh; u8 qs[16]}`.
    @inline(__always)
    static func q5_0Block(_ block: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = loadHalf(block, 0)
        let qh = loadU32(block, 2)
        for j in 0..<16 {
            let byte = Int32(loadU8(block, 6 + j))
            let h0 = Int32(truncatingIfNeeded: (qh >> UInt32(j)) & 1) << 4
            let h1 = Int32(truncatingIfNeeded: (qh >> UInt32(j + 16)) & 1) << 4
            y[j] = d * Float(((byte & 0x0F) | h0) - 16)
            y[j + 16] = d * Float(((byte >> 4) | h1) - 16)
        }
    }

    /// Q8_0: `{f16 d; int8 qs[32]}`.
    @inline(__always)
    static func q8_0Block(_ block: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = loadHalf(block, 0)
        for j in 0..<32 {
            y[j] = d * Float(block.load(fromByteOffset: 2 + j, as: Int8.self))
        }
    }

    /// The 6-bit scale and min of Q4_K sub-block `j` (0..<8) from the 12 packed `scales` bytes.
    ///
    /// Bytes 0–3 hold scales 0–3 in their low 6 bits, bytes 4–7 mins 0–3; bytes 8–11 hold the
    /// low 4 bits of scales 4–7 (low nibble) and mins 4–7 (high nibble), whose top 2 bits are
    /// the top 2 bits of bytes 0–3 (scales) and 4–7 (mins).
    @inline(__always)
    static func q4_KScaleMin(_ scales: UnsafeRawPointer, _ j: Int) -> (scale: UInt8, min: UInt8) {
        if j < 4 {
            return (loadU8(scales, j) & 63, loadU8(scales, j + 4) & 63)
        }
        let packed = loadU8(scales, j + 4)
        let scale = (packed & 0x0F) | ((loadU8(scales, j - 4) >> 6) << 4)
        let min = (packed >> 4) | ((loadU8(scales, j) >> 6) << 4)
        return (scale, min)
    }

    /// Q4_K: `{f16 d; f16 dmin; u8 scales[12]; u8 qs[128]}`.
    @inline(__always)
    static func q4_KBlock(_ block: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = loadHalf(block, 0)
        let dmin = loadHalf(block, 2)
        let scales = block + 4
        let qs = block + 16
        for j in 0..<8 {
            let (sc, m) = q4_KScaleMin(scales, j)
            let d1 = d * Float(sc)
            let m1 = dmin * Float(m)
            let bytes = qs + 32 * (j >> 1)
            let shift = UInt8((j & 1) * 4)
            let out = y + 32 * j
            for l in 0..<32 {
                out[l] = d1 * Float((loadU8(bytes, l) >> shift) & 0x0F) - m1
            }
        }
    }

    /// Q6_K: `{u8 ql[128]; u8 qh[64]; int8 scales[16]; f16 d}`.
    @inline(__always)
    static func q6_KBlock(_ block: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = loadHalf(block, 208)
        for h in 0..<2 {
            let ql = block + 64 * h
            let qh = block + 128 + 32 * h
            let sc = block + 192 + 8 * h
            let out = y + 128 * h
            for l in 0..<32 {
                let s = l >> 4
                let lo0 = Int32(loadU8(ql, l))
                let lo1 = Int32(loadU8(ql, l + 32))
                let hi = Int32(loadU8(qh, l))
                let q1 = ((lo0 & 0x0F) | ((hi & 3) << 4)) - 32
                let q2 = ((lo1 & 0x0F) | (((hi >> 2) & 3) << 4)) - 32
                let q3 = ((lo0 >> 4) | (((hi >> 4) & 3) << 4)) - 32
                let q4 = ((lo1 >> 4) | (((hi >> 6) & 3) << 4)) - 32
                out[l] = (d * Float(sc.load(fromByteOffset: s, as: Int8.self))) * Float(q1)
                out[l + 32] = (d * Float(sc.load(fromByteOffset: s + 2, as: Int8.self))) * Float(q2)
                out[l + 64] = (d * Float(sc.load(fromByteOffset: s + 4, as: Int8.self))) * Float(q3)
                out[l + 96] = (d * Float(sc.load(fromByteOffset: s + 6, as: Int8.self))) * Float(q4)
            }
        }
    }
}
