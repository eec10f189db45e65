#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RedflagKernels

/// A GGUF (v2/v3) file mapped read-only into memory.
///
/// Parsing trusts nothing: every count, length, offset and size is checked against the file length
/// before it is used, and every failure is a `GGUFError` that says what was found and what was expected.
/// Tensor data is never copied: `bytes(of:)` returns a view into the mapping.
public final class GGUFFile: @unchecked Sendable {
    /// The magic bytes "GGUF" read as a little-endian u32.
    public static let magic: UInt32 = 0x4655_4747
    public static let defaultAlignment = 32
    /// Sanity limits on counts that would otherwise let a hostile header request absurd allocations.
    public static let maxTensorCount: UInt64 = 1 << 20
    public static let maxMetadataCount: UInt64 = 1 << 20
    public static let maxDims = 4
    static let maxArrayNesting = 8

    public let path: String
    public let fileSize: Int
    public let version: UInt32
    public let alignment: Int
    /// Metadata by key, and the keys in file order.
    public let metadata: [String: GGUFValue]
    public let metadataKeys: [String]
    /// Tensor table in file order.
    public let tensors: [GGUFTensorInfo]
    /// Absolute offset where tensor data starts.
    public let dataOffset: Int

    private let base: UnsafeRawPointer
    private let mappedLength: Int
    private let ownsHeapCopy: Bool
    private let tensorIndex: [String: Int]

    /// Maps and parses the file at `path`.
    public convenience init(path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw GGUFError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw GGUFError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw GGUFError.cannotOpen(path: path, reason: "not a regular file") }
        let size = Int(st.st_size)
        guard size > 0 else { throw GGUFError.truncated(what: "header", offset: 0, needed: 4, fileSize: 0) }
        guard let m = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), m != MAP_FAILED else {
            throw GGUFError.cannotOpen(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        do {
            try self.init(path: path, base: UnsafeRawPointer(m), size: size, ownsHeapCopy: false)
        } catch {
            munmap(m, size)
            throw error
        }
    }

    /// Parses a GGUF image held in memory (copied). Used by tests and fuzzing.
    public convenience init(bytes: [UInt8], name: String = "<memory>") throws {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 64)
        bytes.withUnsafeBytes { src in if let b = src.baseAddress { p.copyMemory(from: b, byteCount: src.count) } }
        do {
            try self.init(path: name, base: UnsafeRawPointer(p), size: bytes.count, ownsHeapCopy: true)
        } catch {
            p.deallocate()
            throw error
        }
    }

    private init(path: String, base: UnsafeRawPointer, size: Int, ownsHeapCopy: Bool) throws {
        var r = ByteReader(base: base, size: size)
        let magic = try r.read(UInt32.self, "magic")
        guard magic == Self.magic else { throw GGUFError.badMagic(found: magic) }
        let version = try r.read(UInt32.self, "version")
        guard version == 2 || version == 3 else { throw GGUFError.unsupportedVersion(found: version) }
        let tensorCount = try r.read(UInt64.self, "tensor count")
        guard tensorCount <= Self.maxTensorCount else {
            throw GGUFError.countTooLarge(what: "tensor count", found: tensorCount, limit: Self.maxTensorCount)
        }
        let kvCount = try r.read(UInt64.self, "metadata count")
        guard kvCount <= Self.maxMetadataCount else {
            throw GGUFError.countTooLarge(what: "metadata count", found: kvCount, limit: Self.maxMetadataCount)
        }

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        for i in 0..<Int(kvCount) {
            let key = try r.readString("metadata key #\(i)")
            let rawType = try r.read(UInt32.self, "value type of '\(key)'")
            guard let type = GGUFValueType(rawValue: rawType) else {
                throw GGUFError.unknownValueType(key: key, found: rawType)
            }
            let value = try Self.readValue(&r, type: type, key: key, depth: 0)
            guard metadata.updateValue(value, forKey: key) == nil else { throw GGUFError.duplicateKey(key) }
            keys.append(key)
        }

        var alignment = Self.defaultAlignment
        if let a = metadata[GGUFKeys.alignment] {
            guard let v = a.intValue, v > 0, v <= 65536, v & (v - 1) == 0 else {
                throw GGUFError.badAlignment(found: a.intValue ?? -1)
            }
            alignment = v
        }

        struct RawInfo { let name: String; let dims: [Int]; let type: TensorType; let offset: UInt64 }
        var raw: [RawInfo] = []
        raw.reserveCapacity(min(Int(tensorCount), r.remaining / 24))   // each entry takes ≥ 24 bytes
        for i in 0..<Int(tensorCount) {
            let name = try r.readString("name of tensor #\(i)")
            let nDims = try r.read(UInt32.self, "dimension count of tensor '\(name)'")
            guard nDims >= 1, nDims <= UInt32(Self.maxDims) else {
                throw GGUFError.invalidTensorShape(tensor: name, dims: [], reason: "\(nDims) dimensions, expected 1...\(Self.maxDims)")
            }
            var dims64: [UInt64] = []
            for d in 0..<Int(nDims) { dims64.append(try r.read(UInt64.self, "dimension \(d) of tensor '\(name)'")) }
            let rawType = try r.read(UInt32.self, "type of tensor '\(name)'")
            guard let type = TensorType(rawValue: rawType) else {
                throw GGUFError.unknownTensorType(tensor: name, found: rawType)
            }
            let offset = try r.read(UInt64.self, "data offset of tensor '\(name)'")
            // Each dimension ≥ 1 and the product must fit in the file (≥ 1 bit per value, checked exactly below).
            var count: UInt64 = 1
            for d in dims64 {
                guard d >= 1 else { throw GGUFError.invalidTensorShape(tensor: name, dims: dims64, reason: "a dimension is 0") }
                let (p, o) = count.multipliedReportingOverflow(by: d)
                guard !o, p <= UInt64(Int.max) / 8 else {
                    throw GGUFError.invalidTensorShape(tensor: name, dims: dims64, reason: "element count overflows")
                }
                count = p
            }
            guard dims64[0] % UInt64(type.blockSize) == 0 else {
                throw GGUFError.invalidTensorShape(tensor: name, dims: dims64,
                    reason: "row length \(dims64[0]) is not a multiple of the \(type) block size \(type.blockSize)")
            }
            raw.append(RawInfo(name: name, dims: dims64.map { Int($0) }, type: type, offset: offset))
        }

        let headerEnd = r.offset
        let dataOffset = (headerEnd + alignment - 1) / alignment * alignment
        if !raw.isEmpty && dataOffset > size {
            throw GGUFError.truncated(what: "tensor data", offset: headerEnd, needed: dataOffset - headerEnd, fileSize: size)
        }

        var tensors: [GGUFTensorInfo] = []
        var index: [String: Int] = [:]
        for info in raw {
            let elements = info.dims.reduce(1, *)
            let bytes = UInt64(elements / info.type.blockSize) * UInt64(info.type.blockBytes)
            guard info.offset % UInt64(alignment) == 0 else {
                throw GGUFError.misalignedTensor(tensor: info.name, offset: info.offset, alignment: alignment)
            }
            let start = UInt64(dataOffset).addingReportingOverflow(info.offset)
            let end = start.partialValue.addingReportingOverflow(bytes)
            guard !start.overflow, !end.overflow, end.partialValue <= UInt64(size) else {
                throw GGUFError.tensorOutOfBounds(tensor: info.name, start: start.partialValue, bytes: bytes, fileSize: size)
            }
            guard index.updateValue(tensors.count, forKey: info.name) == nil else { throw GGUFError.duplicateTensor(info.name) }
            tensors.append(GGUFTensorInfo(name: info.name, dims: info.dims, type: info.type,
                                          fileOffset: Int(start.partialValue), byteCount: Int(bytes)))
        }
        let byOffset = tensors.sorted { $0.fileOffset < $1.fileOffset }
        for (a, b) in zip(byOffset, byOffset.dropFirst()) where a.fileOffset + a.byteCount > b.fileOffset {
            throw GGUFError.overlappingTensors(a.name, b.name)
        }

        self.path = path
        self.fileSize = size
        self.version = version
        self.alignment = alignment
        self.metadata = metadata
        self.metadataKeys = keys
        self.tensors = tensors
        self.tensorIndex = index
        self.dataOffset = dataOffset
        self.base = base
        self.mappedLength = size
        self.ownsHeapCopy = ownsHeapCopy
        releaseHeaderPages()
    }

    /// The header (metadata and tensor table, ≈ 6 MB for a 262k-token vocabulary) has been copied into Swift
    /// values: its whole pages leave resident memory (they are read from the file again if touched).
    private func releaseHeaderPages() { releasePages(bytes: 0..<min(dataOffset, fileSize)) }

    /// `madvise(MADV_DONTNEED)` on the whole pages inside `bytes` of the mapping (none for an in-memory image).
    private func releasePages(bytes: Range<Int>) {
        guard !ownsHeapCopy else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard page > 0 else { return }
        let start = (bytes.lowerBound + page - 1) / page * page
        let end = bytes.upperBound / page * page
        guard end > start else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, Int32(MADV_DONTNEED))
    }

    deinit {
        if ownsHeapCopy {
            UnsafeMutableRawPointer(mutating: base).deallocate()
        } else {
            munmap(UnsafeMutableRawPointer(mutating: base), mappedLength)
        }
    }

    private static func readValue(_ r: inout ByteReader, type: GGUFValueType, key: String, depth: Int) throws -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try r.read(UInt8.self, "value of '\(key)'"))
        case .int8: return .int8(try r.read(Int8.self, "value of '\(key)'"))
        case .uint16: return .uint16(try r.read(UInt16.self, "value of '\(key)'"))
        case .int16: return .int16(try r.read(Int16.self, "value of '\(key)'"))
        case .uint32: return .uint32(try r.read(UInt32.self, "value of '\(key)'"))
        case .int32: return .int32(try r.read(Int32.self, "value of '\(key)'"))
        case .uint64: return .uint64(try r.read(UInt64.self, "value of '\(key)'"))
        case .int64: return .int64(try r.read(Int64.self, "value of '\(key)'"))
        case .float32: return .float32(try r.readFloat("value of '\(key)'"))
        case .float64: return .float64(try r.readDouble("value of '\(key)'"))
        case .bool:
            let b = try r.read(UInt8.self, "value of '\(key)'")
            guard b <= 1 else { throw GGUFError.wrongValueType(key: key, found: "bool byte \(b)", expected: "0 or 1") }
            return .bool(b == 1)
        case .string: return .string(try r.readString("value of '\(key)'"))
        case .array:
            guard depth < maxArrayNesting else {
                throw GGUFError.countTooLarge(what: "array nesting of '\(key)'", found: UInt64(depth), limit: UInt64(maxArrayNesting))
            }
            let rawElem = try r.read(UInt32.self, "array element type of '\(key)'")
            guard let elem = GGUFValueType(rawValue: rawElem) else { throw GGUFError.unknownValueType(key: key, found: rawElem) }
            let count = try r.read(UInt64.self, "array length of '\(key)'")
            // Every element takes at least one byte, so a count above the bytes left is a lie.
            guard count <= UInt64(r.remaining) else {
                throw GGUFError.truncated(what: "array '\(key)' of \(count) elements", offset: r.offset,
                                          needed: Int(clamping: count), fileSize: r.size)
            }
            /// `count` elements, each read by `element`.
            func elements<T>(_ element: (inout ByteReader) throws -> T) throws -> [T] {
                var values: [T] = []
                values.reserveCapacity(Int(count))
                for _ in 0..<Int(count) { values.append(try element(&r)) }
                return values
            }
            let what = "value of '\(key)'"
            switch elem {      // the big tokenizer arrays, stored compactly (see GGUFArray)
            case .string: return .array(elem, GGUFArray(strings: try elements { try $0.readString(what) }))
            case .float32: return .array(elem, GGUFArray(floats: try elements { try $0.readFloat(what) }))
            case .int32: return .array(elem, GGUFArray(int32s: try elements { try $0.read(Int32.self, what) }))
            default:
                return .array(elem, GGUFArray(try elements { try readValue(&$0, type: elem, key: key, depth: depth + 1) }))
            }
        }
    }

    /// The tensor named `name`, if present.
    public func tensor(_ name: String) -> GGUFTensorInfo? { tensorIndex[name].map { tensors[$0] } }

    /// The tensor's data: a view into the mapping (valid while this object lives).
    public func bytes(of tensor: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + tensor.fileOffset, count: tensor.byteCount)
    }

    /// Drops the resident pages of a tensor's data from this process's memory (`madvise(MADV_DONTNEED)` on
    /// the whole pages inside its byte range), for tensors a loader has copied into another layout. The data
    /// stays readable: a later access reads the pages from the file again. No-op for an in-memory image.
    public func releasePages(of tensor: GGUFTensorInfo) {
        releasePages(bytes: tensor.fileOffset..<(tensor.fileOffset + tensor.byteCount))
    }

    /// The whole file image (for hashing model identity).
    public var fileBytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: fileSize) }
}

extension GGUFFile {
    public func string(_ key: String) -> String? { metadata[key]?.stringValue }
    public func int(_ key: String) -> Int? { metadata[key]?.intValue }
    public func double(_ key: String) -> Double? { metadata[key]?.doubleValue }
    public func bool(_ key: String) -> Bool? { metadata[key]?.boolValue }
    public func stringArray(_ key: String) -> [String]? {
        guard case let .array(.string, v)? = metadata[key] else { return nil }
        return v.strings ?? v.map { $0.stringValue ?? "" }
    }
    public func floatArray(_ key: String) -> [Float]? {
        guard case let .array(_, v)? = metadata[key] else { return nil }
        if let floats = v.floats { return floats }
        var out: [Float] = []
        out.reserveCapacity(v.count)
        for x in v { guard let d = x.doubleValue else { return nil }; out.append(Float(d)) }
        return out
    }
    public func intArray(_ key: String) -> [Int]? {
        guard case let .array(_, v)? = metadata[key] else { return nil }
        if let ints = v.int32s { return ints.map { Int($0) } }
        var out: [Int] = []
        out.reserveCapacity(v.count)
        for x in v { guard let i = x.intValue else { return nil }; out.append(i) }
        return out
    }

    /// A required integer key, or a clear error.
    public func requireInt(_ key: String) throws -> Int {
        guard let v = metadata[key] else { throw GGUFError.missingKey(key) }
        guard let i = v.intValue else { throw GGUFError.wrongValueType(key: key, found: "\(v.type)", expected: "an integer") }
        return i
    }

    /// A required floating-point key, or a clear error.
    public func requireDouble(_ key: String) throws -> Double {
        guard let v = metadata[key] else { throw GGUFError.missingKey(key) }
        guard let d = v.doubleValue else { throw GGUFError.wrongValueType(key: key, found: "\(v.type)", expected: "a number") }
        return d
    }

    /// A required tensor, or a clear error.
    public func requireTensor(_ name: String) throws -> GGUFTensorInfo {
        guard let t = tensor(name) else { throw GGUFError.missingTensor(name) }
        return t
    }
}
