/// Exact lookup from a piece's UTF-8 bytes to its token id, without building `String`s.
///
/// Open addressing over one contiguous copy of every piece. When two ids share a piece, the
/// higher id wins (as in llama.cpp's piece → id map).
struct PieceTable: Sendable {
    private let storage: [UInt8]
    private let offsets: [Int32]
    private let slots: [Int32]
    private let mask: Int

    init(_ tokens: [String]) {
        var storage: [UInt8] = []
        storage.reserveCapacity(tokens.count * 8)
        var offsets: [Int32] = [0]
        offsets.reserveCapacity(tokens.count + 1)
        for token in tokens {
            storage.append(contentsOf: token.utf8)
            offsets.append(Int32(storage.count))
        }
        var capacity = 16
        while capacity < tokens.count * 2 { capacity <<= 1 }
        let mask = capacity - 1
        var slots = [Int32](repeating: -1, count: capacity)
        storage.withUnsafeBufferPointer { bytes in
            for id in 0..<tokens.count {
                let start = Int(offsets[id]), end = Int(offsets[id + 1])
                let key = UnsafeBufferPointer(rebasing: bytes[start..<end])
                var slot = Self.hash(key) & mask
                while true {
                    let other = slots[slot]
                    if other < 0 { slots[slot] = Int32(id); break }
                    let os = Int(offsets[Int(other)]), oe = Int(offsets[Int(other) + 1])
                    if Self.equal(key, UnsafeBufferPointer(rebasing: bytes[os..<oe])) {
                        slots[slot] = Int32(id)
                        break
                    }
                    slot = (slot + 1) & mask
                }
            }
        }
        self.storage = storage
        self.offsets = offsets
        self.slots = slots
        self.mask = mask
    }

    /// The id whose piece is exactly `key`, if any.
    func lookup(_ key: UnsafeBufferPointer<UInt8>) -> Int32? {
        storage.withUnsafeBufferPointer { bytes in
            var slot = Self.hash(key) & mask
            while true {
                let id = slots[slot]
                if id < 0 { return nil }
                let start = Int(offsets[Int(id)]), end = Int(offsets[Int(id) + 1])
                if Self.equal(key, UnsafeBufferPointer(rebasing: bytes[start..<end])) { return id }
                slot = (slot + 1) & mask
            }
        }
    }

    func lookup(_ piece: String) -> Int32? {
        var piece = piece
        return piece.withUTF8 { lookup($0) }
    }

    /// The stored bytes of `id`'s piece.
    func withBytes<R>(of id: Int32, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        storage.withUnsafeBufferPointer { bytes in
            let start = Int(offsets[Int(id)]), end = Int(offsets[Int(id) + 1])
            return body(UnsafeBufferPointer(rebasing: bytes[start..<end]))
        }
    }

    @inline(__always)
    private static func hash(_ key: UnsafeBufferPointer<UInt8>) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        h ^= h >> 29
        h = h &* 0xbf58_476d_1ce4_e5b9
        h ^= h >> 32
        return Int(truncatingIfNeeded: h)
    }

    @inline(__always)
    private static func equal(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        guard let pa = a.baseAddress, let pb = b.baseAddress else { return true }
        for i in 0..<a.count where pa[i] != pb[i] { return false }
        return true
    }
}
