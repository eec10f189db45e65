import RedflagTokenizer

/// Tokenizer decode on arbitrary id sequences (little-endian i32 after an options byte: bit 0 `renderSpecial`).
///
/// Properties: ids outside the vocabulary throw `tokenOutOfRange` naming the id, never trap; in-range sequences
/// decode without error; the streaming decoder's pushes plus flush equal `decode`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size >= 1 else { return 0 }
    let tokenizer = fuzzTokenizer
    let renderSpecial = data[0] & 1 != 0
    var ids = littleEndianValues(UnsafeBufferPointer(start: data + 1, count: size - 1), as: Int32.self)
    // Half the inputs are folded into the vocabulary so that decoding, not only the range check, is exercised.
    if data[0] & 2 != 0 { ids = ids.map { Int32(truncatingIfNeeded: UInt32(bitPattern: $0) % UInt32(tokenizer.count)) } }
    let firstBad = ids.first { $0 < 0 || Int($0) >= tokenizer.count }
    do {
        let text = try tokenizer.decode(ids, renderSpecial: renderSpecial)
        precondition(firstBad == nil, "id \(firstBad!) outside the vocabulary decoded without error")
        var stream = StreamingDecoder(tokenizer: tokenizer, renderSpecial: renderSpecial)
        var streamed = ""
        for id in ids { streamed += try stream.push(id) }
        streamed += stream.flush()
        precondition(streamed == text, "streaming decode differs: \(Array(streamed.utf8)) vs \(Array(text.utf8))")
    } catch let e as TokenizerError {
        guard let bad = firstBad, case let .tokenOutOfRange(id, vocabularySize) = e,
              id == bad, vocabularySize == tokenizer.count else {
            fatalError("unexpected error \(e) for ids \(ids)")
        }
        precondition(e.description.contains("\(bad)"), "message lacks the id: \(e)")
    } catch {
        fatalError("non-tokenizer error \(error)")
    }
    return 0
}

/// Seeds: golden id sequences, control ids, byte tokens forming a split emoji, and out-of-range ids.
func fuzzSeeds() -> [(String, [UInt8])] {
    func le(_ ids: [Int32]) -> [UInt8] { ids.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } } }
    let tok = fuzzTokenizer
    let sequences: [(String, [Int32])] = [
        ("hello", tok.encode("Hello world, <unused0> 🦙 日本語", addBOS: true)),
        ("chat", tok.encode("<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n", addBOS: true, parseSpecial: true)),
        ("controls", [0, 1, 2, 3, 4, 5, 6, 7, 8]),
        ("bytes-emoji", ["<0xF0>", "<0x9F>", "<0xA6>", "<0x99>", "<0xFF>", "<0xC3>"].compactMap { tok.id(of: $0) }),
        ("out-of-range", [Int32(tok.count), -1, Int32.max, Int32.min]),
    ]
    return sequences.flatMap { (name, ids) in [("\(name)", [0] + le(ids)), ("\(name)-render", [1] + le(ids))] }
}

func fuzzWarmUp() { _ = fuzzTokenizer }
