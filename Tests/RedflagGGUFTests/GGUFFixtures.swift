#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import XCTest
import RedflagGGUF
import RedflagKernels

// MARK: - Little-endian byte builder

/// Appends little-endian fields, for crafting GGUF images by hand.
struct GGUFBytes {
    var bytes: [UInt8] = []
    var count: Int { bytes.count }

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func int<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u32(_ v: UInt32) { int(v) }
    mutating func u64(_ v: UInt64) { int(v) }
    mutating func f32(_ v: Float) { int(v.bitPattern) }
    /// A GGUF string: u64 length then the bytes.
    mutating func string(_ s: String) { rawString(Array(s.utf8)) }
    mutating func rawString(_ b: [UInt8]) { u64(UInt64(b.count)); bytes.append(contentsOf: b) }
    mutating func append(_ b: [UInt8]) { bytes.append(contentsOf: b) }
    mutating func pad(to alignment: Int) { while bytes.count % alignment != 0 { bytes.append(0) } }

    /// One metadata entry: key, type, then the already-encoded value.
    mutating func kv(_ key: String, type: UInt32, _ value: (inout GGUFBytes) -> Void) {
        string(key)
        u32(type)
        value(&self)
    }
    mutating func kvU32(_ key: String, _ v: UInt32) { kv(key, type: GGUFValueType.uint32.rawValue) { $0.u32(v) } }
    mutating func kvString(_ key: String, _ v: String) { kv(key, type: GGUFValueType.string.rawValue) { $0.string(v) } }
}

/// One hand-written tensor-table entry. Every field may lie.
struct RawTensorEntry {
    var name: [UInt8]
    var nDims: UInt32
    var dims: [UInt64]
    var type: UInt32
    var offset: UInt64

    init(_ name: String, dims: [UInt64], type: TensorType = .f32, offset: UInt64 = 0) {
        self.init(rawName: Array(name.utf8), nDims: UInt32(dims.count), dims: dims, rawType: type.rawValue, offset: offset)
    }

    init(rawName: [UInt8], nDims: UInt32, dims: [UInt64], rawType: UInt32, offset: UInt64) {
        self.name = rawName
        self.nDims = nDims
        self.dims = dims
        self.type = rawType
        self.offset = offset
    }
}

/// A GGUF image crafted field by field (for hostile-input tests). Counts default to the real counts.
struct RawGGUF {
    var magic: UInt32 = GGUFFile.magic
    var version: UInt32 = 3
    var tensorCount: UInt64? = nil
    var metadataCount: UInt64? = nil
    /// Pre-encoded metadata entries (key, type, value).
    var entries: [[UInt8]] = []
    var tensors: [RawTensorEntry] = []
    /// The alignment used to pad the header before the data section.
    var alignment = 32
    /// Bytes of tensor data after the padded header.
    var dataBytes = 0

    mutating func add(_ build: (inout GGUFBytes) -> Void) {
        var b = GGUFBytes()
        build(&b)
        entries.append(b.bytes)
    }

    func bytes() -> [UInt8] {
        var b = GGUFBytes()
        b.u32(magic)
        b.u32(version)
        b.u64(tensorCount ?? UInt64(tensors.count))
        b.u64(metadataCount ?? UInt64(entries.count))
        for e in entries { b.append(e) }
        for t in tensors {
            b.rawString(t.name)
            b.u32(t.nDims)
            for d in t.dims { b.u64(d) }
            b.u32(t.type)
            b.u64(t.offset)
        }
        if !tensors.isEmpty || dataBytes > 0 { b.pad(to: alignment) }
        for i in 0..<dataBytes { b.u8(UInt8(truncatingIfNeeded: i &* 37 &+ 11)) }
        return b.bytes
    }
}

// MARK: - The small valid file

/// A tiny GGUF written by `GGUFWriter` covering every metadata value type and a few tensor types.
enum GGUFFixture {
    struct TensorSpec {
        let name: String
        let dims: [Int]
        let type: TensorType
        let byteCount: Int
    }

    /// Every metadata value type, including arrays of numbers, of strings, empty and nested arrays.
    static let metadata: [(String, GGUFValue)] = [
        (GGUFKeys.architecture, .string("tiny")),
        ("test.u8", .uint8(200)),
        ("test.i8", .int8(-100)),
        ("test.u16", .uint16(60_000)),
        ("test.i16", .int16(-30_000)),
        ("test.u32", .uint32(4_000_000_000)),
        ("test.i32", .int32(-2_000_000_000)),
        ("test.u64", .uint64(UInt64.max - 1)),
        ("test.i64", .int64(Int64.min + 1)),
        ("test.f32", .float32(-1.5e-3)),
        ("test.f32.nan", .float32(Float(nan: 0x123, signaling: false))),
        ("test.f64", .float64(3.141592653589793)),
        ("test.f64.negzero", .float64(-0.0)),
        ("test.bool.true", .bool(true)),
        ("test.bool.false", .bool(false)),
        ("test.string", .string("héllo, wörld ✓ 🚩")),
        ("test.string.empty", .string("")),
        ("test.string.nul", .string("a\u{0}b")),
        ("test.array.u8", .array(.uint8, [.uint8(0), .uint8(1), .uint8(255)])),
        ("test.array.i8", .array(.int8, [.int8(-128), .int8(127)])),
        ("test.array.u16", .array(.uint16, [.uint16(1), .uint16(65535)])),
        ("test.array.i16", .array(.int16, [.int16(-32768), .int16(32767)])),
        ("test.array.u32", .array(.uint32, [.uint32(0), .uint32(UInt32.max)])),
        ("test.array.i32", .array(.int32, [.int32(-1), .int32(2), .int32(-3)])),
        ("test.array.u64", .array(.uint64, [.uint64(UInt64.max), .uint64(0)])),
        ("test.array.i64", .array(.int64, [.int64(Int64.min), .int64(Int64.max)])),
        ("test.array.f32", .array(.float32, [.float32(0.5), .float32(-2), .float32(.infinity)])),
        ("test.array.f64", .array(.float64, [.float64(1e300), .float64(-1e-300)])),
        ("test.array.bool", .array(.bool, [.bool(true), .bool(false), .bool(true)])),
        ("test.array.string", .array(.string, [.string("a"), .string(""), .string("ünïcödé"), .string("▁tok")])),
        ("test.array.empty", .array(.uint32, [])),
        ("test.array.nested", .array(.array, [
            .array(.int32, [.int32(1), .int32(2)]),
            .array(.string, [.string("x")]),
            .array(.float32, []),
            .array(.array, [.array(.uint8, [.uint8(7)])]),
        ])),
        (GGUFKeys.tokenizerTokens, .array(.string, [.string("<pad>"), .string("<bos>"), .string("▁hi")])),
    ]

    /// F32, F16 (odd byte count: padding follows), Q8_0 and a 4-D Q4_K last (576 bytes = 9·64: no trailing padding
    /// at alignment 32 or 64, so every proper prefix of the file is missing some tensor bytes).
    static let tensorSpecs: [TensorSpec] = [
        TensorSpec(name: "tiny.f32", dims: [8, 3], type: .f32, byteCount: 8 * 3 * 4),
        TensorSpec(name: "tiny.f16", dims: [5], type: .f16, byteCount: 10),
        TensorSpec(name: "tiny.q8_0", dims: [64, 2], type: .q8_0, byteCount: 4 * 34),
        TensorSpec(name: "tiny.q4_K", dims: [256, 2, 1, 2], type: .q4_K, byteCount: 4 * 144),
    ]

    /// Deterministic, tensor-specific data bytes.
    static func tensorData(_ i: Int) -> [UInt8] {
        (0..<tensorSpecs[i].byteCount).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i &* 101 &+ 5) }
    }

    /// The writer for the fixture; `alignment` other than 32 makes the writer add `general.alignment`.
    static func writer(alignment: Int = GGUFFile.defaultAlignment) -> GGUFWriter {
        var w = GGUFWriter()
        w.alignment = alignment
        for (k, v) in metadata { w.set(k, v) }
        for t in tensorSpecs { w.addTensor(name: t.name, dims: t.dims, type: t.type) }
        return w
    }

    static func image(alignment: Int = GGUFFile.defaultAlignment) -> [UInt8] {
        writer(alignment: alignment).bytes(data: tensorData)
    }

    static let image32: [UInt8] = image()
    static let image64: [UInt8] = image(alignment: 64)
}

// MARK: - An independent walk over a valid image (field offsets for patching and mutation)

/// Offsets of the fields of a well-formed GGUF image, found by a walk that does not use `GGUFFile`.
struct GGUFLayout {
    /// Offsets of every u64 field (counts, string lengths, array lengths, dims, tensor offsets).
    var u64Fields: [Int] = []
    /// Offsets of every u32 type field (value types, array element types, n_dims, tensor types).
    var u32Fields: [Int] = []
    /// Offset of each metadata entry's key-length field, by key.
    var keyOffsets: [String: Int] = [:]
    /// Offset of each metadata entry's value (after the type field), by key.
    var valueOffsets: [String: Int] = [:]
    /// Offset of each tensor-table entry's name-length field, in file order.
    var tensorEntryOffsets: [Int] = []
    /// Offset of each tensor's n_dims / type / offset fields, in file order.
    var tensorNDimsOffsets: [Int] = []
    var tensorTypeOffsets: [Int] = []
    var tensorOffsetOffsets: [Int] = []
    var headerEnd = 0

    init(_ b: [UInt8]) {
        var p = 0
        func u32() -> UInt32 { defer { p += 4 }; return b[p..<p + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) } }
        func u64() -> UInt64 { defer { p += 8 }; return b[p..<p + 8].reversed().reduce(0) { $0 << 8 | UInt64($1) } }
        func str() -> String {
            u64Fields.append(p)
            let n = Int(u64())
            defer { p += n }
            return String(decoding: b[p..<p + n], as: UTF8.self)
        }
        func value(_ t: UInt32) {
            switch GGUFValueType(rawValue: t)! {
            case .uint8, .int8, .bool: p += 1
            case .uint16, .int16: p += 2
            case .uint32, .int32, .float32: p += 4
            case .uint64, .int64, .float64: p += 8
            case .string: _ = str()
            case .array:
                u32Fields.append(p)
                let et = u32()
                u64Fields.append(p)
                let n = u64()
                for _ in 0..<n { value(et) }
            }
        }
        p = 8
        u64Fields.append(p)
        let nt = u64()
        u64Fields.append(p)
        let nkv = u64()
        for _ in 0..<nkv {
            let start = p
            let key = str()
            keyOffsets[key] = start
            u32Fields.append(p)
            let t = u32()
            valueOffsets[key] = p
            value(t)
        }
        for _ in 0..<nt {
            tensorEntryOffsets.append(p)
            _ = str()
            tensorNDimsOffsets.append(p)
            u32Fields.append(p)
            let nd = u32()
            for _ in 0..<nd { u64Fields.append(p); _ = u64() }
            tensorTypeOffsets.append(p)
            u32Fields.append(p)
            _ = u32()
            tensorOffsetOffsets.append(p)
            u64Fields.append(p)
            _ = u64()
        }
        headerEnd = p
    }
}

extension Array where Element == UInt8 {
    mutating func patchU64(at offset: Int, _ v: UInt64) {
        Swift.withUnsafeBytes(of: v.littleEndian) { for (i, x) in $0.enumerated() { self[offset + i] = x } }
    }
    mutating func patchU32(at offset: Int, _ v: UInt32) {
        Swift.withUnsafeBytes(of: v.littleEndian) { for (i, x) in $0.enumerated() { self[offset + i] = x } }
    }
}

// MARK: - Assertions

/// The `GGUFError` parsing `bytes` throws; fails the test (and returns nil) if it parses or throws something else.
func parseError(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> GGUFError? {
    do {
        let f = try GGUFFile(bytes: bytes)
        XCTFail("expected a GGUFError, but the \(bytes.count)-byte image parsed (\(f.tensors.count) tensors)", file: file, line: line)
        return nil
    } catch let e as GGUFError {
        return e
    } catch {
        XCTFail("expected a GGUFError, got \(type(of: error)): \(error)", file: file, line: line)
        return nil
    }
}

/// Asserts `error`'s message contains every one of `parts`.
func assertMessage(_ error: GGUFError?, contains parts: [String], file: StaticString = #filePath, line: UInt = #line) {
    guard let error else { return }
    for part in parts {
        XCTAssertTrue(error.description.contains(part), "message \"\(error.description)\" does not mention \"\(part)\"",
                      file: file, line: line)
    }
}

/// Exact equality of metadata values: same types, and floats equal bit for bit (so NaN and -0 compare exactly).
func assertIdentical(_ a: GGUFValue?, _ b: GGUFValue?, _ context: String, file: StaticString = #filePath, line: UInt = #line) {
    func same(_ a: GGUFValue, _ b: GGUFValue) -> Bool {
        switch (a, b) {
        case let (.float32(x), .float32(y)): return x.bitPattern == y.bitPattern
        case let (.float64(x), .float64(y)): return x.bitPattern == y.bitPattern
        case let (.array(ta, xs), .array(tb, ys)):
            return ta == tb && xs.count == ys.count && zip(xs, ys).allSatisfy { same($0, $1) }
        case let (.string(x), .string(y)): return Array(x.utf8) == Array(y.utf8)
        default: return a.type == b.type && a == b
        }
    }
    guard let a, let b else {
        XCTAssertTrue(a == nil && b == nil, "\(context): \(String(describing: a)) vs \(String(describing: b))", file: file, line: line)
        return
    }
    XCTAssertTrue(same(a, b), "\(context): \(a.summary) (\(a.type)) != \(b.summary) (\(b.type))", file: file, line: line)
}

/// Thread CPU time in seconds (robust against other processes competing for the cores).
func threadCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
