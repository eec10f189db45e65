/// A bounds-checked little-endian cursor over the bytes of a GGUF file.
/// Every read checks the remaining length first and throws `GGUFError.truncated` instead of trapping.
struct ByteReader {
    let base: UnsafeRawPointer
    let size: Int
    private(set) var offset: Int = 0

    init(base: UnsafeRawPointer, size: Int) {
        self.base = base
        self.size = size
    }

    var remaining: Int { size - offset }

    mutating func need(_ count: Int, _ what: @autoclosure () -> String) throws {
        if count < 0 || count > size - offset {
            throw GGUFError.truncated(what: what(), offset: offset, needed: count, fileSize: size)
        }
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        try need(MemoryLayout<T>.size, what())
        let v = base.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
        return T(littleEndian: v)
    }

    mutating func readFloat(_ what: @autoclosure () -> String) throws -> Float {
        Float(bitPattern: try read(UInt32.self, what()))
    }

    mutating func readDouble(_ what: @autoclosure () -> String) throws -> Double {
        Double(bitPattern: try read(UInt64.self, what()))
    }

    /// A GGUF string: u64 length, then that many UTF-8 bytes (no terminator).
    mutating func readString(_ what: @autoclosure () -> String) throws -> String {
        let start = offset
        let length = try read(UInt64.self, "length of \(what())")
        guard length <= UInt64(remaining) else {
            throw GGUFError.truncated(what: what(), offset: offset, needed: Int(clamping: length), fileSize: size)
        }
        let bytes = UnsafeRawBufferPointer(start: base + offset, count: Int(length))
        offset += Int(length)
        guard let s = String(validating: bytes, as: UTF8.self) else {
            throw GGUFError.invalidString(what: what(), offset: start)
        }
        return s
    }

    mutating func seek(to position: Int) { offset = position }
}

extension String {
    /// Decodes UTF-8, returning nil on invalid input (portable to Swift 6.0).
    init?(validating bytes: UnsafeRawBufferPointer, as _: UTF8.Type) {
        let buf = bytes.bindMemory(to: UInt8.self)
        let decoded = String(decoding: buf, as: UTF8.self)
        // Repair replaces invalid sequences with U+FFFD, so the bytes differ exactly when the input was invalid.
        guard decoded.utf8.elementsEqual(buf) else { return nil }
        self = decoded
    }
}
