import ArgumentParser
import RedflagTokenizer

/// `redflag tokenize`: text → ids and pieces, or ids → text with `--decode`.
struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Tokenize text, or decode token ids (--decode).")

    @Option(name: [.customShort("m"), .customLong("model")], help: "GGUF model file.")
    var model: String?
    @Flag(name: .customLong("no-bos"), help: "Do not add the BOS token.")
    var noBOS = false
    @Flag(name: .customLong("parse-special"), help: "Turn special-token text such as <start_of_turn> into control tokens.")
    var parseSpecial = false
    @Flag(name: .customLong("decode"), help: "Decode the arguments (token ids) to text.")
    var decode = false
    @Flag(name: .customLong("json"), help: "Machine-readable output.")
    var json = false
    @Argument(help: "Text to tokenize, or token ids with --decode.")
    var input: [String] = []

    struct Encoded: Encodable { let ids: [Int32]; let pieces: [String] }
    struct Decoded: Encodable { let text: String }

    func run() throws {
        var opts = try ModelOptions.parse([])
        opts.model = model
        let tok = try opts.loadTokenizer(try opts.openFile())
        if decode {
            var ids: [Int32] = []
            for s in input {
                guard let v = Int32(s) else { throw CLIError("token id '\(s)' is not an integer") }
                ids.append(v)
            }
            let text: String
            do { text = try tok.decode(ids) } catch { throw CLIError("\(error)") }
            if json { try printJSON(Decoded(text: text)) } else { print(text) }
            return
        }
        let text = input.joined(separator: " ")
        let ids = tok.encode(text, addBOS: noBOS ? false : nil, parseSpecial: parseSpecial)
        let pieces = try ids.map { try tok.piece($0) }
        if json {
            try printJSON(Encoded(ids: ids, pieces: pieces))
        } else {
            for (i, p) in zip(ids, pieces) { print("\(i)\t\(p)") }
        }
    }
}
