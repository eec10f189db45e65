import Foundation
import RedflagGGUF
@testable import RedflagGeneration
import RedflagKernels
import RedflagModel
import RedflagTokenizer
import RedflagTestSupport
import XCTest

/// Session snapshots: restoring continues exactly as if never stopped; every corruption is refused with a
/// clear error and the previous file survives.
final class SessionFileTests: XCTestCase {
    static func model(seed: UInt64 = 3) throws -> Gemma3Model {
        var spec = TinyModel.Spec()
        spec.seed = seed
        return try Gemma3Model(gguf: try GGUFFile(bytes: TinyModel.bytes(spec)), format: .exact)
    }

    /// Greedy continuation of `n` tokens from the context's current state.
    static func greedy(_ ctx: InferenceContext, _ n: Int) throws -> [Int32] {
        let vocab = ctx.model.config.vocabularySize
        let logits = UnsafeMutablePointer<Float>.allocate(capacity: vocab)
        defer { logits.deallocate() }
        var out: [Int32] = []
        for _ in 0..<n {
            ctx.logits(row: 0, into: logits)
            let next = Sampler.argmax(logits, vocab)
            out.append(next)
            try ctx.evaluate(token: next)
        }
        return out
    }

    let prompt: [Int32] = [TinyModel.bosID] + (0..<20).map { TinyModel.firstNormalID + Int32($0 % 7) }

    func path(_ name: String) -> String { TestPaths.temporaryDirectory().appendingPathComponent(name).path }

    /// The tiny model and a snapshot, saved as `name`, of `prompt` evaluated in a 64-token context.
    func savedSession(_ name: String) throws -> (model: Gemma3Model, file: String) {
        let m = try Self.model()
        let a = try InferenceContext(model: m, contextSize: 64)
        try a.evaluate(prompt)
        let file = path(name)
        try SessionFile.save(a, to: file)
        return (m, file)
    }

    func testRestoreContinuesLikeNeverStopped() throws {
        let m = try Self.model()
        let a = try InferenceContext(model: m, contextSize: 64)
        try a.evaluate(prompt)
        let file = path("s.rfs")
        let info = try SessionFile.save(a, to: file)
        XCTAssertEqual(info.tokens, prompt.count)
        let uninterrupted = try Self.greedy(a, 16)

        let b = try InferenceContext(model: m, contextSize: 64)
        try SessionFile.load(file, into: b)
        XCTAssertEqual(b.tokens, prompt)
        XCTAssertEqual(b.position, prompt.count)
        // The restored context needs the last hidden state: re-run the last token like Generator.prime does.
        b.truncate(to: prompt.count - 1)
        try b.evaluate([prompt.last!])
        XCTAssertEqual(try Self.greedy(b, 16), uninterrupted)
    }

    func testGeneratorReusesRestoredPrefix() throws {
        let (m, file) = try savedSession("p.rfs")
        let b = try InferenceContext(model: m, contextSize: 64)
        try SessionFile.load(file, into: b)
        let tok = try RedflagTokenizer.Tokenizer(gguf: m.gguf)
        let gen = Generator(model: m, tokenizer: tok, context: b)
        XCTAssertEqual(try gen.prime(prompt + [TinyModel.firstNormalID]), 1, "only the new token is evaluated")
        XCTAssertEqual(try gen.prime(prompt), 1, "a fully cached prompt re-runs its last token for the logits")
    }

    func assertRefused(_ file: String, into ctx: InferenceContext, contains fragment: String,
                       file f: StaticString = #filePath, line: UInt = #line) {
        let before = ctx.tokens
        XCTAssertThrowsError(try SessionFile.load(file, into: ctx), file: f, line: line) { error in
            XCTAssert(error is SessionError, "\(error)", file: f, line: line)
            XCTAssert("\(error)".contains(fragment), "message '\(error)' lacks '\(fragment)'", file: f, line: line)
        }
        XCTAssertEqual(ctx.tokens, before, "a refused restore must not touch the context", file: f, line: line)
    }

    func testRefusesOtherModelVersionAndContextSize() throws {
        let m = try Self.model()
        let a = try InferenceContext(model: m, contextSize: 64)
        try a.evaluate(prompt)
        let file = path("r.rfs")
        try SessionFile.save(a, to: file)

        let other = try InferenceContext(model: try Self.model(seed: 99), contextSize: 64)
        assertRefused(file, into: other, contains: "another model")
        let wrongSize = try InferenceContext(model: m, contextSize: 128)
        assertRefused(file, into: wrongSize, contains: "context size 64, expected 128")

        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        bytes[8] = 2   // version 2
        let v2 = path("v2.rfs")
        try Data(bytes).write(to: URL(fileURLWithPath: v2))
        assertRefused(v2, into: a, contains: "format version 2, expected 1")
        let notSession = path("x.rfs")
        try Data("definitely not a session file, but long enough to have a header of 88 bytes........................".utf8)
            .write(to: URL(fileURLWithPath: notSession))
        assertRefused(notSession, into: a, contains: "not a redflag session file")
        assertRefused(path("missing.rfs"), into: a, contains: "no such file")
    }

    func testRefusesEveryTruncationAndFlippedBytes() throws {
        let (m, file) = try savedSession("t.rfs")
        let good = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        let b = try InferenceContext(model: m, contextSize: 64)
        let cut = path("cut.rfs")
        for k in 0..<64 {
            let n = good.count * k / 64
            try Data(good[0..<n]).write(to: URL(fileURLWithPath: cut))
            XCTAssertThrowsError(try SessionFile.load(cut, into: b), "prefix of \(n) bytes") { e in
                XCTAssert(e is SessionError)
                XCTAssert("\(e)".contains("truncated") || "\(e)".contains("corrupted"), "\(e)")
            }
            XCTAssertEqual(b.position, 0)
        }
        var rng = SplitMix64(seed: 7)
        for _ in 0..<64 {
            var bad = good
            let i = Int(rng.next() % UInt64(good.count))
            bad[i] ^= UInt8(1 + rng.next() % 255)
            try Data(bad).write(to: URL(fileURLWithPath: cut))
            XCTAssertThrowsError(try SessionFile.load(cut, into: b), "flipped byte \(i)") { e in XCTAssert(e is SessionError, "\(e)") }
            XCTAssertEqual(b.position, 0)
        }
    }

    /// Fuzz regression (SessionFile target): a 1-byte file made the loader leak its 4 KiB read buffer
    /// (`FileManager.contents(atPath:)`); the loader now reads files itself. Tiny, empty and non-regular paths are
    /// refused with a message that names what was found.
    func testTinyEmptyAndNonRegularFilesAreRefused() throws {
        let m = try Self.model()
        let a = try InferenceContext(model: m, contextSize: 64)
        for (bytes, fragment) in [([UInt8]("S".utf8), "truncated: 1 bytes, expected 88"), ([], "truncated: 0 bytes, expected 88")] {
            let p = path("tiny.rfs")
            try Data(bytes).write(to: URL(fileURLWithPath: p))
            assertRefused(p, into: a, contains: fragment)
        }
        assertRefused(TestPaths.temporaryDirectory().path, into: a, contains: "not a regular file")
        XCTAssertEqual(a.position, 0)
    }

    /// Fuzz regression (SessionFile target): a header (with a valid checksum) claiming a compressed payload near
    /// 2⁶⁴ bytes made the error path compute `88 + Int.max` and trap. It is now refused as truncated.
    func testHugeClaimedPayloadIsRefusedAsTruncated() throws {
        let (m, file) = try savedSession("huge.rfs")
        let good = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        let b = try InferenceContext(model: m, contextSize: 64)
        for claimed in [UInt64.max, UInt64(Int.max), UInt64(Int.max) - 87, UInt64(good.count)] {
            var bad = good
            withUnsafeBytes(of: claimed.littleEndian) { bad.replaceSubrange(48..<56, with: $0) }
            let sum = bad.withUnsafeBytes { FastHash.hash(UnsafeRawBufferPointer(rebasing: $0[0..<80])) }
            withUnsafeBytes(of: sum.littleEndian) { bad.replaceSubrange(80..<88, with: $0) }
            let p = path("huge-\(claimed).rfs")
            try Data(bad).write(to: URL(fileURLWithPath: p))
            let expected = claimed > UInt64(Int.max - 88) ? Int.max : 88 + Int(claimed)
            assertRefused(p, into: b, contains: "is truncated: \(good.count) bytes, expected \(expected)")
        }
    }

    func testFailedSaveKeepsPreviousSnapshot() throws {
        let m = try Self.model()
        let a = try InferenceContext(model: m, contextSize: 64)
        try a.evaluate(prompt)
        let dir = TestPaths.temporaryDirectory()
        let file = dir.appendingPathComponent("keep.rfs").path
        try SessionFile.save(a, to: file)
        let before = try Data(contentsOf: URL(fileURLWithPath: file))
        // Saving into a directory that vanished fails; the old file is untouched and no temp file is left.
        XCTAssertThrowsError(try SessionFile.save(a, to: dir.appendingPathComponent("nodir/x.rfs").path)) { e in
            XCTAssert("\(e)".contains("cannot write session file"), "\(e)")
        }
        try a.evaluate([TinyModel.firstNormalID])
        try SessionFile.save(a, to: file)
        XCTAssertNotEqual(try Data(contentsOf: URL(fileURLWithPath: file)), before)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [])
    }
}
