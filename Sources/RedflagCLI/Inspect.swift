import ArgumentParser
import RedflagGGUF

/// `redflag inspect`: metadata and tensor table of any GGUF file.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the metadata and tensor table of a GGUF file.")

    @Argument(help: "GGUF file (default: the default model).")
    var file: String?
    @Flag(name: .customLong("json"), help: "Machine-readable output.")
    var json = false

    struct Tensor: Encodable { let name: String; let type: String; let dims: [Int]; let offset: Int; let bytes: Int }
    struct Report: Encodable { let version: UInt32; let metadata: [String: String]; let tensors: [Tensor] }

    func run() throws {
        var opts = try ModelOptions.parse([])
        opts.model = file
        let g = try opts.openFile()
        if json {
            var md: [String: String] = [:]
            for k in g.metadataKeys { md[k] = g.metadata[k]!.summary }
            try printJSON(Report(version: g.version, metadata: md,
                                 tensors: g.tensors.map { Tensor(name: $0.name, type: "\($0.type)", dims: $0.dims, offset: $0.fileOffset, bytes: $0.byteCount) }))
            return
        }
        print("\(g.path): GGUF v\(g.version), \(g.fileSize) bytes, \(g.metadata.count) metadata keys, \(g.tensors.count) tensors, alignment \(g.alignment)")
        for k in g.metadataKeys { print("  \(k) = \(g.metadata[k]!.summary)") }
        var byType: [String: (Int, Int)] = [:]
        for t in g.tensors {
            print(String(format: "  %-36@ %-5@ %@  %d bytes @ %d", t.name, "\(t.type)", "\(t.dims)", t.byteCount, t.fileOffset))
            let e = byType["\(t.type)"] ?? (0, 0)
            byType["\(t.type)"] = (e.0 + 1, e.1 + t.byteCount)
        }
        for (k, v) in byType.sorted(by: { $0.key < $1.key }) { print("  \(k): \(v.0) tensors, \(v.1) bytes") }
    }
}
