/// SentencePiece-style segmentation of one text fragment by score-ordered pair merges.
///
/// The text (spaces already escaped to `▁`) starts as one symbol per UTF-8 character. The adjacent
/// pair whose concatenation is a vocabulary piece with the highest score merges first (ties: the
/// leftmost pair), until no adjacent pair forms a piece. Each remaining symbol maps to its id; a
/// character that is no piece falls back to one byte token per UTF-8 byte.
///
/// Merges never cross a boundary that no piece spans, and merges on either side of such a
/// boundary do not interact, so the text is segmented word by word: it is cut before each `▁`
/// whose preceding character `c` is not `▁` and no piece contains `c▁`. This keeps the merge
/// queue small on long texts without changing the result.
struct SPMEncoder: Sendable {
    let pieces: PieceTable
    let scores: [Float]
    /// Per byte value: `<0xNN>`, else the one-byte piece, else unk; nil if none exists.
    let byteTokens: [Int32?]
    /// Characters `c` (UTF-8 bytes packed little-endian) such that some piece contains `c▁`, `c` ≠ `▁`.
    let spaceJoiners: Set<UInt32>

    static let escapedSpace: UInt32 = Self.pack([0xE2, 0x96, 0x81])

    init(pieces: PieceTable, scores: [Float], byteTokens: [Int32?], tokens: [String]) {
        self.pieces = pieces
        self.scores = scores
        self.byteTokens = byteTokens
        var joiners = Set<UInt32>()
        for token in tokens where token.utf8.count >= 4 {
            var previous: UInt32 = 0, current: UInt32 = 0, shift: UInt32 = 0
            for byte in token.utf8 {
                if byte & 0xC0 != 0x80 {
                    if current == Self.escapedSpace, previous != 0, previous != Self.escapedSpace { joiners.insert(previous) }
                    previous = current
                    current = UInt32(byte)
                    shift = 8
                } else if shift < 32 {
                    current |= UInt32(byte) << shift
                    shift += 8
                }
            }
            if current == Self.escapedSpace, previous != 0, previous != Self.escapedSpace { joiners.insert(previous) }
        }
        self.spaceJoiners = joiners
    }

    func encode(_ text: UnsafeBufferPointer<UInt8>, into output: inout [Int32]) {
        guard !text.isEmpty else { return }
        var state = MergeState(text: text, encoder: self)
        var segmentStart = 0
        for i in 1..<state.symbolCount where state.isBoundary(before: i) {
            state.segment(segmentStart..<i, into: &output)
            segmentStart = i
        }
        state.segment(segmentStart..<state.symbolCount, into: &output)
    }

    @inline(__always)
    static func utf8Width(_ lead: UInt8) -> Int {
        switch lead >> 4 {
        case 0xC, 0xD: return 2
        case 0xE: return 3
        case 0xF: return 4
        default: return 1
        }
    }

    @inline(__always)
    static func pack<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var value: UInt32 = 0
        for (i, byte) in bytes.prefix(4).enumerated() { value |= UInt32(byte) << (8 * UInt32(i)) }
        return value
    }
}

/// A candidate merge of symbol `left` with its right neighbour into a piece of `size` bytes.
private struct Bigram {
    var score: Float
    var left: Int32
    var right: Int32
    var size: Int32

    /// Whether `self` merges before `other`: higher score, then leftmost.
    @inline(__always)
    func precedes(_ other: Bigram) -> Bool {
        score > other.score || (score == other.score && left < other.left)
    }
}

/// Symbols of one fragment as a doubly linked list, merged segment by segment.
private struct MergeState {
    let text: UnsafeBufferPointer<UInt8>
    let encoder: SPMEncoder
    var start: [Int32] = []
    var length: [Int32] = []
    var prev: [Int32] = []
    var next: [Int32] = []
    var heap: [Bigram] = []

    init(text: UnsafeBufferPointer<UInt8>, encoder: SPMEncoder) {
        self.text = text
        self.encoder = encoder
        var offset = 0
        while offset < text.count {
            let width = min(SPMEncoder.utf8Width(text[offset]), text.count - offset)
            start.append(Int32(offset))
            length.append(Int32(width))
            offset += width
        }
        prev = [Int32](repeating: -1, count: start.count)
        next = [Int32](repeating: -1, count: start.count)
    }

    var symbolCount: Int { start.count }

    private func packedCharacter(_ i: Int) -> UInt32 {
        let s = Int(start[i])
        return SPMEncoder.pack(UnsafeBufferPointer(rebasing: text[s..<(s + Int(length[i]))]))
    }

    /// Whether no merge can join character `i - 1` with character `i`.
    func isBoundary(before i: Int) -> Bool {
        guard length[i] == 3, packedCharacter(i) == SPMEncoder.escapedSpace else { return false }
        let previous = packedCharacter(i - 1)
        return previous != SPMEncoder.escapedSpace && !encoder.spaceJoiners.contains(previous)
    }

    mutating func segment(_ symbols: Range<Int>, into output: inout [Int32]) {
        for i in symbols {
            prev[i] = i > symbols.lowerBound ? Int32(i - 1) : -1
            next[i] = i + 1 < symbols.upperBound ? Int32(i + 1) : -1
        }
        heap.removeAll(keepingCapacity: true)
        for i in symbols.dropFirst() {
            if let candidate = candidate(Int32(i - 1), Int32(i)) { heap.append(candidate) }
        }
        heapify()

        while let bigram = pop() {
            let l = Int(bigram.left), r = Int(bigram.right)
            // Stale: one side has merged since this pair was queued.
            guard length[l] > 0, length[r] > 0, length[l] + length[r] == bigram.size else { continue }
            length[l] += length[r]
            length[r] = 0
            next[l] = next[r]
            if next[r] >= 0 { prev[Int(next[r])] = bigram.left }
            if let candidate = candidate(prev[l], bigram.left) { push(candidate) }
            if let candidate = candidate(bigram.left, next[l]) { push(candidate) }
        }

        // Every merged symbol is a piece by construction, so only unmerged characters can miss
        // the vocabulary; they fall back to bytes.
        var symbol = Int32(symbols.lowerBound)
        while symbol >= 0 {
            let s = Int(start[Int(symbol)]), e = s + Int(length[Int(symbol)])
            let bytes = UnsafeBufferPointer(rebasing: text[s..<e])
            if let id = encoder.pieces.lookup(bytes) {
                output.append(id)
            } else {
                for byte in bytes { if let id = encoder.byteTokens[Int(byte)] { output.append(id) } }
            }
            symbol = next[Int(symbol)]
        }
    }

    private func candidate(_ left: Int32, _ right: Int32) -> Bigram? {
        guard left >= 0, right >= 0 else { return nil }
        let s = Int(start[Int(left)])
        let size = Int(length[Int(left)] + length[Int(right)])
        guard let id = encoder.pieces.lookup(UnsafeBufferPointer(rebasing: text[s..<(s + size)])) else { return nil }
        return Bigram(score: encoder.scores[Int(id)], left: left, right: right, size: Int32(size))
    }

    private mutating func heapify() {
        var i = heap.count / 2
        while i > 0 {
            i -= 1
            siftDown(i)
        }
    }

    private mutating func push(_ item: Bigram) {
        heap.append(item)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].precedes(heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func pop() -> Bigram? {
        guard let last = heap.popLast() else { return nil }
        guard !heap.isEmpty else { return last }
        let top = heap[0]
        heap[0] = last
        siftDown(0)
        return top
    }

    private mutating func siftDown(_ index: Int) {
        var parent = index
        let count = heap.count
        while true {
            let left = 2 * parent + 1
            guard left < count else { return }
            var best = left
            if left + 1 < count, heap[left + 1].precedes(heap[left]) { best = left + 1 }
            guard heap[best].precedes(heap[parent]) else { return }
            heap.swapAt(best, parent)
            parent = best
        }
    }
}
