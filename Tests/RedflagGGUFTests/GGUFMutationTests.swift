import XCTest
import RedflagGGUF
import RedflagKernels
import RedflagTestSupport


/// Randomly damaged copies of the small file either parse (into something self-consistent) or throw a
/// `GGUFError`; nothing crashes, and parsing stays fast.
final class GGUFMutationTests: XCTestCase {
    static let iterations = 2_000

    private static let hugeU64: [UInt64] = [
        .max, .max - 1, 1 << 63, UInt64(Int64.max), 1 << 62, 1 << 40, 1 << 32, (1 << 32) - 1, 1 << 20, (1 << 20) + 1, 0, 1,
    ]
    private static let oddU32: [UInt32] = [0, 1, 2, 3, 4, 5, 9, 12, 13, 30, 99, 0xFFFF, 0x8000_0000, 0xFFFF_FFFF]

    private func mutate(_ image: [UInt8], _ layout: GGUFLayout, _ rng: inout SplitMix64) -> (bytes: [UInt8], kind: String) {
        var b = image
        var kinds: [String] = []
        let steps = rng.below(4) == 0 ? 2 + rng.below(3) : 1
        for _ in 0..<steps {
            switch rng.below(6) {
            case 0: // flip a few random bytes
                for _ in 0...rng.below(8) where !b.isEmpty {
                    b[rng.below(b.count)] ^= UInt8(1 + rng.below(255))
                }
                kinds.append("flip")
            case 1: // a header u64 field (count, length, dimension, offset) becomes huge or odd
                let at = layout.u64Fields[rng.below(layout.u64Fields.count)]
                let v = rng.below(3) == 0 ? rng.next() : Self.hugeU64[rng.below(Self.hugeU64.count)]
                if at + 8 <= b.count { b.patchU64(at: at, v) }
                kinds.append("u64field")
            case 2: // a type / n_dims field becomes out of range
                let at = layout.u32Fields[rng.below(layout.u32Fields.count)]
                let v = rng.below(4) == 0 ? UInt32(truncatingIfNeeded: rng.next()) : Self.oddU32[rng.below(Self.oddU32.count)]
                if at + 4 <= b.count { b.patchU32(at: at, v) }
                kinds.append("u32field")
            case 3: // a huge u64 written at any (unaligned) position
                if b.count >= 8 { b.patchU64(at: rng.below(b.count - 7), Self.hugeU64[rng.below(Self.hugeU64.count)]) }
                kinds.append("u64any")
            case 4: // truncate
                b.removeLast(rng.below(b.count + 1))
                kinds.append("truncate")
            default: // a small delta on a u64 field (off-by-a-little lengths, counts and offsets)
                let at = layout.u64Fields[rng.below(layout.u64Fields.count)]
                if at + 8 <= b.count {
                    let old = b[at..<at + 8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                    b.patchU64(at: at, old &+ UInt64(bitPattern: Int64(rng.below(65) - 32)))
                }
                kinds.append("delta")
            }
        }
        return (b, kinds.joined(separator: "+"))
    }

    /// What a successfully parsed file must satisfy, whatever the bytes were.
    private func checkInvariants(_ f: GGUFFile, size: Int, context: String) {
        XCTAssertEqual(f.fileSize, size, context)
        XCTAssertTrue(f.version == 2 || f.version == 3, context)
        XCTAssertTrue(f.alignment > 0 && f.alignment & (f.alignment - 1) == 0, context)
        XCTAssertEqual(f.metadataKeys.count, f.metadata.count, context)
        XCTAssertEqual(Set(f.metadataKeys).count, f.metadataKeys.count, context)
        XCTAssertEqual(Set(f.tensors.map(\.name)).count, f.tensors.count, context)
        var ranges: [(Int, Int)] = []
        for t in f.tensors {
            XCTAssertGreaterThanOrEqual(t.fileOffset, f.dataOffset, context)
            XCTAssertEqual((t.fileOffset - f.dataOffset) % f.alignment, 0, context)
            XCTAssertLessThanOrEqual(t.fileOffset + t.byteCount, size, context)
            XCTAssertTrue((1...4).contains(t.dims.count) && t.dims.allSatisfy { $0 >= 1 }, context)
            XCTAssertEqual(t.byteCount, t.type.rowBytes(t.columns).map { $0 * t.rows }, context)
            XCTAssertEqual(f.bytes(of: t).count, t.byteCount, context)
            ranges.append((t.fileOffset, t.fileOffset + t.byteCount))
        }
        ranges.sort { $0.0 < $1.0 }
        for (a, b) in zip(ranges, ranges.dropFirst()) { XCTAssertLessThanOrEqual(a.1, b.0, context) }
    }

    func testRandomMutationsNeverCrash() {
        let images = [GGUFFixture.image32, GGUFFixture.image64]
        let layouts = images.map { GGUFLayout($0) }
        var rng = SplitMix64(seed: 0x5EED_6A6F_0001)
        var parsed = 0
        var errorKinds: [String: Int] = [:]
        var slowest = 0.0
        let start = threadCPUSeconds()
        for i in 0..<Self.iterations {
            let which = i % 2
            let (bytes, kind) = mutate(images[which], layouts[which], &rng)
            let context = "mutation #\(i) (\(kind), \(bytes.count) bytes)"
            let t0 = threadCPUSeconds()
            do {
                let f = try GGUFFile(bytes: bytes, name: "mutant-\(i)")
                parsed += 1
                checkInvariants(f, size: bytes.count, context: context)
            } catch let e as GGUFError {
                let label = Mirror(reflecting: e).children.first?.label ?? "\(e)"
                errorKinds[label, default: 0] += 1
                XCTAssertFalse(e.description.isEmpty, context)
            } catch {
                XCTFail("\(context): non-GGUFError \(error)")
            }
            slowest = max(slowest, threadCPUSeconds() - t0)
        }
        let elapsed = threadCPUSeconds() - start
        let summary = errorKinds.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        print("GGUF mutation test: \(Self.iterations) mutants, \(parsed) parsed, errors: \(summary); "
              + "CPU \(String(format: "%.2f", elapsed)) s, slowest parse \(String(format: "%.1f", slowest * 1000)) ms")

        // The mutations really exercise the reader: many rejections of many kinds, and some survivors
        // (flipped bytes inside tensor data or string contents leave a valid file).
        XCTAssertGreaterThan(parsed, 20)
        XCTAssertGreaterThan(Self.iterations - parsed, Self.iterations / 2)
        XCTAssertGreaterThanOrEqual(errorKinds.count, 8, summary)
        XCTAssertLessThan(elapsed, 5.0, "2,000 parses of a 2 KB file must take well under a few seconds")
        XCTAssertLessThan(slowest, 0.25, "no single hostile image may make parsing slow")
    }

    func testMutationSequenceIsDeterministic() {
        let layout = GGUFLayout(GGUFFixture.image32)
        var a = SplitMix64(seed: 42), b = SplitMix64(seed: 42)
        for _ in 0..<50 {
            XCTAssertEqual(mutate(GGUFFixture.image32, layout, &a).bytes, mutate(GGUFFixture.image32, layout, &b).bytes)
        }
        var c = SplitMix64(seed: 1)
        XCTAssertEqual(c.next(), 0x910A_2DEC_8902_5CC1) // SplitMix64 reference output for seed 1
    }

    func testEveryByteFlippedOnce() {
        // Exhaustive single-byte damage over the header (XOR 0xFF) and a sample of the data.
        let image = GGUFFixture.image32
        let dataOffset = (try? GGUFFile(bytes: image).dataOffset) ?? image.count
        for i in 0..<dataOffset {
            var b = image
            b[i] ^= 0xFF
            do { _ = try GGUFFile(bytes: b) } catch is GGUFError {} catch { XCTFail("byte \(i): \(error)") }
        }
        // Damage inside tensor data never affects parsing.
        for i in stride(from: dataOffset, to: image.count, by: 7) {
            var b = image
            b[i] ^= 0xFF
            XCTAssertNoThrow(try GGUFFile(bytes: b), "data byte \(i)")
        }
    }
}
