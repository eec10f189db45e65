#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RedflagKernels

/// Writes a standard GGUF v3 file: metadata in insertion order, a tensor table, aligned tensor data.
///
/// Tensor bytes are produced one tensor at a time by a closure, so a converter never holds the whole
/// model in memory. The file is written to a temporary name and renamed into place, so a failed or
/// interrupted write never leaves a half-written file under the final name.
public struct GGUFWriter {
    public struct PendingTensor {
        public let name: String
        /// Innermost first (ggml order).
        public let dims: [Int]
        public let type: TensorType
        public var byteCount: Int { (dims.reduce(1, *) / type.blockSize) * type.blockBytes }
    }

    public private(set) var metadata: [(String, GGUFValue)] = []
    public private(set) var tensors: [PendingTensor] = []
    /// Data alignment, recorded as `general.alignment` when not the default. A valid `general.alignment` set in
    /// `metadata` (e.g. copied from another file) takes precedence, so the header always matches the layout.
    public var alignment = GGUFFile.defaultAlignment

    /// The alignment the layout actually uses (see `alignment`).
    var layoutAlignment: Int {
        if let v = metadata.first(where: { $0.0 == GGUFKeys.alignment })?.1.intValue, v > 0, v <= 65536, v & (v - 1) == 0 { return v }
        return alignment
    }

    public init() {}

    /// Sets (or replaces) a metadata value, keeping the first position of the key.
    public mutating func set(_ key: String, _ value: GGUFValue) {
        if let i = metadata.firstIndex(where: { $0.0 == key }) { metadata[i].1 = value } else { metadata.append((key, value)) }
    }

    public mutating func remove(_ key: String) { metadata.removeAll { $0.0 == key } }

    public mutating func addTensor(name: String, dims: [Int], type: TensorType) {
        precondition(dims.first.map { $0 % type.blockSize == 0 } ?? false, "row length of \(name) must be a multiple of \(type.blockSize)")
        tensors.append(PendingTensor(name: name, dims: dims, type: type))
    }

    /// The complete header (magic through tensor table, unpadded).
    func header() -> [UInt8] {
        let alignment = layoutAlignment
        var out: [UInt8] = []
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func putString(_ s: String) { put(UInt64(s.utf8.count)); out.append(contentsOf: s.utf8) }
        func putValue(_ v: GGUFValue) {
            switch v {
            case let .uint8(x): put(x)
            case let .int8(x): put(x)
            case let .uint16(x): put(x)
            case let .int16(x): put(x)
            case let .uint32(x): put(x)
            case let .int32(x): put(x)
            case let .uint64(x): put(x)
            case let .int64(x): put(x)
            case let .float32(x): put(x.bitPattern)
            case let .float64(x): put(x.bitPattern)
            case let .bool(x): put(UInt8(x ? 1 : 0))
            case let .string(x): putString(x)
            case let .array(t, xs):
                put(t.rawValue)
                put(UInt64(xs.count))
                for x in xs { putValue(x) }
            }
        }
        put(GGUFFile.magic)
        put(UInt32(3))
        put(UInt64(tensors.count))
        var kv = metadata
        if alignment != GGUFFile.defaultAlignment, !kv.contains(where: { $0.0 == GGUFKeys.alignment }) {
            kv.append((GGUFKeys.alignment, .uint32(UInt32(alignment))))
        }
        put(UInt64(kv.count))
        for (k, v) in kv {
            putString(k)
            put(v.type.rawValue)
            putValue(v)
        }
        var offset = 0
        for t in tensors {
            putString(t.name)
            put(UInt32(t.dims.count))
            for d in t.dims { put(UInt64(d)) }
            put(t.type.rawValue)
            put(UInt64(offset))
            offset += (t.byteCount + alignment - 1) / alignment * alignment
        }
        return out
    }

    /// Writes the file. `data(i, sink)` must pass exactly `tensors[i].byteCount` bytes to `sink` (in any number of calls).
    public func write(to path: String,
                      data: (Int, (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        let alignment = layoutAlignment
        let tmp = path + ".tmp-\(getpid())"
        guard let f = fopen(tmp, "wb") else { throw GGUFError.writeFailed(path: tmp, reason: String(cString: strerror(errno))) }
        var closed = false
        defer { if !closed { fclose(f); unlink(tmp) } }
        var written = 0
        func emit(_ b: UnsafeRawBufferPointer) throws {
            guard b.count > 0 else { return }
            guard fwrite(b.baseAddress, 1, b.count, f) == b.count else {
                throw GGUFError.writeFailed(path: tmp, reason: String(cString: strerror(errno)))
            }
            written += b.count
        }
        func pad() throws {
            let n = (alignment - written % alignment) % alignment
            try [UInt8](repeating: 0, count: n).withUnsafeBytes { try emit($0) }
        }
        try header().withUnsafeBytes { try emit($0) }
        try pad()
        for (i, t) in tensors.enumerated() {
            let start = written
            try data(i) { try emit($0) }
            guard written - start == t.byteCount else {
                throw GGUFError.writeFailed(path: path, reason: "tensor '\(t.name)' produced \(written - start) bytes, expected \(t.byteCount)")
            }
            try pad()
        }
        guard fflush(f) == 0, fsync(fileno(f)) == 0 else { throw GGUFError.writeFailed(path: tmp, reason: String(cString: strerror(errno))) }
        closed = true
        guard fclose(f) == 0 else { unlink(tmp); throw GGUFError.writeFailed(path: tmp, reason: String(cString: strerror(errno))) }
        guard rename(tmp, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(tmp)
            throw GGUFError.writeFailed(path: path, reason: reason)
        }
    }

    /// The whole file as bytes (small files: tests, fixtures).
    public func bytes(data: (Int) -> [UInt8]) -> [UInt8] {
        let alignment = layoutAlignment
        var out = header()
        func pad() { while out.count % alignment != 0 { out.append(0) } }
        pad()
        for i in tensors.indices {
            out.append(contentsOf: data(i))
            pad()
        }
        return out
    }
}
