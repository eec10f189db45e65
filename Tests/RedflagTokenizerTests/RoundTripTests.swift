import RedflagKernels
import RedflagTestSupport
import RedflagTokenizer
import XCTest

/// decode(encode(x)) == x, on chosen texts and on seeded random strings.
final class RoundTripTests: XCTestCase {
    func testPlainTextsRoundTrip() throws {
        let tokenizer = try gemmaTokenizer()
        let texts = [
            "", " ", "  ", "\n", "Hello world", " leading", "trailing ", "a  b   c    d",
            "tabs\tand\t\ttabs\n\n\n\nnewlines\r\nwindows", "def f(x):\n    return x * 2\n",
            "Ünïcödé — “quotes” … ½ ∑ ∞", "日本語とEnglishの混在", "emoji 🦙🚀👍🏽👨‍👩‍👧 flags 🇫🇷",
            "<html><body><table><tr><td>cell</td></tr></table></body></html>",
            "literal <0x41> and <0xZZ> and <unused0>", "\u{0}nul and \u{7F} del", "a\u{301} combining",
            String(repeating: "long text with words ", count: 200),
        ]
        for text in texts {
            let ids = tokenizer.encode(text, addBOS: false)
            XCTAssertEqual(Array(try tokenizer.decode(ids).utf8), Array(text.utf8), text)
            let withBOS = tokenizer.encode(text)
            XCTAssertEqual(withBOS.first, tokenizer.bos)
            XCTAssertEqual(Array(withBOS.dropFirst()), ids)
        }
    }

    func testRandomStringsNeverYieldControlTokensAndRoundTrip() throws {
        let tokenizer = try gemmaTokenizer()
        var rng = SplitMix64(seed: 0x5EED_2024)
        for iteration in 0..<200 {
            let text = RandomText.make(&rng)
            let ids = tokenizer.encode(text, addBOS: false, parseSpecial: false)
            let controls = ids.filter { tokenizer.tokenType($0) == .control }
            XCTAssertTrue(controls.isEmpty, "#\(iteration) \(text.debugDescription): control ids \(controls)")
            XCTAssertEqual(Array(try tokenizer.decode(ids).utf8), Array(text.utf8), "#\(iteration) \(text.debugDescription)")

            // Parsed special tokens come back when rendered.
            let special = tokenizer.encode(text, addBOS: false, parseSpecial: true)
            XCTAssertEqual(try tokenizer.decode(special, renderSpecial: true), text, "#\(iteration) \(text.debugDescription)")

            var decoder = StreamingDecoder(tokenizer: tokenizer)
            var streamed = ""
            for id in ids { streamed += try decoder.push(id) }
            streamed += decoder.flush()
            XCTAssertEqual(streamed, text, "#\(iteration) streaming")
        }
    }
}


/// Random text mixing words, whitespace runs, special-token and byte-token literals, scripts,
/// emoji and arbitrary bytes made valid (invalid sequences become U+FFFD).
enum RandomText {
    static let literals = [
        "<unused0>", "<unused6241>", "<start_of_turn>", "<end_of_turn>", "<bos>", "<eos>", "<pad>", "<unk>",
        "<mask>", "[multimodal]", "<start_of_image>", "<end_of_image>", "<table>", "</div>", "<0x41>", "<0xF0>",
        "<0x0A>", "<", ">", "<unused", "start_of_turn",
    ]
    static let words = ["the", "quick", "Hello", "world", "naïve", "日本", "привет", "مرحبا", "🦙", "👍🏽", "x", "42", "3.14", "—"]
    static let scalarRanges: [ClosedRange<UInt32>] = [
        0x20...0x7E, 0xA0...0x24F, 0x370...0x3FF, 0x400...0x4FF, 0x590...0x6FF, 0x900...0x97F,
        0x3040...0x30FF, 0x4E00...0x9FFF, 0xAC00...0xD7A3, 0x1F300...0x1FAFF, 0x0...0x1F, 0x10000...0x10FFFF,
    ]

    static func make(_ rng: inout SplitMix64) -> String {
        var out = ""
        for _ in 0..<Int.random(in: 0...12, using: &rng) {
            switch Int.random(in: 0..<7, using: &rng) {
            case 0: out += literals.randomElement(using: &rng)!
            case 1: out += words.randomElement(using: &rng)!
            case 2: out += String(repeating: [" ", "\n", "\t", "\r\n"].randomElement(using: &rng)!, count: Int.random(in: 1...40, using: &rng))
            case 3:
                let bytes = (0..<Int.random(in: 1...8, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                out += String(decoding: bytes, as: UTF8.self)
            default:
                let range = scalarRanges.randomElement(using: &rng)!
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    // A literal U+2581 would decode as a space, as in llama.cpp; leave it out.
                    if let scalar = Unicode.Scalar(UInt32.random(in: range, using: &rng)), scalar != "\u{2581}" {
                        out.unicodeScalars.append(scalar)
                    }
                }
            }
        }
        return out
    }
}
