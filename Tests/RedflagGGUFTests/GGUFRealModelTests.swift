#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import XCTest
import RedflagGGUF
import RedflagKernels
import RedflagTestSupport

/// The reader and writer on the real Gemma 3 270M Q4_K_M file.
final class GGUFRealModelTests: XCTestCase {
    /// Parsed once for the whole class (the tokenizer arrays make parsing take a moment in debug builds).
    private static let shared = Result { try GGUFFile(path: TestPaths.modelPath) }

    private func model(file: StaticString = #filePath, line: UInt = #line) throws -> GGUFFile? {
        guard TestPaths.modelExists else {
            XCTFail(TestPaths.modelMissingMessage, file: file, line: line)
            return nil
        }
        return try Self.shared.get()
    }

    func testHeaderAndKeyMetadata() throws {
        guard let f = try model() else { return }
        XCTAssertEqual(f.version, 3)
        XCTAssertEqual(f.tensors.count, 236)
        XCTAssertEqual(f.alignment, 32)
        XCTAssertEqual(f.string(GGUFKeys.architecture), "gemma3")
        XCTAssertEqual(f.metadataKeys.first, GGUFKeys.architecture)
        XCTAssertEqual(f.int("gemma3.\(GGUFKeys.Architecture.embeddingLength)"), 640)
        XCTAssertEqual(f.int("gemma3.\(GGUFKeys.Architecture.blockCount)"), 18)
        XCTAssertEqual(try f.requireInt("gemma3.embedding_length"), 640)
        XCTAssertEqual(try f.requireInt("gemma3.block_count"), 18)

        let tokens = try XCTUnwrap(f.stringArray(GGUFKeys.tokenizerTokens))
        XCTAssertEqual(tokens.count, 262_144)
        guard case .array(.string, let raw)? = f.metadata[GGUFKeys.tokenizerTokens] else { return XCTFail("tokens type") }
        XCTAssertTrue(raw.allSatisfy { $0.type == .string })
        XCTAssertEqual(f.floatArray(GGUFKeys.tokenizerScores)?.count, 262_144)
        XCTAssertEqual(f.intArray(GGUFKeys.tokenizerTokenType)?.count, 262_144)

        let embd = try f.requireTensor("token_embd.weight")
        XCTAssertEqual(embd.type, .q8_0)
        XCTAssertEqual(embd.dims, [640, 262_144])
        XCTAssertEqual(embd.byteCount, 640 / 32 * 34 * 262_144)
        XCTAssertEqual(embd.columns, 640)
        XCTAssertEqual(embd.rows, 262_144)
    }

    func testAllTensorRangesInsideFileAndDisjoint() throws {
        guard let f = try model() else { return }
        XCTAssertEqual(f.dataOffset % f.alignment, 0)
        XCTAssertEqual(Set(f.tensors.map(\.name)).count, f.tensors.count, "tensor names are unique")
        var total = 0
        for t in f.tensors {
            XCTAssertGreaterThanOrEqual(t.fileOffset, f.dataOffset, t.name)
            XCTAssertEqual((t.fileOffset - f.dataOffset) % f.alignment, 0, t.name)
            XCTAssertLessThanOrEqual(t.fileOffset + t.byteCount, f.fileSize, t.name)
            XCTAssertEqual(t.byteCount, t.type.rowBytes(t.columns).map { $0 * t.rows }, t.name)
            XCTAssertTrue(t.type.isSupported, "\(t.name) is \(t.type)")
            XCTAssertEqual(f.tensor(t.name), t)
            total += t.byteCount
        }
        let sorted = f.tensors.sorted { $0.fileOffset < $1.fileOffset }
        for (a, b) in zip(sorted, sorted.dropFirst()) {
            XCTAssertLessThanOrEqual(a.fileOffset + a.byteCount, b.fileOffset, "\(a.name) overlaps \(b.name)")
        }
        XCTAssertLessThanOrEqual(total, f.fileSize - f.dataOffset)
        XCTAssertEqual(Set(f.tensors.map(\.type)), [.f32, .q5_0, .q8_0, .q4_K, .q6_K])
    }

    func testWriterRoundTripsRealModel() throws {
        guard let f = try model() else { return }
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let copyPath = dir.appendingPathComponent("copy.gguf").path

        var w = GGUFWriter()
        w.alignment = f.alignment
        for key in f.metadataKeys { w.set(key, f.metadata[key]!) }
        for t in f.tensors { w.addTensor(name: t.name, dims: t.dims, type: t.type) }
        try w.write(to: copyPath) { i, sink in try sink(f.bytes(of: f.tensors[i])) }

        do {
            let copy = try GGUFFile(path: copyPath)
            XCTAssertEqual(copy.version, 3)
            XCTAssertEqual(copy.alignment, f.alignment)
            XCTAssertEqual(copy.metadataKeys, f.metadataKeys, "same keys in the same order")
            for key in f.metadataKeys { assertIdentical(copy.metadata[key], f.metadata[key], key) }
            XCTAssertEqual(copy.tensors.count, f.tensors.count)
            for (a, b) in zip(f.tensors, copy.tensors) {
                XCTAssertEqual(a.name, b.name)
                XCTAssertEqual(a.dims, b.dims, a.name)
                XCTAssertEqual(a.type, b.type, a.name)
                XCTAssertEqual(a.byteCount, b.byteCount, a.name)
                let x = f.bytes(of: a), y = copy.bytes(of: b)
                XCTAssertEqual(x.count, y.count, a.name)
                XCTAssertEqual(memcmp(x.baseAddress!, y.baseAddress!, min(x.count, y.count)), 0, "\(a.name) data differs")
            }
            // The original was written with the standard layout, so the copy is byte-for-byte the same file:
            // header, padding, tensor offsets and all.
            XCTAssertEqual(copy.dataOffset, f.dataOffset)
            XCTAssertEqual(copy.tensors, f.tensors)
            XCTAssertEqual(copy.fileSize, f.fileSize)
            if copy.fileSize == f.fileSize {
                XCTAssertEqual(memcmp(copy.fileBytes.baseAddress!, f.fileBytes.baseAddress!, f.dataOffset), 0, "header bytes")
                XCTAssertEqual(memcmp(copy.fileBytes.baseAddress!, f.fileBytes.baseAddress!, f.fileSize), 0, "whole file")
            }
        }
        try FileManager.default.removeItem(atPath: copyPath)
        XCTAssertFalse(FileManager.default.fileExists(atPath: copyPath))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [], "no temporary files left")
    }
}
