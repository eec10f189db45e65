#if canImport(Glibc)
import Glibc
#endif
import RedflagGGUF
import RedflagGeneration
import RedflagKernels
import RedflagModel
import RedflagTestSupport

/// Session-file loader on arbitrary files, restored into a context of a tiny Gemma 3 model (1 layer, KV dim 32,
/// context 16). Byte 0 picks structure-aware fix-ups applied before the rest is written to a file and loaded, so
/// the fuzzer gets past the checksums and identity checks to the chunk decoder:
/// bit 0: magic, version, model fingerprint, architecture, shape and context size of this model;
/// bit 3: a token count ≤ the context and the matching raw size; bit 1: payload length and checksum;
/// bit 2: header checksum.
///
/// Properties: a refused file throws a `SessionError` and leaves the context untouched (position 0); an accepted
/// one sets exactly its token count, every token inside the vocabulary.
let model: Gemma3Model = {
    var spec = TinyModel.Spec()
    spec.hidden = 32; spec.layers = 1; spec.heads = 1; spec.kvHeads = 1; spec.headDim = 32; spec.feedForward = 32
    do { return try Gemma3Model(gguf: try TinyModel.gguf(spec), format: .exact) } catch { fatalError("tiny model: \(error)") }
}()
let contextSize = 16
let context: InferenceContext = {
    do { return try InferenceContext(model: model, contextSize: contextSize) } catch { fatalError("context: \(error)") }
}()
/// On tmpfs when there is one: a disk-backed /tmp made `fopen` take over a second under load.
let scratchPath = (access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") + "/redflag-fuzz-session-\(getpid()).rfs"

func put<T: FixedWidthInteger>(_ v: T, at o: Int, in bytes: inout [UInt8]) {
    withUnsafeBytes(of: v.littleEndian) { bytes.replaceSubrange(o..<(o + $0.count), with: $0) }
}
func u32(_ bytes: [UInt8], _ o: Int) -> UInt32 {
    bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: o, as: UInt32.self)) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size >= 1 else { return 0 }
    let mode = data[0]
    var file = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let c = model.config
    if file.count >= 88 {
        if mode & 1 != 0 {
            file.replaceSubrange(0..<8, with: SessionFile.magic)
            put(SessionFile.version, at: 8, in: &file)
            put(model.fingerprint, at: 16, in: &file)
            put(UInt32(c.layerCount), at: 24, in: &file)
            put(UInt32(c.kvDim), at: 28, in: &file)
            put(UInt32(contextSize), at: 32, in: &file)
            let arch = Array("gemma3".utf8) + [UInt8](repeating: 0, count: 10)
            file.replaceSubrange(64..<80, with: arch)
        }
        if mode & 8 != 0 {
            let n = Int(u32(file, 36)) % (contextSize + 1)
            put(UInt32(n), at: 36, in: &file)
            put(UInt64(n * 4 + 2 * c.layerCount * n * c.kvDim * 4), at: 40, in: &file)
        }
        if mode & 2 != 0 {
            put(UInt64(file.count - 88), at: 48, in: &file)
            let sum = file.withUnsafeBytes { FastHash.hash(UnsafeRawBufferPointer(rebasing: $0[88...])) }
            put(sum, at: 56, in: &file)
        }
        if mode & 4 != 0 {
            let sum = file.withUnsafeBytes { FastHash.hash(UnsafeRawBufferPointer(rebasing: $0[0..<80])) }
            put(sum, at: 80, in: &file)
        }
    }
    guard let fp = fopen(scratchPath, "wb") else { fatalError("cannot write \(scratchPath)") }
    _ = file.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, fp) }
    fclose(fp)
    do {
        let info = try SessionFile.load(scratchPath, into: context)
        precondition(context.position == info.tokens && info.tokens <= contextSize)
        for t in context.tokens { precondition(t >= 0 && Int(t) < c.vocabularySize) }
        context.truncate(to: 0)
    } catch let e as SessionError {
        precondition(context.position == 0, "a refused file changed the context: \(e)")
        _ = e.description
    } catch {
        fatalError("SessionFile.load threw a non-SessionError: \(error)")
    }
    return 0
}

/// Seeds: real snapshots of the tiny model (empty, 5 and 16 tokens), raw and with every fix-up bit set.
func fuzzSeeds() -> [(String, [UInt8])] {
    var seeds: [(String, [UInt8])] = []
    for n in [0, 5, 16] {
        do {
            let ctx = try InferenceContext(model: model, contextSize: contextSize)
            if n > 0 { try ctx.evaluate((0..<n).map { TinyModel.firstNormalID + Int32($0 % 9) }) }
            let path = scratchPath + ".seed"
            try SessionFile.save(ctx, to: path)
            guard let fp = fopen(path, "rb") else { fatalError("cannot read \(path)") }
            var bytes: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 4096)
            while true {
                let got = buf.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, fp) }
                if got == 0 { break }
                bytes += buf.prefix(got)
            }
            fclose(fp)
            unlink(path)
            seeds.append(("tiny-\(n)-tokens.rfs", [0] + bytes))
            seeds.append(("tiny-\(n)-tokens-fixups.rfs", [0x0F] + bytes))
        } catch {
            fatalError("seed of \(n) tokens: \(error)")
        }
    }
    return seeds
}

func fuzzWarmUp() { _ = context; _ = model.fingerprint }
