/// One piece of the input after special-token partitioning.
enum Fragment: Equatable {
    /// A special token matched verbatim in the text.
    case token(Int32)
    /// A byte range of the input left for SentencePiece segmentation.
    case text(Range<Int>)
}

/// Splits raw text at occurrences of special tokens (control, user-defined and unknown tokens).
///
/// The result is the one llama.cpp gets by taking the special tokens longest first (ties: lower id
/// first) and letting each, in turn, claim its leftmost non-overlapping occurrences inside the text
/// not yet claimed. Instead of one scan of the text per special token, a byte trie finds every
/// occurrence of every special token in one pass; the occurrences are then granted in that same
/// token order.
struct SpecialTokenPartition: Sendable {
    private let rootChildren: [Int32]
    private let edges: TrieEdges
    /// Per trie node: the rank of the special token ending there, or -1.
    private let terminalRank: [Int32]
    /// Per rank (longest text first): token id, byte length, and whether it is matched even
    /// when special parsing is off (user-defined tokens).
    private let rankID: [Int32]
    private let rankLength: [Int32]
    private let rankAlwaysMatched: [Bool]

    init(vocabulary: Vocabulary) {
        var specials: [(id: Int32, bytes: [UInt8])] = []
        for (index, type) in vocabulary.types.enumerated() {
            switch type {
            case .control, .userDefined, .unknown:
                let bytes = Array(vocabulary.tokens[index].utf8)
                if !bytes.isEmpty { specials.append((Int32(index), bytes)) }
            default:
                break
            }
        }
        specials.sort { $0.bytes.count != $1.bytes.count ? $0.bytes.count > $1.bytes.count : $0.id < $1.id }

        var rootChildren = [Int32](repeating: -1, count: 256)
        var edges: [Int: Int32] = [:]  // (parent << 8 | byte) → child, below the root
        var terminalRank: [Int32] = [-1]
        for (rank, special) in specials.enumerated() {
            var node: Int32 = 0
            for byte in special.bytes {
                let existing = node == 0 ? rootChildren[Int(byte)] : (edges[Int(node) << 8 | Int(byte)] ?? -1)
                if existing >= 0 {
                    node = existing
                    continue
                }
                let child = Int32(terminalRank.count)
                terminalRank.append(-1)
                if node == 0 { rootChildren[Int(byte)] = child } else { edges[Int(node) << 8 | Int(byte)] = child }
                node = child
            }
            if terminalRank[Int(node)] < 0 { terminalRank[Int(node)] = Int32(rank) }
        }
        self.rootChildren = rootChildren
        self.edges = TrieEdges(edges)
        self.terminalRank = terminalRank
        self.rankID = specials.map(\.id)
        self.rankLength = specials.map { Int32($0.bytes.count) }
        self.rankAlwaysMatched = specials.map { vocabulary.types[Int($0.id)] == .userDefined }
    }

    /// Partitions `text`. With `parseSpecial` off only user-defined tokens are matched.
    func partition(_ text: UnsafeBufferPointer<UInt8>, parseSpecial: Bool) -> [Fragment] {
        let n = text.count
        guard n > 0 else { return [] }

        // Every (rank, start) occurrence, found by walking the trie from each position.
        var occurrences: [UInt64] = []  // rank << 32 | start, in start order
        for start in 0..<n {
            var node = rootChildren[Int(text[start])]
            var end = start + 1
            while node >= 0 {
                let rank = terminalRank[Int(node)]
                if rank >= 0, parseSpecial || rankAlwaysMatched[Int(rank)] {
                    occurrences.append(UInt64(rank) << 32 | UInt64(start))
                }
                guard end < n else { break }
                node = edges.child(of: node, text[end])
                end += 1
            }
        }
        guard !occurrences.isEmpty else { return [.text(0..<n)] }
        if occurrences.count > 1 { occurrences = Self.sortedByRank(occurrences, rankCount: rankID.count) }

        // Grant occurrences token by token. A claimed span comes from a token at least as long as
        // the current one, so an overlap always covers the candidate's first or last byte.
        var claimed = [Bool](repeating: false, count: n)
        var matches: [(start: Int, length: Int, id: Int32)] = []
        var currentRank = -1
        var lastEnd = 0
        for occurrence in occurrences {
            let rank = Int(occurrence >> 32), start = Int(occurrence & 0xFFFF_FFFF)
            if rank != currentRank { currentRank = rank; lastEnd = 0 }
            let length = Int(rankLength[rank])
            guard start >= lastEnd, !claimed[start], !claimed[start + length - 1] else { continue }
            for i in start..<(start + length) { claimed[i] = true }
            matches.append((start, length, rankID[rank]))
            lastEnd = start + length
        }
        matches.sort { $0.start < $1.start }

        var fragments: [Fragment] = []
        fragments.reserveCapacity(matches.count * 2 + 1)
        var cursor = 0
        for match in matches {
            if match.start > cursor { fragments.append(.text(cursor..<match.start)) }
            fragments.append(.token(match.id))
            cursor = match.start + match.length
        }
        if cursor < n { fragments.append(.text(cursor..<n)) }
        return fragments
    }

    /// Stable counting sort of `rank << 32 | start` values by rank.
    private static func sortedByRank(_ occurrences: [UInt64], rankCount: Int) -> [UInt64] {
        var offsets = [Int](repeating: 0, count: rankCount + 1)
        for o in occurrences { offsets[Int(o >> 32) + 1] += 1 }
        for r in 0..<rankCount { offsets[r + 1] += offsets[r] }
        var sorted = [UInt64](repeating: 0, count: occurrences.count)
        for o in occurrences {
            let r = Int(o >> 32)
            sorted[offsets[r]] = o
            offsets[r] += 1
        }
        return sorted
    }
}

/// The trie's non-root edges in an open-addressing table keyed by `parent << 8 | byte`.
private struct TrieEdges: Sendable {
    private let keys: [UInt64]  // key + 1; 0 marks an empty slot
    private let children: [Int32]
    private let mask: Int

    init(_ edges: [Int: Int32]) {
        var capacity = 16
        while capacity < edges.count * 2 { capacity <<= 1 }
        var keys = [UInt64](repeating: 0, count: capacity)
        var children = [Int32](repeating: -1, count: capacity)
        for (key, child) in edges {
            var slot = Self.slot(UInt64(key), capacity - 1)
            while keys[slot] != 0 { slot = (slot + 1) & (capacity - 1) }
            keys[slot] = UInt64(key) + 1
            children[slot] = child
        }
        self.keys = keys
        self.children = children
        self.mask = capacity - 1
    }

    /// The child of `node` along `byte`, or -1.
    @inline(__always)
    func child(of node: Int32, _ byte: UInt8) -> Int32 {
        let key = UInt64(node) << 8 | UInt64(byte)
        var slot = Self.slot(key, mask)
        while true {
            let stored = keys[slot]
            if stored == key + 1 { return children[slot] }
            if stored == 0 { return -1 }
            slot = (slot + 1) & mask
        }
    }

    @inline(__always)
    private static func slot(_ key: UInt64, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
    }
}
