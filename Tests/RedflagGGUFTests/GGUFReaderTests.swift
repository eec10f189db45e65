import Foundation
import XCTest
import RedflagGGUF
import RedflagKernels
import RedflagTestSupport

/// The reader returns exactly what the writer wrote.
final class GGUFReaderTests: XCTestCase {
    func testEveryMetadataValueTypeRoundTrips() throws {
        let f = try GGUFFile(bytes: GGUFFixture.image32, name: "fixture")
        XCTAssertEqual(f.path, "fixture")
        XCTAssertEqual(f.version, 3)
        XCTAssertEqual(f.metadataKeys, GGUFFixture.metadata.map(\.0), "keys in file order")
        XCTAssertEqual(f.metadata.count, GGUFFixture.metadata.count)
        for (k, v) in GGUFFixture.metadata {
            assertIdentical(f.metadata[k], v, k)
        }
        // Every value type of the format is present, scalar and as an array element type.
        let seen = Set(GGUFFixture.metadata.map(\.1.type.rawValue))
        XCTAssertEqual(seen, Set(0...12), "fixture covers every value type")
        let elementTypes = Set(GGUFFixture.metadata.compactMap { kv -> UInt32? in
            if case let .array(t, _) = kv.1 { return t.rawValue } else { return nil }
        })
        XCTAssertEqual(elementTypes, Set(0...12), "fixture covers every array element type")
    }

    func testTypedAccessors() throws {
        let f = try GGUFFile(bytes: GGUFFixture.image32)
        XCTAssertEqual(f.string(GGUFKeys.architecture), "tiny")
        XCTAssertEqual(f.int("test.u8"), 200)
        XCTAssertEqual(f.int("test.i8"), -100)
        XCTAssertEqual(f.int("test.u32"), 4_000_000_000)
        XCTAssertEqual(f.int("test.i64"), Int(Int64.min + 1))
        XCTAssertNil(f.int("test.u64"), "UInt64.max - 1 does not fit an Int")
        XCTAssertNil(f.int("test.string"))
        XCTAssertEqual(f.double("test.f64"), 3.141592653589793)
        XCTAssertEqual(f.double("test.f32"), Double(Float(-1.5e-3)))
        XCTAssertEqual(f.double("test.i16"), -30_000)
        XCTAssertEqual(f.bool("test.bool.true"), true)
        XCTAssertEqual(f.bool("test.bool.false"), false)
        XCTAssertNil(f.bool("test.u8"))
        XCTAssertEqual(f.string("test.string"), "héllo, wörld ✓ 🚩")
        XCTAssertEqual(f.string("test.string.empty"), "")
        XCTAssertEqual(f.string("test.string.nul")?.utf8.count, 3)
        XCTAssertEqual(f.stringArray("test.array.string"), ["a", "", "ünïcödé", "▁tok"])
        XCTAssertEqual(f.stringArray(GGUFKeys.tokenizerTokens), ["<pad>", "<bos>", "▁hi"])
        XCTAssertNil(f.stringArray("test.array.u8"))
        XCTAssertEqual(f.intArray("test.array.i32"), [-1, 2, -3])
        XCTAssertEqual(f.intArray("test.array.u8"), [0, 1, 255])
        XCTAssertEqual(f.intArray("test.array.empty"), [])
        XCTAssertNil(f.intArray("test.array.string"))
        XCTAssertEqual(f.floatArray("test.array.f32"), [0.5, -2, .infinity])
        XCTAssertEqual(f.floatArray("test.array.i16"), [-32768, 32767])
        XCTAssertEqual(f.metadata["test.array.nested"]?.arrayValue?.count, 4)

        XCTAssertEqual(try f.requireInt("test.u16"), 60_000)
        XCTAssertEqual(try f.requireDouble("test.f64"), 3.141592653589793)
        XCTAssertEqual(try f.requireTensor("tiny.q8_0").type, .q8_0)
        XCTAssertThrowsError(try f.requireInt("no.such.key")) { e in
            XCTAssertEqual(e as? GGUFError, .missingKey("no.such.key"))
            assertMessage(e as? GGUFError, contains: ["'no.such.key'", "missing"])
        }
        XCTAssertThrowsError(try f.requireInt("test.string")) { e in
            XCTAssertEqual(e as? GGUFError, .wrongValueType(key: "test.string", found: "string", expected: "an integer"))
        }
        XCTAssertThrowsError(try f.requireDouble("test.bool.true")) { e in
            assertMessage(e as? GGUFError, contains: ["'test.bool.true'", "bool", "a number"])
        }
        XCTAssertThrowsError(try f.requireTensor("nope")) { e in
            XCTAssertEqual(e as? GGUFError, .missingTensor("nope"))
        }
        XCTAssertNil(f.tensor("nope"))
    }

    func testTensorTableAndDataRoundTrip() throws {
        for (alignment, image) in [(32, GGUFFixture.image32), (64, GGUFFixture.image64)] {
            let f = try GGUFFile(bytes: image)
            let layout = GGUFLayout(image)
            XCTAssertEqual(f.alignment, alignment)
            XCTAssertEqual(f.fileSize, image.count)
            XCTAssertEqual(f.dataOffset, (layout.headerEnd + alignment - 1) / alignment * alignment)
            XCTAssertEqual(f.dataOffset % alignment, 0)
            XCTAssertEqual(f.tensors.count, GGUFFixture.tensorSpecs.count)
            var expectedOffset = f.dataOffset
            for (i, spec) in GGUFFixture.tensorSpecs.enumerated() {
                let t = f.tensors[i]
                XCTAssertEqual(t.name, spec.name)
                XCTAssertEqual(t.dims, spec.dims)
                XCTAssertEqual(t.type, spec.type)
                XCTAssertEqual(t.byteCount, spec.byteCount, spec.name)
                XCTAssertEqual(t.fileOffset, expectedOffset, "\(spec.name) at alignment \(alignment)")
                XCTAssertEqual(t.fileOffset % alignment, 0)
                XCTAssertEqual(t.elementCount, spec.dims.reduce(1, *))
                XCTAssertEqual(t.columns, spec.dims[0])
                XCTAssertEqual(t.rows, spec.dims.dropFirst().reduce(1, *))
                XCTAssertEqual(Array(f.bytes(of: t)), GGUFFixture.tensorData(i), "\(spec.name) data")
                XCTAssertEqual(f.tensor(spec.name), t)
                expectedOffset += (spec.byteCount + alignment - 1) / alignment * alignment
            }
            XCTAssertEqual(expectedOffset, image.count, "the last tensor ends the file")
            XCTAssertEqual(Array(f.fileBytes), image)
        }
    }

    func testDefaultAlignmentIs32() throws {
        let f = try GGUFFile(bytes: GGUFFixture.image32)
        XCTAssertEqual(GGUFFile.defaultAlignment, 32)
        XCTAssertNil(f.metadata[GGUFKeys.alignment], "writer does not add general.alignment for the default")
        XCTAssertEqual(f.alignment, 32)
        // The header is not a multiple of 32 by itself: the padding is really exercised.
        XCTAssertNotEqual(GGUFLayout(GGUFFixture.image32).headerEnd % 32, 0)
        XCTAssertNotEqual(f.tensors[2].fileOffset % 64, 0, "the Q8_0 tensor sits at an odd multiple of 32")
    }

    func testCustomAlignment64() throws {
        let f = try GGUFFile(bytes: GGUFFixture.image64)
        XCTAssertEqual(f.alignment, 64)
        XCTAssertEqual(f.metadataKeys.last, GGUFKeys.alignment, "writer appends general.alignment")
        XCTAssertEqual(f.metadataKeys.dropLast(), ArraySlice(GGUFFixture.metadata.map(\.0)))
        assertIdentical(f.metadata[GGUFKeys.alignment], .uint32(64), "general.alignment")
        for t in f.tensors { XCTAssertEqual(t.fileOffset % 64, 0, t.name) }
        XCTAssertNotEqual(GGUFLayout(GGUFFixture.image64).headerEnd % 64, 0)

        // An explicit key set by the caller (any integer type) is honoured, in its own position.
        var w = GGUFFixture.writer(alignment: 64)
        w.set(GGUFKeys.alignment, .uint64(64))
        let g = try GGUFFile(bytes: w.bytes(data: GGUFFixture.tensorData))
        XCTAssertEqual(g.alignment, 64)
        assertIdentical(g.metadata[GGUFKeys.alignment], .uint64(64), "general.alignment")
        for (i, t) in g.tensors.enumerated() { XCTAssertEqual(Array(g.bytes(of: t)), GGUFFixture.tensorData(i)) }
    }

    func testAlignmentOneAndLargePowersOfTwo() throws {
        for alignment in [1, 2, 8, 128, 4096] {
            let image = GGUFFixture.image(alignment: alignment)
            let f = try GGUFFile(bytes: image)
            XCTAssertEqual(f.alignment, alignment)
            for (i, t) in f.tensors.enumerated() {
                XCTAssertEqual(t.fileOffset % alignment, 0)
                XCTAssertEqual(Array(f.bytes(of: t)), GGUFFixture.tensorData(i))
            }
        }
    }

    func testVersion2IsAccepted() throws {
        var image = GGUFFixture.image32
        image.patchU32(at: 4, 2)
        let f = try GGUFFile(bytes: image)
        XCTAssertEqual(f.version, 2)
        XCTAssertEqual(f.tensors.count, 4)
    }

    func testMetadataOnlyFileNeedsNoDataSection() throws {
        var w = GGUFWriter()
        w.set(GGUFKeys.architecture, .string("none"))
        let f = try GGUFFile(bytes: w.bytes(data: { _ in [] }))
        XCTAssertEqual(f.tensors, [])
        XCTAssertEqual(f.string(GGUFKeys.architecture), "none")

        // The bare 24-byte header with no entries is a valid empty file.
        let empty = try GGUFFile(bytes: RawGGUF().bytes())
        XCTAssertEqual(empty.fileSize, 24)
        XCTAssertEqual(empty.metadataKeys, [])
        XCTAssertEqual(empty.tensors, [])
    }

    func testHandBuiltImageMatchesWriter() throws {
        // The byte builder and the writer agree on the format (guards the hand-crafted hostile images).
        var raw = RawGGUF()
        raw.add { $0.kvString(GGUFKeys.architecture, "tiny") }
        raw.add { $0.kvU32("n", 7) }
        raw.tensors = [RawTensorEntry("a", dims: [8], type: .f32, offset: 0)]
        raw.dataBytes = 32
        var w = GGUFWriter()
        w.set(GGUFKeys.architecture, .string("tiny"))
        w.set("n", .uint32(7))
        w.addTensor(name: "a", dims: [8], type: .f32)
        let ours = raw.bytes()
        let theirs = w.bytes(data: { _ in Array(ours.suffix(32)) })
        XCTAssertEqual(ours, theirs)
    }

    func testReadFromPath() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("tiny.gguf").path
        try Data(GGUFFixture.image64).write(to: URL(fileURLWithPath: path))
        let mapped = try GGUFFile(path: path)
        let memory = try GGUFFile(bytes: GGUFFixture.image64)
        XCTAssertEqual(mapped.path, path)
        XCTAssertEqual(mapped.fileSize, GGUFFixture.image64.count)
        XCTAssertEqual(mapped.metadataKeys, memory.metadataKeys)
        XCTAssertEqual(mapped.tensors, memory.tensors)
        for t in mapped.tensors { XCTAssertEqual(Array(mapped.bytes(of: t)), Array(memory.bytes(of: t))) }
        XCTAssertEqual(Array(mapped.fileBytes), GGUFFixture.image64)

        // Missing file, a directory, an empty file: clear GGUFErrors.
        let missing = dir.appendingPathComponent("missing.gguf").path
        XCTAssertThrowsError(try GGUFFile(path: missing)) { e in
            guard case let .cannotOpen(p, reason)? = e as? GGUFError else { return XCTFail("\(e)") }
            XCTAssertEqual(p, missing)
            XCTAssertFalse(reason.isEmpty)
            assertMessage(e as? GGUFError, contains: [missing])
        }
        XCTAssertThrowsError(try GGUFFile(path: dir.path)) { e in
            XCTAssertEqual(e as? GGUFError, .cannotOpen(path: dir.path, reason: "not a regular file"))
        }
        let emptyPath = dir.appendingPathComponent("empty.gguf").path
        XCTAssertTrue(FileManager.default.createFile(atPath: emptyPath, contents: Data()))
        XCTAssertThrowsError(try GGUFFile(path: emptyPath)) { e in
            guard case .truncated(_, 0, _, 0)? = e as? GGUFError else { return XCTFail("\(e)") }
        }
        // A truncated file on disk fails the same way as in memory.
        let cutPath = dir.appendingPathComponent("cut.gguf").path
        try Data(GGUFFixture.image64.dropLast(1)).write(to: URL(fileURLWithPath: cutPath))
        XCTAssertThrowsError(try GGUFFile(path: cutPath)) { e in
            guard case .tensorOutOfBounds(tensor: "tiny.q4_K", _, _, _)? = e as? GGUFError else { return XCTFail("\(e)") }
        }
    }
}
