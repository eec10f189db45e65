import RedflagGGUF

/// A fast, non-cryptographic 64-bit hash over bytes (four independent FNV-style lanes, then mixed):
/// integrity checksums for session files and the model fingerprint. Runs at memory speed.
public struct FastHash {
    private var h: UInt64 = 0x9E37_79B9_7F4A_7C15

    public init() {}

    public mutating func mix(_ v: UInt64) {
        h ^= v &* 0xBF58_476D_1CE4_E5B9
        h = (h << 27 | h >> 37) &* 0x94D0_49BB_1331_11EB
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { mix(0); return }
        let words = bytes.count / 8
        var a: UInt64 = 1, b: UInt64 = 2, c: UInt64 = 3, d: UInt64 = 4
        var i = 0
        while i + 4 <= words {
            a = (a ^ base.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) &* 0x100_0000_01B3
            b = (b ^ base.loadUnaligned(fromByteOffset: i * 8 + 8, as: UInt64.self)) &* 0x100_0000_01B3
            c = (c ^ base.loadUnaligned(fromByteOffset: i * 8 + 16, as: UInt64.self)) &* 0x100_0000_01B3
            d = (d ^ base.loadUnaligned(fromByteOffset: i * 8 + 24, as: UInt64.self)) &* 0x100_0000_01B3
            i += 4
        }
        while i < words { a = (a ^ base.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) &* 0x100_0000_01B3; i += 1 }
        for j in (words * 8)..<bytes.count { mix(UInt64(bytes[j])) }
        mix(a); mix(b); mix(c); mix(d); mix(UInt64(bytes.count))
    }

    public mutating func update(_ s: String) { for b in s.utf8 { mix(UInt64(b)) }; mix(0xFF) }

    public var value: UInt64 { h }

    public static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var f = FastHash()
        f.update(bytes)
        return f.value
    }
}

/// A 64-bit identity of a model's weights: `FastHash` over the tensor table (names, shapes, types), every
/// tensor's bytes, and a merged adapter's path. Session snapshots record it so that a cache made with one
/// model is never restored into another.
public enum ModelFingerprint {
    public static func compute(gguf: GGUFFile, adapterPath: String? = nil) -> UInt64 {
        var h = FastHash()
        for t in gguf.tensors {
            h.update(t.name)
            for d in t.dims { h.mix(UInt64(d)) }
            h.mix(UInt64(t.type.rawValue))
            h.update(gguf.bytes(of: t))
        }
        h.update(adapterPath ?? "")
        return h.value
    }
}
