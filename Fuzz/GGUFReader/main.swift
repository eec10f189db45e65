import RedflagGGUF
import RedflagKernels
import RedflagTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// GGUF reader: any byte string either parses into a consistent file or throws a `GGUFError`; it never traps,
/// reads out of bounds or allocates more than the input justifies. On success every tensor's bytes lie inside
/// the image and every metadata accessor answers.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let file: GGUFFile
    do {
        file = try GGUFFile(bytes: bytes)
    } catch let e as GGUFError {
        _ = e.description
        return 0
    } catch {
        fatalError("GGUFFile threw a non-GGUFError: \(error)")
    }
    precondition(file.dataOffset <= max(file.fileSize, file.dataOffset) && file.alignment > 0)
    for t in file.tensors {
        precondition(t.fileOffset >= file.dataOffset && t.fileOffset + t.byteCount <= file.fileSize,
                     "tensor \(t.name) outside the file")
        precondition(t.fileOffset % file.alignment == 0, "tensor \(t.name) misaligned")
        precondition(file.tensor(t.name) != nil)
        let view = file.bytes(of: t)
        if view.count > 0 { _ = view[0] &+ view[view.count - 1] }
    }
    for key in file.metadataKeys {
        _ = file.string(key); _ = file.int(key); _ = file.double(key); _ = file.bool(key)
        _ = file.stringArray(key); _ = file.floatArray(key); _ = file.intArray(key)
        _ = file.metadata[key]?.summary
    }
    return 0
}

/// Seeds: a GGUF with metadata of every value type (nested arrays included) and tensors of every type; the tiny
/// Gemma 3 test model at its smallest shape; the first 64 KiB of the real model (header and start of the vocabulary).
func fuzzSeeds() -> [(String, [UInt8])] {
    var w = GGUFWriter()
    w.set("u8", .uint8(7)); w.set("i8", .int8(-7)); w.set("u16", .uint16(700)); w.set("i16", .int16(-700))
    w.set("u32", .uint32(70_000)); w.set("i32", .int32(-70_000)); w.set("u64", .uint64(1 << 40)); w.set("i64", .int64(-(1 << 40)))
    w.set("f32", .float32(1.5)); w.set("f64", .float64(-2.25)); w.set("bool", .bool(true)); w.set("str", .string("héllo ▁"))
    w.set("arr.u8", .array(.uint8, [.uint8(1), .uint8(2)]))
    w.set("arr.str", .array(.string, [.string("a"), .string("<0x41>")]))
    w.set("arr.f32", .array(.float32, [.float32(0.5), .float32(-1)]))
    w.set("arr.nested", .array(.array, [.array(.int32, [.int32(1)]), .array(.bool, [.bool(false)])]))
    w.set(GGUFKeys.alignment, .uint32(64))
    w.alignment = 64
    let types: [TensorType] = [.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K]
    for (i, t) in types.enumerated() { w.addTensor(name: "t\(i).\(t)", dims: i % 2 == 0 ? [t.blockSize] : [t.blockSize, 2], type: t) }
    let everyType = w.bytes { i in [UInt8](repeating: UInt8(i), count: w.tensors[i].byteCount) }

    var spec = TinyModel.Spec()
    spec.hidden = 8; spec.layers = 1; spec.heads = 1; spec.kvHeads = 1; spec.headDim = 8; spec.feedForward = 8
    var seeds: [(String, [UInt8])] = [("every-type.gguf", everyType), ("tiny-gemma3.gguf", TinyModel.bytes(spec))]
    if let path = realModelPath(), let fp = fopen(path, "rb") {
        var head = [UInt8](repeating: 0, count: 64 << 10)
        let n = head.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, fp) }
        fclose(fp)
        seeds.append(("gemma-3-270m-head.gguf", Array(head.prefix(n))))
    }
    return seeds
}

func fuzzWarmUp() {}
