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

private struct Boom: Error, Equatable {}

/// `GGUFWriter`: file output equals the in-memory image, chunked output, validation, and atomic replacement.
final class GGUFWriterTests: XCTestCase {
    private var dir: URL!

    override func setUp() {
        super.setUp()
        dir = TestPaths.temporaryDirectory()
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: dir)
        super.tearDown()
    }

    private func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
    private func contents(_ path: String) -> [UInt8]? { FileManager.default.contents(atPath: path).map { Array($0) } }
    private func inode(_ path: String) -> UInt64? {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_ino) : nil
    }
    private func directoryListing() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
    }

    func testWriteToFileEqualsInMemoryImage() throws {
        for alignment in [32, 64] {
            let w = GGUFFixture.writer(alignment: alignment)
            let p = path("tiny-\(alignment).gguf")
            try w.write(to: p) { i, sink in
                try GGUFFixture.tensorData(i).withUnsafeBytes { try sink($0) }
            }
            XCTAssertEqual(contents(p), GGUFFixture.image(alignment: alignment))
            let f = try GGUFFile(path: p)
            XCTAssertEqual(f.alignment, alignment)
            for (i, t) in f.tensors.enumerated() { XCTAssertEqual(Array(f.bytes(of: t)), GGUFFixture.tensorData(i)) }
        }
        XCTAssertEqual(directoryListing(), ["tiny-32.gguf", "tiny-64.gguf"], "no temporary files left behind")
    }

    func testDataMayArriveInManyChunks() throws {
        let w = GGUFFixture.writer()
        let p = path("chunked.gguf")
        try w.write(to: p) { i, sink in
            let data = GGUFFixture.tensorData(i)
            var at = 0, step = 1
            while at < data.count {
                let n = min(step, data.count - at)
                try data[at..<at + n].withUnsafeBytes { try sink($0) }
                at += n
                step = step * 2 + 1
            }
            try sink(UnsafeRawBufferPointer(start: nil, count: 0)) // empty chunks are fine
        }
        XCTAssertEqual(contents(p), GGUFFixture.image32)
    }

    func testHeaderLayoutIsStandard() throws {
        let image = GGUFFixture.image32
        XCTAssertEqual(Array(image[0..<4]), Array("GGUF".utf8))
        XCTAssertEqual(Array(image[4..<8]), [3, 0, 0, 0], "version 3, little-endian")
        XCTAssertEqual(Array(image[8..<16]), [4, 0, 0, 0, 0, 0, 0, 0], "tensor count")
        XCTAssertEqual(Int(image[16]), GGUFFixture.metadata.count, "metadata count")
        // Padding between the header and the data is zeros.
        let layout = GGUFLayout(image)
        let f = try GGUFFile(bytes: image)
        XCTAssertTrue(image[layout.headerEnd..<f.dataOffset].allSatisfy { $0 == 0 })
        // Tensor offsets in the table are relative to the data section.
        let secondOffset = image[layout.tensorOffsetOffsets[1]..<layout.tensorOffsetOffsets[1] + 8]
        XCTAssertEqual(Array(secondOffset), [96, 0, 0, 0, 0, 0, 0, 0], "tiny.f16 follows the 96 bytes of tiny.f32")
    }

    func testSetReplacesInPlaceAndRemove() throws {
        var w = GGUFWriter()
        w.set("a", .uint32(1))
        w.set("b", .string("x"))
        w.set("c", .bool(true))
        w.set("a", .int64(-5))
        w.remove("b")
        XCTAssertEqual(w.metadata.map(\.0), ["a", "c"])
        let f = try GGUFFile(bytes: w.bytes(data: { _ in [] }))
        XCTAssertEqual(f.metadataKeys, ["a", "c"])
        assertIdentical(f.metadata["a"], .int64(-5), "a")
        XCTAssertEqual(w.tensors.count, 0)
        w.addTensor(name: "q", dims: [256, 3], type: .q4_K)
        XCTAssertEqual(w.tensors[0].byteCount, 3 * 144)
    }

    func testAlignmentKeyInMetadataAgreesWithLayout() throws {
        // Copying a model's metadata copies its general.alignment; the layout must follow what the header says,
        // whatever the `alignment` property was left at. (Before the fix the writer padded to `alignment` while
        // the header declared another value: the reader then rejected the file or read the wrong bytes.)
        for (key, property) in [(64, 32), (32, 64), (128, 64), (64, 64)] {
            var w = GGUFFixture.writer(alignment: property)
            w.set(GGUFKeys.alignment, .uint32(UInt32(key)))
            let image = w.bytes(data: GGUFFixture.tensorData)
            let f = try GGUFFile(bytes: image)
            XCTAssertEqual(f.alignment, key)
            assertIdentical(f.metadata[GGUFKeys.alignment], .uint32(UInt32(key)), "general.alignment")
            XCTAssertEqual(f.metadataKeys.filter { $0 == GGUFKeys.alignment }.count, 1)
            for (i, t) in f.tensors.enumerated() {
                XCTAssertEqual(t.fileOffset % key, 0)
                XCTAssertEqual(Array(f.bytes(of: t)), GGUFFixture.tensorData(i), "key \(key), property \(property)")
            }
            let p = path("align-\(key)-\(property).gguf")
            try w.write(to: p) { i, sink in try GGUFFixture.tensorData(i).withUnsafeBytes { try sink($0) } }
            XCTAssertEqual(contents(p), image, "file and in-memory image agree")
        }
    }

    // MARK: Atomicity

    func testThrowingDataClauseLeavesNoFile() {
        let p = path("out.gguf")
        var calls: [Int] = []
        XCTAssertThrowsError(try GGUFFixture.writer().write(to: p) { i, sink in
            calls.append(i)
            let data = GGUFFixture.tensorData(i)
            if i == 2 {
                // Midway through the third tensor: half its bytes are out, then failure.
                try data[0..<data.count / 2].withUnsafeBytes { try sink($0) }
                throw Boom()
            }
            try data.withUnsafeBytes { try sink($0) }
        }) { e in
            XCTAssertEqual(e as? Boom, Boom(), "the closure's own error propagates unchanged")
        }
        XCTAssertEqual(calls, [0, 1, 2])
        XCTAssertFalse(FileManager.default.fileExists(atPath: p))
        XCTAssertEqual(directoryListing(), [], "the temporary file is removed too")
    }

    func testThrowingDataClauseLeavesExistingFileIntact() throws {
        let p = path("model.gguf")
        let original = GGUFFixture.image64
        try Data(original).write(to: URL(fileURLWithPath: p))
        let before = inode(p)
        XCTAssertNotNil(before)

        for failAt in 0..<GGUFFixture.tensorSpecs.count {
            XCTAssertThrowsError(try GGUFFixture.writer().write(to: p) { i, sink in
                if i == failAt { throw Boom() }
                try GGUFFixture.tensorData(i).withUnsafeBytes { try sink($0) }
            })
            XCTAssertEqual(contents(p), original, "fail at tensor \(failAt)")
        }
        XCTAssertEqual(inode(p), before, "the very same file (inode) is still in place")
        XCTAssertEqual(directoryListing(), ["model.gguf"])
        XCTAssertEqual(try GGUFFile(path: p).alignment, 64)

        // A successful write then replaces it atomically.
        try GGUFFixture.writer().write(to: p) { i, sink in try GGUFFixture.tensorData(i).withUnsafeBytes { try sink($0) } }
        XCTAssertEqual(contents(p), GGUFFixture.image32)
        XCTAssertEqual(directoryListing(), ["model.gguf"])
    }

    func testWrongByteCountIsRejected() throws {
        let p = path("model.gguf")
        try Data(GGUFFixture.image32).write(to: URL(fileURLWithPath: p))
        for delta in [-1, 1] {
            XCTAssertThrowsError(try GGUFFixture.writer().write(to: p) { i, sink in
                var data = GGUFFixture.tensorData(i)
                if i == 1 { if delta < 0 { data.removeLast() } else { data.append(0) } }
                try data.withUnsafeBytes { try sink($0) }
            }) { e in
                guard case let .writeFailed(path, reason)? = e as? GGUFError else { return XCTFail("\(e)") }
                XCTAssertEqual(path, p)
                XCTAssertEqual(reason, "tensor 'tiny.f16' produced \(10 + delta) bytes, expected 10")
                assertMessage(e as? GGUFError, contains: [p, "'tiny.f16'", "\(10 + delta) bytes", "expected 10"])
            }
            XCTAssertEqual(contents(p), GGUFFixture.image32)
        }
        XCTAssertEqual(directoryListing(), ["model.gguf"])
    }

    func testUnwritableDestination() {
        let p = path("no-such-dir/out.gguf")
        XCTAssertThrowsError(try GGUFFixture.writer().write(to: p) { _, _ in XCTFail("no data requested") }) { e in
            guard case let .writeFailed(path, reason)? = e as? GGUFError else { return XCTFail("\(e)") }
            XCTAssertTrue(path.hasPrefix(p), path)
            XCTAssertFalse(reason.isEmpty)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: p))
    }
}
