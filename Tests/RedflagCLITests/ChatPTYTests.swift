import Foundation
import RedflagTestSupport
import XCTest

/// `redflag chat` driven through a pseudo-terminal (util-linux `script`): two turns, a save, a load, and a
/// flagged turn.
final class ChatPTYTests: XCTestCase {
    func testTwoTurnsSaveLoadAndAFlaggedTurn() throws {
        guard TestPaths.modelExists else { throw XCTSkip(TestPaths.modelMissingMessage) }
        guard FileManager.default.fileExists(atPath: "/usr/bin/script") else { throw XCTSkip("util-linux `script` is not installed") }
        signal(SIGPIPE, SIG_IGN)   // if script(1) ends early, the assertions below say why instead of a crash
        let session = TestPaths.temporaryDirectory().appendingPathComponent("chat.rfs").path
        let input = [
            "Hello there", "/save \(session)", "What is two plus two?", "/load \(session)", "/stats",
            "/guard halt 1e-30", "Tell me something", "/quit",
        ].joined(separator: "\n") + "\n"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        p.arguments = ["-q", "-e", "-c", "\(CLITests.binary.path) chat -n 6 -t 2 --ctx 512 --guard monitor", "/dev/null"]
        p.currentDirectoryURL = TestPaths.repoRoot
        let inPipe = Pipe(), outPipe = Pipe()
        p.standardInput = inPipe
        p.standardOutput = outPipe
        p.standardError = outPipe
        try p.run()
        // Feed the lines one by one, as a person would, so each reaches the prompt it answers.
        for line in input.split(separator: "\n", omittingEmptySubsequences: false) where p.isRunning {
            do { try inPipe.fileHandleForWriting.write(contentsOf: Data((line + "\n").utf8)) } catch { break }
            Thread.sleep(forTimeInterval: 1.0)
        }
        let deadline = Date().addingTimeInterval(120)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.2) }
        if p.isRunning { p.terminate() }
        try? inPipe.fileHandleForWriting.close()
        let out = String(decoding: outPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(p.terminationStatus, 0, out)
        XCTAssert(out.contains("[saved "), "no save confirmation: \(out)")
        XCTAssert(out.contains("[loaded "), "no load confirmation: \(out)")
        XCTAssert(out.contains("[context "), "no stats: \(out)")
        XCTAssert(out.contains("[guard halt"), "guard not switched: \(out)")
        XCTAssert(out.contains("flagged: answer withheld"), "the last turn was not flagged: \(out)")
        XCTAssertFalse(out.contains("<unused0>"), out)
        XCTAssert(FileManager.default.fileExists(atPath: session))
    }
}
