import RedflagTokenizer
#if canImport(Glibc)
import Glibc
#endif

/// Tokenizer encode on arbitrary bytes (invalid UTF-8 is repaired to U+FFFD by `String(decoding:)`, the only way
/// bytes become a Swift `String`). Byte 0 chooses the options: bit 0 `parseSpecial`, bit 1 `addBOS`.
///
/// Properties checked on every input:
/// - every id is inside the vocabulary;
/// - without special parsing no id is a control token except the BOS/EOS the options add;
/// - without special parsing, decoding gives the text back exactly (U+2581, SentencePiece's space, comes back as a space).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size >= 1 else { return 0 }
    let tokenizer = fuzzTokenizer
    let parseSpecial = data[0] & 1 != 0
    let addBOS = data[0] & 2 != 0
    let text = String(decoding: UnsafeBufferPointer(start: data + 1, count: size - 1), as: UTF8.self)
    let ids = tokenizer.encode(text, addBOS: addBOS, parseSpecial: parseSpecial)
    for id in ids { precondition(id >= 0 && Int(id) < tokenizer.count, "id \(id) outside the vocabulary") }
    var body = ids[...]
    if addBOS {
        precondition(body.first == tokenizer.bos, "BOS missing")
        body = body.dropFirst()
        if tokenizer.vocabulary.addEOS { precondition(body.last == tokenizer.eos); body = body.dropLast() }
    }
    if !parseSpecial {
        for id in body {
            let type = tokenizer.tokenType(id)
            precondition(type != .control, "user text produced control token \(id) (\(try! tokenizer.piece(id)))")
        }
        // SentencePiece writes spaces as U+2581, so a literal U+2581 in the text decodes as a space (as in llama.cpp).
        let decoded = try! tokenizer.decode(Array(body))
        var expected = String.UnicodeScalarView()
        expected.append(contentsOf: text.unicodeScalars.map { $0 == "\u{2581}" ? " " : $0 })
        precondition(decoded.utf8.elementsEqual(String(expected).utf8), "round trip differs: \(Array(text.utf8)) → \(Array(body)) → \(Array(decoded.utf8))")
    } else {
        _ = try! tokenizer.decode(ids, renderSpecial: true)
    }
    return 0
}

/// Seeds: every golden tokenizer text, every special-token literal, byte-fallback literals, invalid UTF-8.
func fuzzSeeds() -> [(String, [UInt8])] {
    let texts = [
        "Hello world", " Hello", "   leading spaces", "trailing space ", "multiple    spaces   between  words",
        "line one\nline two\n\nline four\n", "1234567890 3.14159 2024-01-15 1,000,000",
        "Hello, world! How's it going? (Fine; thanks...) -- \"quoted\" [brackets] {braces}",
        "I love 🦙 and 🚀! 👍🏽 👨‍👩‍👧", "Café naïve résumé façade Ångström Zürich São Paulo",
        "日本語のテキストです。東京は日本の首都です。", "def add(a, b):\n    return a + b\n\nprint(add(2, 3))  # 5\n",
        "before <unused0> after", "<start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n",
        "<bos><eos><pad><unk><mask>[multimodal]<unused0><unused99><start_of_image><end_of_image>",
        "<table><tr><td>x</td></tr></table>", "<0x41><0xFF><0x00>\u{2581}\u{2581}", "\t\t\t\n\n\n\n" + String(repeating: " ", count: 40),
        "English, Deutsch: Größe, русский: привет, العربية: مرحبا, हिन्दी: नमस्ते",
    ]
    var seeds: [(String, [UInt8])] = []
    for (i, t) in texts.enumerated() {
        seeds.append(("text-\(i)", [0] + t.bytes))
        seeds.append(("text-\(i)-special", [3] + t.bytes))
    }
    seeds.append(("invalid-utf8", [0, 0xFF, 0xC0, 0x80, 0xED, 0xA0, 0x80, 0xF4, 0x90, 0x80, 0x80, 0x61, 0xE2, 0x96]))
    return seeds
}

func fuzzWarmUp() { _ = fuzzTokenizer }
