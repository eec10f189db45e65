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
    }

    deinit {
        values.deallocate()
        scales.deallocate()
        sums.deallocate()
        pairs.deallocate()
        pairedBlocks.deallocate()
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
