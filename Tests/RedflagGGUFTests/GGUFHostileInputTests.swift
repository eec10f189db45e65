import XCTest
import RedflagGGUF
import RedflagKernels

/// Files that lie about themselves are rejected with the right error, and the message says what was found
/// and what was expected.
final class GGUFHostileInputTests: XCTestCase {
    /// A valid base: one string key, one tensor of `dims` (F32 by default) at offset 0, exactly enough data.
    private func base(dims: [UInt64] = [8], type: TensorType = .f32) -> RawGGUF {
        var raw = RawGGUF()
        raw.add { $0.kvString(GGUFKeys.architecture, "tiny") }
        raw.tensors = [RawTensorEntry("t", dims: dims, type: type, offset: 0)]
        raw.dataBytes = (type.rowBytes(Int(dims[0])) ?? 0) * Int(dims.dropFirst().reduce(1, *))
        return raw
    }

    func testBaseImagesParse() throws {
        // Guards every test below: the unmodified images are valid.
        let f = try GGUFFile(bytes: base().bytes())
        XCTAssertEqual(f.tensors.first?.byteCount, 32)
        XCTAssertEqual(try GGUFFile(bytes: base(dims: [64, 2], type: .q8_0).bytes()).tensors.first?.byteCount, 136)
    }

    // MARK: Header

    func testBadMagic() {
        var raw = base()
        raw.magic = 0x4C4D_4747 // "GGML"
        let e = parseError(raw.bytes())
        XCTAssertEqual(e, .badMagic(found: 0x4C4D_4747))
        assertMessage(e, contains: ["0x4c4d4747", "expected 0x46554747", "GGUF"])

        // Big-endian GGUF ("FUGG" read little-endian) and all-zero bytes.
        var be = base().bytes()
        be.replaceSubrange(0..<4, with: [0x46, 0x55, 0x47, 0x47])
        XCTAssertEqual(parseError(be), .badMagic(found: 0x4747_5546))
        XCTAssertEqual(parseError([UInt8](repeating: 0, count: 64)), .badMagic(found: 0))
        // Fewer than four bytes cannot even hold the magic.
        guard case .truncated(what: "magic", offset: 0, needed: 4, fileSize: 3)? = parseError([0x47, 0x47, 0x55]) else {
            return XCTFail("three bytes")
        }
    }

    func testUnsupportedVersions() {
        for version: UInt32 in [0, 1, 4, 0xFFFF_FFFF, 0x0300_0000] {
            var raw = base()
            raw.version = version
            let e = parseError(raw.bytes())
            XCTAssertEqual(e, .unsupportedVersion(found: version))
            assertMessage(e, contains: ["version \(version)", "expected 2 or 3"])
        }
    }

    func testTensorCountTooLarge() {
        var raw = base()
        raw.tensorCount = 1 << 40
        let e = parseError(raw.bytes())
        XCTAssertEqual(e, .countTooLarge(what: "tensor count", found: 1 << 40, limit: GGUFFile.maxTensorCount))
        assertMessage(e, contains: ["tensor count", "1099511627776", "limit \(GGUFFile.maxTensorCount)"])

        raw.tensorCount = UInt64.max
        XCTAssertEqual(parseError(raw.bytes()), .countTooLarge(what: "tensor count", found: .max, limit: GGUFFile.maxTensorCount))
    }

    func testMetadataCountTooLarge() {
        var raw = base()
        raw.metadataCount = 1 << 40
        let e = parseError(raw.bytes())
        XCTAssertEqual(e, .countTooLarge(what: "metadata count", found: 1 << 40, limit: GGUFFile.maxMetadataCount))
        assertMessage(e, contains: ["metadata count", "1099511627776", "limit \(GGUFFile.maxMetadataCount)"])
    }

    func testCountsWithinLimitsButLargerThanTheFileAreTruncated() {
        // At the limit, the counts pass the sanity check but the file runs out: still a clean .truncated.
        var raw = RawGGUF()
        raw.add { $0.kvString(GGUFKeys.architecture, "tiny") }
        raw.tensorCount = GGUFFile.maxTensorCount
        let start = threadCPUSeconds()
        XCTAssertEqual(parseError(raw.bytes()), .truncated(what: "length of name of tensor #0", offset: 68, needed: 8, fileSize: 68))
        raw = RawGGUF()
        raw.add { $0.kvString(GGUFKeys.architecture, "tiny") }
        raw.metadataCount = GGUFFile.maxMetadataCount
        XCTAssertEqual(parseError(raw.bytes()), .truncated(what: "length of metadata key #1", offset: 68, needed: 8, fileSize: 68))
        XCTAssertLessThan(threadCPUSeconds() - start, 0.5, "a large claimed count costs nothing up front")
    }

    // MARK: Strings and arrays

    func testStringLengthLargerThanFile() {
        // A key whose length claims 1000 bytes in a tiny file.
        var b = GGUFBytes()
        b.u32(GGUFFile.magic); b.u32(3); b.u64(0); b.u64(1)
        b.u64(1000); b.append(Array("key".utf8))
        let e = parseError(b.bytes)
        XCTAssertEqual(e, .truncated(what: "metadata key #0", offset: 32, needed: 1000, fileSize: 35))
        assertMessage(e, contains: ["metadata key #0", "needs 1000 bytes", "offset 32", "has 35 bytes"])

        // A string value whose length is 2^63 and one of UInt64.max (no overflow in the check).
        for lie: UInt64 in [1 << 63, .max] {
            var raw = base()
            raw.add { $0.kv("s", type: GGUFValueType.string.rawValue) { $0.u64(lie); $0.append(Array("abc".utf8)) } }
            let e = parseError(raw.bytes())
            guard case let .truncated(what, _, needed, _)? = e else { XCTFail("\(String(describing: e))"); continue }
            XCTAssertEqual(what, "value of 's'")
            XCTAssertEqual(needed, Int(clamping: lie))
        }

        // A tensor name that is too long.
        var raw = base()
        raw.tensors[0].name = Array("t".utf8)
        var bytes = raw.bytes()
        let nameLengthAt = GGUFLayout(bytes).tensorEntryOffsets[0]
        bytes.patchU64(at: nameLengthAt, 1 << 32)
        guard case .truncated(what: "name of tensor #0", _, _, _)? = parseError(bytes) else { return XCTFail("tensor name") }
    }

    func testArrayCountLargerThanFile() {
        for count: UInt64 in [1 << 30, 1 << 62, .max] {
            var raw = base()
            raw.add { $0.kv("arr", type: GGUFValueType.array.rawValue) { $0.u32(GGUFValueType.uint8.rawValue); $0.u64(count); $0.u8(1) } }
            let bytes = raw.bytes()
            let e = parseError(bytes)
            guard case let .truncated(what, _, needed, fileSize)? = e else { XCTFail("\(String(describing: e))"); continue }
            XCTAssertEqual(what, "array 'arr' of \(count) elements")
            XCTAssertEqual(needed, Int(clamping: count))
            XCTAssertEqual(fileSize, bytes.count)
            assertMessage(e, contains: ["'arr'", "\(count) elements", "has \(bytes.count) bytes"])
        }
        // A count that fits the byte budget of 1-byte elements but not of 8-byte strings still fails cleanly.
        var raw = base()
        raw.add { $0.kv("strs", type: GGUFValueType.array.rawValue) { $0.u32(GGUFValueType.string.rawValue); $0.u64(20); $0.string("a") } }
        guard case .truncated? = parseError(raw.bytes()) else { return XCTFail("string array") }
    }

    func testArrayNestingTooDeep() {
        func nested(_ depth: Int) -> [UInt8] {
            var raw = RawGGUF()
            raw.add { b in
                b.kv("deep", type: GGUFValueType.array.rawValue) { b in
                    for _ in 0..<depth { b.u32(GGUFValueType.array.rawValue); b.u64(1) }
                    b.u32(GGUFValueType.uint8.rawValue); b.u64(1); b.u8(42)
                }
            }
            return raw.bytes()
        }
        XCTAssertNoThrow(try GGUFFile(bytes: nested(7)))
        let e = parseError(nested(8))
        XCTAssertEqual(e, .countTooLarge(what: "array nesting of 'deep'", found: 8, limit: 8))
        // A self-similar chain long enough to overflow a naive recursive parser's stack.
        XCTAssertNotNil(parseError(nested(100_000)))
    }

    func testUnknownMetadataValueType() {
        var raw = base()
        raw.add { $0.kv("weird", type: 13) { $0.u32(0) } }
        let e = parseError(raw.bytes())
        XCTAssertEqual(e, .unknownValueType(key: "weird", found: 13))
        assertMessage(e, contains: ["'weird'", "type 13", "expected 0...12"])

        // Unknown array element type.
        raw = base()
        raw.add { $0.kv("arr", type: GGUFValueType.array.rawValue) { $0.u32(0xFFFF_FFFF); $0.u64(0) } }
        XCTAssertEqual(parseError(raw.bytes()), .unknownValueType(key: "arr", found: 0xFFFF_FFFF))
    }

    func testBoolByteOtherThanZeroOrOne() {
        for byte: UInt8 in [2, 0xFF] {
            var raw = base()
            raw.add { $0.kv("flag", type: GGUFValueType.bool.rawValue) { $0.u8(byte) } }
            let e = parseError(raw.bytes())
            XCTAssertEqual(e, .wrongValueType(key: "flag", found: "bool byte \(byte)", expected: "0 or 1"))
            assertMessage(e, contains: ["'flag'", "bool byte \(byte)", "expected 0 or 1"])
        }
        // Also inside an array.
        var raw = base()
        raw.add { $0.kv("flags", type: GGUFValueType.array.rawValue) { $0.u32(GGUFValueType.bool.rawValue); $0.u64(2); $0.u8(1); $0.u8(2) } }
        XCTAssertEqual(parseError(raw.bytes()), .wrongValueType(key: "flags", found: "bool byte 2", expected: "0 or 1"))
    }

    func testInvalidUTF8() {
        let invalid: [[UInt8]] = [
            [0xFF],                   // never valid
            [0x61, 0xC3],             // truncated 2-byte sequence
            [0xC0, 0xAF],             // overlong "/"
            [0xED, 0xA0, 0x80],       // UTF-16 surrogate
            [0xF4, 0x90, 0x80, 0x80], // above U+10FFFF
            [0x80, 0x61],             // lone continuation byte
        ]
        for bad in invalid {
            // In a key.
            var b = GGUFBytes()
            b.u32(GGUFFile.magic); b.u32(3); b.u64(0); b.u64(1)
            b.rawString(bad); b.u32(GGUFValueType.uint8.rawValue); b.u8(0)
            let e = parseError(b.bytes)
            XCTAssertEqual(e, .invalidString(what: "metadata key #0", offset: 24), "\(bad)")
            assertMessage(e, contains: ["metadata key #0", "offset 24", "not valid UTF-8"])

            // In a string value.
            var raw = base()
            raw.add { $0.kv("s", type: GGUFValueType.string.rawValue) { $0.rawString(bad) } }
            guard case .invalidString(what: "value of 's'", _)? = parseError(raw.bytes()) else { XCTFail("value \(bad)"); continue }

            // In a tensor name.
            raw = base()
            raw.tensors[0].name = bad
            guard case .invalidString(what: "name of tensor #0", _)? = parseError(raw.bytes()) else { XCTFail("name \(bad)"); continue }
        }
    }

    func testDuplicateKeys() {
        var raw = base()
        raw.add { $0.kvU32("dup", 1) }
        raw.add { $0.kvString("dup", "two") } // even with a different type
        let e = parseError(raw.bytes())
        XCTAssertEqual(e, .duplicateKey("dup"))
        assertMessage(e, contains: ["'dup'", "appears twice"])
    }

    // MARK: Alignment

    func testBadAlignment() {
        for value: UInt32 in [0, 3, 48, 1 << 20, 1 << 31] {
            var raw = base()
            raw.add { $0.kvU32(GGUFKeys.alignment, value) }
            let e = parseError(raw.bytes())
            XCTAssertEqual(e, .badAlignment(found: Int(value)), "\(value)")
            assertMessage(e, contains: ["general.alignment is \(value)", "power of two"])
        }
        // Negative, non-integer and out-of-Int-range values.
        var raw = base()
        raw.add { $0.kv(GGUFKeys.alignment, type: GGUFValueType.int32.rawValue) { $0.u32(UInt32(bitPattern: -32)) } }
        XCTAssertEqual(parseError(raw.bytes()), .badAlignment(found: -32))
        raw = base()
        raw.add { $0.kvString(GGUFKeys.alignment, "32") }
        guard case .badAlignment? = parseError(raw.bytes()) else { return XCTFail("string alignment") }
        raw = base()
        raw.add { $0.kv(GGUFKeys.alignment, type: GGUFValueType.uint64.rawValue) { $0.u64(.max) } }
        guard case .badAlignment? = parseError(raw.bytes()) else { return XCTFail("u64 alignment") }
    }

    func testLargeValidAlignmentPastEndOfFile() {
        // 65536 is allowed, but then the data section starts past the end of this small file.
        var raw = base()
        raw.add { $0.kvU32(GGUFKeys.alignment, 65536) }
        guard case .truncated(what: "tensor data", _, _, _)? = parseError(raw.bytes()) else { return XCTFail() }
    }

    // MARK: Tensor table

    func testUnknownTensorType() {
        for code: UInt32 in [99, 4, 5, 16, 29, 31, 0xFFFF_FFFF] { // 4 and 5 are retired ggml types
            var raw = base()
            raw.tensors[0].type = code
            let e = parseError(raw.bytes())
            XCTAssertEqual(e, .unknownTensorType(tensor: "t", found: code))
            assertMessage(e, contains: ["'t'", "type \(code)", "expected one of 0 (F32), 1 (F16)", "8 (Q8_0)", "12 (Q4_K)", "30 (BF16)"])
        }
    }

    func testDimensionCountOutOfRange() {
        for n: UInt32 in [0, 5, 0xFFFF_FFFF] {
            var raw = base()
            raw.tensors[0].nDims = n
            let e = parseError(raw.bytes())
            XCTAssertEqual(e, .invalidTensorShape(tensor: "t", dims: [], reason: "\(n) dimensions, expected 1...4"))
            assertMessage(e, contains: ["'t'", "\(n) dimensions", "expected 1...4"])
        }
        // Exactly 4 dimensions is fine.
        var raw = base(dims: [8, 1, 1, 1])
        XCTAssertNoThrow(try GGUFFile(bytes: raw.bytes()))
        raw = base(dims: [8, 1, 1, 1, 1])
        XCTAssertNotNil(parseError(raw.bytes()))
    }

    func testZeroDimension() {
        for dims: [UInt64] in [[0], [8, 0], [8, 2, 0, 3]] {
            var raw = base()
            raw.tensors[0].dims = dims
            raw.tensors[0].nDims = UInt32(dims.count)
            let e = parseError(raw.bytes())
            XCTAssertEqual(e, .invalidTensorShape(tensor: "t", dims: dims, reason: "a dimension is 0"))
            assertMessage(e, contains: ["'t'", "\(dims)", "a dimension is 0"])
        }
    }

    func testDimensionProductOverflows() {
        let cases: [[UInt64]] = [
            [1 << 32, 1 << 32],            // wraps to 0 in 64 bits
            [.max],                          // one huge dimension
            [3, 1 << 63],                    // wraps to a small number
            [1 << 20, 1 << 20, 1 << 20, 1 << 20],
            [1 << 61],                       // fits u64 but not as a byte count
        ]
        for dims in cases {
            var raw = base()
            raw.tensors[0].dims = dims
            raw.tensors[0].nDims = UInt32(dims.count)
            let e = parseError(raw.bytes())
            XCTAssertEqual(e, .invalidTensorShape(tensor: "t", dims: dims, reason: "element count overflows"), "\(dims)")
            assertMessage(e, contains: ["'t'", "overflows"])
        }
        // Large but representable: a clean out-of-bounds, not an overflow.
        var raw = base()
        raw.tensors[0].dims = [1 << 40]
        guard case .tensorOutOfBounds(tensor: "t", _, bytes: 1 << 42, _)? = parseError(raw.bytes()) else { return XCTFail() }
    }

    func testRowLengthNotAMultipleOfBlockSize() {
        let cases: [(TensorType, [UInt64], Int)] = [(.q8_0, [33, 2], 32), (.q4_K, [128], 256), (.q4_0, [16], 32), (.q6_K, [257, 1], 256)]
        for (type, dims, block) in cases {
            var raw = base(dims: [UInt64(block)], type: type)
            raw.tensors[0].dims = dims
            raw.tensors[0].nDims = UInt32(dims.count)
            let e = parseError(raw.bytes())
            XCTAssertEqual(e, .invalidTensorShape(tensor: "t", dims: dims,
                                                  reason: "row length \(dims[0]) is not a multiple of the \(type) block size \(block)"))
            assertMessage(e, contains: ["row length \(dims[0])", "\(type)", "block size \(block)"])
        }
    }

    func testMisalignedTensorOffset() {
        for offset: UInt64 in [1, 16, 31, 33] {
            var raw = base()
            raw.tensors[0].offset = offset
            raw.dataBytes = 128
            let e = parseError(raw.bytes())
            XCTAssertEqual(e, .misalignedTensor(tensor: "t", offset: offset, alignment: 32))
            assertMessage(e, contains: ["'t'", "offset \(offset)", "alignment 32"])
        }
        // Aligned to 32 but not to a declared 64.
        var raw = base()
        raw.add { $0.kvU32(GGUFKeys.alignment, 64) }
        raw.alignment = 64
        raw.tensors[0].offset = 32
        raw.dataBytes = 128
        XCTAssertEqual(parseError(raw.bytes()), .misalignedTensor(tensor: "t", offset: 32, alignment: 64))
    }

    func testTensorDataPastEndOfFile() throws {
        var raw = base(dims: [16])    // 64 bytes needed
        raw.dataBytes = 63
        let bytes = raw.bytes()
        let dataStart = bytes.count - 63
        let e = parseError(bytes)
        XCTAssertEqual(e, .tensorOutOfBounds(tensor: "t", start: UInt64(dataStart), bytes: 64, fileSize: bytes.count))
        assertMessage(e, contains: ["'t'", "needs 64 bytes", "offset \(dataStart)", "has \(bytes.count) bytes"])

        // An offset far past the end, and one that makes start + bytes overflow u64.
        for offset: UInt64 in [1 << 40, UInt64.max - 31, UInt64.max & ~31 - 32] {
            var raw = base()
            raw.tensors[0].offset = offset
            guard case .tensorOutOfBounds(tensor: "t", _, bytes: 32, _)? = parseError(raw.bytes()) else {
                XCTFail("offset \(offset)"); continue
            }
        }
        // Exactly at the end is fine.
        raw.dataBytes = 64
        XCTAssertEqual(try GGUFFile(bytes: raw.bytes()).tensors[0].byteCount, 64)
    }

    func testOverlappingTensors() {
        var raw = base()
        raw.tensors = [
            RawTensorEntry("a", dims: [16], type: .f32, offset: 0),   // bytes 0..<64
            RawTensorEntry("b", dims: [8], type: .f32, offset: 32),   // bytes 32..<64
        ]
        raw.dataBytes = 64
        let e = parseError(raw.bytes())
        XCTAssertEqual(e, .overlappingTensors("a", "b"))
        assertMessage(e, contains: ["'a'", "'b'", "overlap"])

        // Same offset; out of file order; one tensor containing two others.
        raw.tensors = [RawTensorEntry("a", dims: [8], offset: 0), RawTensorEntry("b", dims: [8], offset: 0)]
        guard case .overlappingTensors? = parseError(raw.bytes()) else { return XCTFail("same offset") }
        raw.tensors = [RawTensorEntry("late", dims: [8], offset: 64), RawTensorEntry("early", dims: [32], offset: 0)]
        raw.dataBytes = 128
        XCTAssertEqual(parseError(raw.bytes()), .overlappingTensors("early", "late"))
        raw.tensors = [RawTensorEntry("big", dims: [64], offset: 0), RawTensorEntry("x", dims: [8], offset: 32),
                       RawTensorEntry("y", dims: [8], offset: 128)]
        raw.dataBytes = 256
        guard case .overlappingTensors("big", _)? = parseError(raw.bytes()) else { return XCTFail("nested") }

        // Adjacent (touching) tensors do not overlap.
        raw.tensors = [RawTensorEntry("a", dims: [8], offset: 0), RawTensorEntry("b", dims: [8], offset: 32)]
        raw.dataBytes = 64
        XCTAssertNoThrow(try GGUFFile(bytes: raw.bytes()))
    }

    func testDuplicateTensorNames() {
        var raw = base()
        raw.tensors = [RawTensorEntry("w", dims: [8], offset: 0), RawTensorEntry("w", dims: [8], offset: 32)]
        raw.dataBytes = 64
        let e = parseError(raw.bytes())
        XCTAssertEqual(e, .duplicateTensor("w"))
        assertMessage(e, contains: ["'w'", "appears twice"])
    }

    // MARK: Patching a writer-produced image

    func testPatchedFixtureFields() {
        let image = GGUFFixture.image32
        let layout = GGUFLayout(image)

        var p = image
        p.patchU32(at: layout.tensorTypeOffsets[1], 99)
        XCTAssertEqual(parseError(p), .unknownTensorType(tensor: "tiny.f16", found: 99))

        p = image
        p.patchU32(at: layout.tensorNDimsOffsets[0], 5)
        XCTAssertEqual(parseError(p), .invalidTensorShape(tensor: "tiny.f32", dims: [], reason: "5 dimensions, expected 1...4"))

        p = image
        p.patchU64(at: layout.tensorOffsetOffsets[3], 8)
        XCTAssertEqual(parseError(p), .misalignedTensor(tensor: "tiny.q4_K", offset: 8, alignment: 32))

        p = image
        p.patchU64(at: layout.tensorOffsetOffsets[3], 0) // onto tiny.f32
        guard case let .overlappingTensors(a, b)? = parseError(p) else { return XCTFail("overlap") }
        XCTAssertEqual(Set([a, b]), ["tiny.f32", "tiny.q4_K"])

        p = image
        p.patchU64(at: layout.tensorOffsetOffsets[3], UInt64(image.count))
        guard case .tensorOutOfBounds(tensor: "tiny.q4_K", _, _, _)? = parseError(p) else { return XCTFail() }

        p = image
        p.patchU32(at: layout.keyOffsets["test.u8"]! + 8 + "test.u8".utf8.count, 13)
        XCTAssertEqual(parseError(p), .unknownValueType(key: "test.u8", found: 13))

        p = image
        p[layout.valueOffsets["test.bool.true"]!] = 2
        XCTAssertEqual(parseError(p), .wrongValueType(key: "test.bool.true", found: "bool byte 2", expected: "0 or 1"))

        p = image
        p[layout.keyOffsets["test.u8"]! + 8] = 0xFF
        XCTAssertEqual(parseError(p), .invalidString(what: "metadata key #1", offset: layout.keyOffsets["test.u8"]!))

        p = image // rename "test.i8" to "test.u8"
        p[layout.keyOffsets["test.i8"]! + 8 + 5] = UInt8(ascii: "u")
        XCTAssertEqual(parseError(p), .duplicateKey("test.u8"))

        p = image // rename "tiny.f16" to "tiny.f32"
        p.replaceSubrange(layout.tensorEntryOffsets[1] + 8 + 5 ..< layout.tensorEntryOffsets[1] + 8 + 8, with: Array("f32".utf8))
        XCTAssertEqual(parseError(p), .duplicateTensor("tiny.f32"))

        p = image
        p.patchU64(at: layout.valueOffsets["test.array.u16"]! + 4, 1 << 40)
        guard case .truncated(what: "array 'test.array.u16' of 1099511627776 elements", _, _, _)? = parseError(p) else { return XCTFail() }

        p = image
        p.patchU64(at: layout.valueOffsets["test.string"]!, 1 << 40)
        guard case .truncated(what: "value of 'test.string'", _, _, _)? = parseError(p) else { return XCTFail() }
    }
}
