import XCTest
import RedflagGGUF
import RedflagKernels

/// Every proper prefix of a valid file is rejected with the right error; none crashes.
final class GGUFTruncationTests: XCTestCase {
    private func checkEveryPrefix(of image: [UInt8], alignment: Int) throws {
        let full = try GGUFFile(bytes: image)
        let dataOffset = full.dataOffset
        var truncatedCount = 0, outOfBoundsCount = 0
        for length in 0..<image.count {
            let prefix = Array(image[0..<length])
            let context = "prefix of \(length)/\(image.count) bytes (alignment \(alignment), data at \(dataOffset))"
            guard let error = parseError(prefix, line: #line) else { XCTFail(context); continue }
            if length < dataOffset {
                // A cut inside the header (or its padding): a read past the end.
                guard case let .truncated(what, offset, needed, fileSize) = error else {
                    XCTFail("\(context): expected .truncated, got \(error)")
                    continue
                }
                XCTAssertEqual(fileSize, length, context)
                XCTAssertLessThanOrEqual(offset, length, context)
                XCTAssertGreaterThan(offset + needed, length, "\(context): the read really passes the end")
                XCTAssertFalse(what.isEmpty, context)
                XCTAssertTrue(error.description.contains("\(length) bytes"), "\(context): \(error)")
                truncatedCount += 1
            } else {
                // A cut inside tensor data: the first tensor whose bytes pass the end is named.
                guard case let .tensorOutOfBounds(tensor, start, bytes, fileSize) = error else {
                    XCTFail("\(context): expected .tensorOutOfBounds, got \(error)")
                    continue
                }
                let first = full.tensors.first { $0.fileOffset + $0.byteCount > length }!
                XCTAssertEqual(tensor, first.name, context)
                XCTAssertEqual(start, UInt64(first.fileOffset), context)
                XCTAssertEqual(bytes, UInt64(first.byteCount), context)
                XCTAssertEqual(fileSize, length, context)
                assertMessage(error, contains: ["'\(first.name)'", "\(first.byteCount) bytes", "offset \(first.fileOffset)",
                                                "has \(length) bytes"])
                outOfBoundsCount += 1
            }
        }
        XCTAssertEqual(truncatedCount, dataOffset)
        XCTAssertEqual(outOfBoundsCount, image.count - dataOffset)
        XCTAssertGreaterThan(truncatedCount, 1000, "the header is long enough to be interesting")
    }

    func testEveryTruncatedPrefixThrowsAlignment32() throws {
        try checkEveryPrefix(of: GGUFFixture.image32, alignment: 32)
    }

    func testEveryTruncatedPrefixThrowsAlignment64() throws {
        try checkEveryPrefix(of: GGUFFixture.image64, alignment: 64)
    }

    func testCutInsidePaddingBeforeDataIsTruncated() throws {
        let image = GGUFFixture.image32
        let layout = GGUFLayout(image)
        let f = try GGUFFile(bytes: image)
        XCTAssertLessThan(layout.headerEnd, f.dataOffset, "the fixture header needs padding")
        let e = parseError(Array(image[0..<layout.headerEnd]))
        XCTAssertEqual(e, .truncated(what: "tensor data", offset: layout.headerEnd,
                                     needed: f.dataOffset - layout.headerEnd, fileSize: layout.headerEnd))
    }

    func testCutNamesTheFieldBeingRead() throws {
        let image = GGUFFixture.image32
        let layout = GGUFLayout(image)
        // Inside the tensor count.
        assertMessage(parseError(Array(image[0..<12])), contains: ["tensor count", "needs 8 bytes", "offset 8", "has 12 bytes"])
        // Inside a key's bytes.
        let keyAt = layout.keyOffsets["test.f64"]!
        assertMessage(parseError(Array(image[0..<keyAt + 10])), contains: ["metadata key #11", "needs 8 bytes", "has \(keyAt + 10) bytes"])
        // Inside a value.
        let valueAt = layout.valueOffsets["test.f64"]!
        assertMessage(parseError(Array(image[0..<valueAt + 3])), contains: ["value of 'test.f64'", "needs 8 bytes"])
        // Inside an array's elements.
        let arrayAt = layout.valueOffsets["test.array.string"]!
        assertMessage(parseError(Array(image[0..<arrayAt + 14])), contains: ["'test.array.string'"])
        // Inside the tensor table.
        let typeAt = layout.tensorTypeOffsets[2]
        assertMessage(parseError(Array(image[0..<typeAt + 1])), contains: ["type of tensor 'tiny.q8_0'", "needs 4 bytes"])
    }
}
