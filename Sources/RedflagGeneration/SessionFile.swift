import CLZ4
import Foundation
import RedflagModel

/// Snapshots of a conversation — token history plus KV cache — on disk, LZ4-compressed.
///
/// Layout (little-endian):
/// ```
/// 0   magic "RFLGSESS"            8 bytes
/// 8   format version (u32) = 1    12  reserved (u32)
/// 16  model fingerprint (u64)     24  layer count (u32)   28  KV dim (u32)
/// 32  context size (u32)          36  token count (u32)
/// 40  raw payload bytes (u64)     48  compressed payload bytes (u64)
/// 56  payload checksum (u64, FastHash of the compressed bytes)
/// 64  architecture (16 bytes, zero-padded)
/// 80  header checksum (u64, FastHash of bytes 0..<80)
/// 88  payload: chunks of { raw size u32, compressed size u32, LZ4 block }
/// ```
/// The raw payload is the tokens (i32) followed by every layer's keys then values for the cached positions
/// (f32), byte-plane shuffled (all first bytes, then all second bytes, …) so LZ4 finds the repeated exponents.
/// Writes go to a temporary file that is fsynced and renamed: an interrupted save never destroys the previous
/// snapshot. Restores check everything before touching the context.
public enum SessionFile {
    public static let magic: [UInt8] = Array("RFLGSESS".utf8)
    public static let version: UInt32 = 1
    static let headerSize = 88
    static let chunkSize = 32 << 20

    public struct Info: Sendable {
        public var tokens: Int
        public var rawBytes: Int
        public var fileBytes: Int
    }

    /// Saves `context`'s tokens and KV cache to `path`.
    @discardableResult
    public static func save(_ context: InferenceContext, to path: String) throws -> Info {
        let c = context.model.config
        let n = context.position
        let kvBytes = n * c.kvDim * 4
        let raw = n * 4 + 2 * c.layerCount * kvBytes
        let buf = UnsafeMutableRawPointer.allocate(byteCount: max(raw, 1), alignment: 64)
        defer { buf.deallocate() }
        context.tokens.withUnsafeBytes { buf.copyMemory(from: $0.baseAddress!, byteCount: n * 4) }
        // Byte-plane shuffle of the floats.
        let floats = 2 * c.layerCount * n * c.kvDim
        let planes = (buf + n * 4).assumingMemoryBound(to: UInt8.self)
        var f = 0
        for l in 0..<c.layerCount {
            let (k, v) = context.cache.layerBytes(layer: l, count: n)
            for part in [k, v] {
                let src = part.bindMemory(to: UInt8.self)
                for i in 0..<(part.count / 4) {
                    planes[f + i] = src[4 * i]
                    planes[floats + f + i] = src[4 * i + 1]
                    planes[2 * floats + f + i] = src[4 * i + 2]
                    planes[3 * floats + f + i] = src[4 * i + 3]
                }
                f += part.count / 4
            }
        }
        // Compress in chunks.
        var payload: [UInt8] = []
        payload.reserveCapacity(raw / 2)
        var off = 0
        while off < raw {
            let len = min(chunkSize, raw - off)
            let cap = Int(LZ4_compressBound(Int32(len)))
            var chunk = [UInt8](repeating: 0, count: 8 + cap)
            let produced = chunk.withUnsafeMutableBytes { dst -> Int32 in
                LZ4_compress_default((buf + off).assumingMemoryBound(to: CChar.self),
                                     (dst.baseAddress! + 8).assumingMemoryBound(to: CChar.self), Int32(len), Int32(cap))
            }
            guard produced > 0 else { throw SessionError.writeFailed(path: path, reason: "LZ4 compression failed") }
            withUnsafeBytes(of: UInt32(len).littleEndian) { chunk.replaceSubrange(0..<4, with: $0) }
            withUnsafeBytes(of: UInt32(produced).littleEndian) { chunk.replaceSubrange(4..<8, with: $0) }
            payload += chunk.prefix(8 + Int(produced))
            off += len
        }
        var header = [UInt8](repeating: 0, count: headerSize)
        func put<T: FixedWidthInteger>(_ v: T, at o: Int) { withUnsafeBytes(of: v.littleEndian) { header.replaceSubrange(o..<(o + $0.count), with: $0) } }
        header.replaceSubrange(0..<8, with: magic)
        put(version, at: 8)
        put(context.model.fingerprint, at: 16)
        put(UInt32(c.layerCount), at: 24)
        put(UInt32(c.kvDim), at: 28)
        put(UInt32(context.contextSize), at: 32)
        put(UInt32(n), at: 36)
        put(UInt64(raw), at: 40)
        put(UInt64(payload.count), at: 48)
        put(payload.withUnsafeBytes { FastHash.hash($0) }, at: 56)
        let arch = Array((context.model.gguf.string("general.architecture") ?? "?").utf8.prefix(16))
        header.replaceSubrange(64..<(64 + arch.count), with: arch)
        put(header.withUnsafeBytes { FastHash.hash(UnsafeRawBufferPointer(rebasing: $0[0..<80])) }, at: 80)
        try writeAtomically(path: path, parts: [header, payload])
        return Info(tokens: n, rawBytes: raw, fileBytes: headerSize + payload.count)
    }

    /// Restores a snapshot into `context` (same model, same context size). Nothing in the context changes
    /// unless every check passes.
    @discardableResult
    public static func load(_ path: String, into context: InferenceContext) throws -> Info {
        let c = context.model.config
        let data = try readWholeFile(path)
        return try data.withUnsafeBytes { (file: UnsafeRawBufferPointer) -> Info in
            guard file.count >= headerSize else { throw SessionError.truncated(path: path, size: file.count, needed: headerSize) }
            func u32(_ o: Int) -> UInt32 { UInt32(littleEndian: file.loadUnaligned(fromByteOffset: o, as: UInt32.self)) }
            func u64(_ o: Int) -> UInt64 { UInt64(littleEndian: file.loadUnaligned(fromByteOffset: o, as: UInt64.self)) }
            guard Array(file[0..<8]) == magic else { throw SessionError.badMagic(path: path) }
            guard u32(8) == version else { throw SessionError.unsupportedVersion(path: path, found: u32(8), expected: version) }
            guard FastHash.hash(UnsafeRawBufferPointer(rebasing: file[0..<80])) == u64(80) else { throw SessionError.headerCorrupted(path: path) }
            let arch = String(decoding: file[64..<80].prefix { $0 != 0 }, as: UTF8.self)
            let expectedArch = context.model.gguf.string("general.architecture") ?? "?"
            guard u64(16) == context.model.fingerprint, arch == expectedArch else {
                throw SessionError.otherModel(path: path, found: "\(arch), fingerprint \(String(u64(16), radix: 16))",
                                              expected: "\(expectedArch), fingerprint \(String(context.model.fingerprint, radix: 16))")
            }
            guard Int(u32(32)) == context.contextSize else {
                throw SessionError.contextSizeMismatch(path: path, found: Int(u32(32)), expected: context.contextSize)
            }
            guard Int(u32(24)) == c.layerCount, Int(u32(28)) == c.kvDim else {
                throw SessionError.shapeMismatch(path: path, found: "\(u32(24)) layers × \(u32(28))", expected: "\(c.layerCount) layers × \(c.kvDim)")
            }
            let n = Int(u32(36))
            guard n <= context.contextSize else { throw SessionError.tooManyTokens(path: path, found: n, contextSize: context.contextSize) }
            let raw = n * 4 + 2 * c.layerCount * n * c.kvDim * 4
            guard u64(40) == UInt64(raw) else {
                throw SessionError.payloadCorrupted(path: path, reason: "raw size \(u64(40)), expected \(raw) for \(n) tokens")
            }
            let compressed = u64(48)
            guard compressed <= UInt64(file.count - headerSize) else {
                // Saturating: a hostile header may claim up to 2⁶⁴ − 1 bytes (found by fuzzing: `88 + Int.max` trapped).
                let needed = compressed > UInt64(Int.max - headerSize) ? Int.max : headerSize + Int(compressed)
                throw SessionError.truncated(path: path, size: file.count, needed: needed)
            }
            guard Int(compressed) == file.count - headerSize else {
                throw SessionError.payloadCorrupted(path: path, reason: "\(file.count - headerSize) payload bytes, header says \(compressed)")
            }
            let payload = UnsafeRawBufferPointer(rebasing: file[headerSize...])
            guard FastHash.hash(payload) == u64(56) else { throw SessionError.payloadCorrupted(path: path, reason: "checksum mismatch") }

            let buf = UnsafeMutableRawPointer.allocate(byteCount: max(raw, 1), alignment: 64)
            defer { buf.deallocate() }
            var inOff = 0, outOff = 0
            while outOff < raw {
                guard inOff + 8 <= payload.count else { throw SessionError.payloadCorrupted(path: path, reason: "chunk header past the end") }
                let rawLen = Int(UInt32(littleEndian: payload.loadUnaligned(fromByteOffset: inOff, as: UInt32.self)))
                let compLen = Int(UInt32(littleEndian: payload.loadUnaligned(fromByteOffset: inOff + 4, as: UInt32.self)))
                guard rawLen > 0, rawLen <= raw - outOff, compLen > 0, compLen <= payload.count - inOff - 8 else {
                    throw SessionError.payloadCorrupted(path: path, reason: "chunk sizes \(rawLen)/\(compLen) out of range")
                }
                let got = LZ4_decompress_safe((payload.baseAddress! + inOff + 8).assumingMemoryBound(to: CChar.self),
                                              (buf + outOff).assumingMemoryBound(to: CChar.self), Int32(compLen), Int32(rawLen))
                guard got == Int32(rawLen) else { throw SessionError.payloadCorrupted(path: path, reason: "LZ4 block did not decode to \(rawLen) bytes") }
                inOff += 8 + compLen
                outOff += rawLen
            }
            guard inOff == payload.count else { throw SessionError.payloadCorrupted(path: path, reason: "trailing bytes after the last chunk") }

            let tokens = Array(UnsafeBufferPointer(start: buf.assumingMemoryBound(to: Int32.self), count: n))
            for t in tokens where t < 0 || Int(t) >= c.vocabularySize {
                throw SessionError.payloadCorrupted(path: path, reason: "token id \(t) outside the vocabulary")
            }
            let floats = 2 * c.layerCount * n * c.kvDim
            let planes = (buf + n * 4).assumingMemoryBound(to: UInt8.self)
            var f = 0
            for l in 0..<c.layerCount {
                let (k, v) = context.cache.layerBytes(layer: l, count: n)
                for part in [k, v] {
                    let dst = part.bindMemory(to: UInt8.self)
                    for i in 0..<(part.count / 4) {
                        dst[4 * i] = planes[f + i]
                        dst[4 * i + 1] = planes[floats + f + i]
                        dst[4 * i + 2] = planes[2 * floats + f + i]
                        dst[4 * i + 3] = planes[3 * floats + f + i]
                    }
                    f += part.count / 4
                }
            }
            context.adoptRestoredCache(tokens: tokens)
            return Info(tokens: n, rawBytes: raw, fileBytes: file.count)
        }
    }

    /// The bytes of the regular file at `path`. Not `FileManager.contents(atPath:)`: fuzzing found it leaking its
    /// 4 KiB read buffer for some small files.
    static func readWholeFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw SessionError.cannotRead(path: path, reason: errno == ENOENT ? "no such file" : String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SessionError.cannotRead(path: path, reason: String(cString: strerror(errno))) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw SessionError.cannotRead(path: path, reason: "not a regular file") }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var got = 0
        while got < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, $0.count - got) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw SessionError.cannotRead(path: path, reason: String(cString: strerror(errno))) }
            if n == 0 { break }   // the file shrank while being read: the size checks below refuse it
            got += n
        }
        bytes.removeLast(bytes.count - got)
        return bytes
    }

    /// Writes `parts` to `path` through a temporary file, fsync and rename.
    static func writeAtomically(path: String, parts: [[UInt8]]) throws {
        let tmp = path + ".tmp-\(getpid())"
        guard let fp = fopen(tmp, "wb") else { throw SessionError.writeFailed(path: path, reason: String(cString: strerror(errno))) }
        var ok = true
        for p in parts where !p.isEmpty { ok = ok && p.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, fp) } == p.count }
        ok = ok && fflush(fp) == 0 && fsync(fileno(fp)) == 0
        let reason = String(cString: strerror(errno))
        fclose(fp)
        guard ok, rename(tmp, path) == 0 else {
            unlink(tmp)
            throw SessionError.writeFailed(path: path, reason: ok ? String(cString: strerror(errno)) : reason)
        }
    }
}
