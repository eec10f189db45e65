/// An activation vector quantized to int8 in 32-wide blocks (the input side of the integer GEMV):
/// `x[32b + j] ≈ scales[b] · values[32b + j]`, plus the block sums `Σ_j values[32b + j]` that the
/// scale+min weight layout (Q4_1) needs. Allocated once, reused every token.
public final class QuantizedActivations: @unchecked Sendable {
    public let capacity: Int
    public let values: UnsafeMutablePointer<Int8>   // (capacity)
    public let scales: UnsafeMutablePointer<Float>  // (capacity / 32)
    public let sums: UnsafeMutablePointer<Int32>    // (capacity / 32)
    /// The same values widened to int16 and split per block into even lanes then odd lanes:
    /// `pairs[32b + i] = values[32b + 2i]`, `pairs[32b + 16 + i] = values[32b + 2i + 1]` (i < 16),
    /// the order the portable and aarch64 integer kernels multiply in. Not filled on AVX2 builds, whose
    /// kernels read `values` directly.
    public let pairs: UnsafeMutablePointer<Int16>   // (capacity)
    /// The same values with blocks taken two at a time, the order the x86-64 AVX2 4-bit kernels multiply in
    /// (one 256-bit load holds the packed nibbles of two blocks): for blocks 2p and 2p + 1, 64 bytes
    /// `[x₂ₚ[0…15], x₂ₚ₊₁[0…15], x₂ₚ[16…31], x₂ₚ₊₁[16…31]]`; an odd last block stays in natural order. Filled on
    /// AVX2 builds by `quantize(_:_:forOneToken:)` with `forOneToken` (the GEMV input), empty otherwise.
    public let pairedBlocks: UnsafeMutablePointer<Int8>   // (capacity)
    /// Per-token terms of the x86-64 AVX2 4-bit kernels, laid out the way those kernels take them: slot k
    /// (k ≤ blocks/4) is the eight-block group starting at block 4k, lane j ↔ block 4k + `groupOrder[j]`
    /// (`[0, 2, 4, 6, 1, 3, 5, 7]`, zero past the last block); the slot after them (`straddleSlot`) is the group
    /// that joins the last four blocks of one row to the first four of the next (rows of 8n + 4 blocks):
    /// lanes `[n₄, n₄+2, 0, 2, n₄+1, n₄+3, 1, 3]`, n₄ = blocks − 4. Filled on AVX2 builds for one-token input.
    public let groupScales: UnsafeMutablePointer<Float>   // (slots × 8): d_x
    public let groupOffsets: UnsafeMutablePointer<Int32>  // (slots × 8): 8·Σx (Q4_0's −8 offset)
    public let groupMinTerms: UnsafeMutablePointer<Float> // (slots × 8): d_x·Σx (Q4_1's min term)
    /// Slot of the row-joining group (see `groupScales`) for rows of `blocks` blocks.
    @inlinable
    public static func straddleSlot(blocks: Int) -> Int { blocks / 4 + 1 }
    /// What this build's `DotProducts` kernel for weights of `type` reads: on x86-64 AVX2 builds
    /// (`DotProductsX86`) `values` for Q8_0 and `pairedBlocks` for the 4-bit types; `pairs` otherwise.
    public func kernelInput(for type: TensorType) -> UnsafeRawPointer {
        #if arch(x86_64) && REDFLAG_AVX2
        return type == .q8_0 ? UnsafeRawPointer(values) : UnsafeRawPointer(pairedBlocks)
        #else
        return UnsafeRawPointer(pairs)
        #endif
    }
    public private(set) var count = 0

    public init(capacity: Int) {
        precondition(capacity % 32 == 0)
        self.capacity = capacity
        values = .allocate(capacity: capacity)
        scales = .allocate(capacity: capacity / 32)
        sums = .allocate(capacity: capacity / 32)
        pairs = .allocate(capacity: capacity)
        pairedBlocks = .allocate(capacity: capacity)
        let slots = Self.straddleSlot(blocks: capacity / 32) + 1
        groupScales = .allocate(capacity: slots * 8)
        groupOffsets = .allocate(capacity: slots * 8)
        groupMinTerms = .allocate(capacity: slots * 8)
    }

    deinit {
        values.deallocate()
        scales.deallocate()
        sums.deallocate()
        pairs.deallocate()
        pairedBlocks.deallocate()
        groupScales.deallocate()
        groupOffsets.deallocate()
        groupMinTerms.deallocate()
    }

    /// Fills `groupScales`, `groupOffsets` and `groupMinTerms` from `scales` and `sums` (one-token input).
    func fillGroupTerms(blocks: Int) {
        /// Block of lane j within a group: `groupOrder` = [0, 2, 4, 6, 1, 3, 5, 7].
        @inline(__always) func lane(_ j: Int) -> Int { (j & 3) &* 2 &+ (j >> 2) }
        @inline(__always) func put(slot: Int, lane j: Int, block b: Int) {
            let i = slot &* 8 &+ j
            if b < blocks {
                groupScales[i] = scales[b]
                groupOffsets[i] = 8 &* sums[b]
                groupMinTerms[i] = scales[b] * Float(sums[b])
            } else {
                groupScales[i] = 0
                groupOffsets[i] = 0
                groupMinTerms[i] = 0
            }
        }
        for k in 0...(blocks / 4) {
            for j in 0..<8 { put(slot: k, lane: j, block: 4 &* k &+ lane(j)) }
        }
        let s = Self.straddleSlot(blocks: blocks), tail = blocks - 4
        for j in 0..<8 {
            let g = lane(j)   // 0…3: the first row's last four blocks; 4…7: the next row's first four
            put(slot: s, lane: j, block: tail >= 0 ? (g < 4 ? tail &+ g : g &- 4) : blocks)
        }
    }

    /// Quantizes `n` floats (a multiple of 32): per block d = max|x|/127, q = round(x/d) (ties away from zero),
    /// so q ∈ −127…127. `forOneToken`: `x` is one vector that the `DotProducts` kernels will read (also fill
    /// `pairedBlocks`); false for a batch of tokens for `QuantizedGEMM`, whose AVX2 kernels read `values` only
    /// (the portable fallback reads `pairs`, always filled) and whose blocks must not pair across tokens.
    public func quantize(_ x: UnsafePointer<Float>, _ n: Int, forOneToken: Bool = true) {
        precondition(n % 32 == 0 && n <= capacity)
        count = n
        #if arch(x86_64) && REDFLAG_AVX2
        let blocks = n / 32
        for b in 0..<blocks {
            (scales[b], sums[b]) = DotProductsX86.quantizeBlock(x + b &* 32, into: values + b &* 32)
        }
        if forOneToken {
            let raw = UnsafeRawPointer(values), out = UnsafeMutableRawPointer(pairedBlocks)
            var b = 0
            while b &+ 2 <= blocks {
                let v0 = raw.loadUnaligned(fromByteOffset: b &* 32, as: SIMD32<Int8>.self)
                let v1 = raw.loadUnaligned(fromByteOffset: b &* 32 &+ 32, as: SIMD32<Int8>.self)
                out.storeBytes(of: SIMD32(lowHalf: v0.lowHalf, highHalf: v1.lowHalf), toByteOffset: b &* 32, as: SIMD32<Int8>.self)
                out.storeBytes(of: SIMD32(lowHalf: v0.highHalf, highHalf: v1.highHalf), toByteOffset: b &* 32 &+ 32,
                               as: SIMD32<Int8>.self)
                b &+= 2
            }
            if b < blocks { (out + b &* 32).copyMemory(from: raw + b &* 32, byteCount: 32) }
            fillGroupTerms(blocks: blocks)
        }
        #else
        let raw = UnsafeRawPointer(x)
        for b in 0..<(n / 32) {
            let v0 = raw.loadUnaligned(fromByteOffset: b * 128, as: SIMD16<Float>.self)
            let v1 = raw.loadUnaligned(fromByteOffset: b * 128 + 64, as: SIMD16<Float>.self)
            let amax = Swift.max(Swift.max(v0.max(), -v0.min()), Swift.max(v1.max(), -v1.min()))
            let d = amax / 127
            let id: Float = d > 0 ? 1 / d : 0
            scales[b] = d
            let q = values + b * 32
            var s: Int32 = 0
            for j in 0..<16 {
                let a = Int8((v0[j] * id).rounded()), c = Int8((v1[j] * id).rounded())
                q[j] = a
                q[j + 16] = c
                s &+= Int32(a) &+ Int32(c)
            }
            sums[b] = s
            let pr = pairs + b * 32
            for i in 0..<16 {
                pr[i] = Int16(q[2 * i])
                pr[16 + i] = Int16(q[2 * i + 1])
            }
        }
        #endif
    }
}
