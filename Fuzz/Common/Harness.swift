#if canImport(Glibc)
import Glibc
#endif
import RedflagGGUF
import RedflagTestSupport
import RedflagTokenizer

// Shared by every fuzz target (compiled into each). A target defines `LLVMFuzzerTestOneInput`, `fuzzSeeds()` (its
// seed inputs, written by `FUZZ_SEEDS=1 tools/fuzz.sh`) and `fuzzWarmUp()` (builds its long-lived state before
// the first input, so that neither the 1 s timeout nor the leak check counts it); this file provides libFuzzer's
// initialize hook.

/// libFuzzer calls this once before the first input. With `FUZZ_WRITE_SEEDS=DIR` the target writes its seeds
/// into DIR and exits instead of fuzzing.
@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>,
                           _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    if let dir = getenv("FUZZ_WRITE_SEEDS").map({ String(cString: $0) }) {
        for (name, bytes) in fuzzSeeds() {
            let path = dir + "/" + name
            guard let fp = fopen(path, "wb") else { fatalError("cannot write \(path)") }
            _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, fp) }
            fclose(fp)
        }
        _exit(0)   // skip the at-exit leak check: the long-lived globals are not leaks
    }
    fuzzWarmUp()
    return 0
}

/// The real model's path (`$REDFLAG_MODEL`, else the default under `models/`), when the file exists.
func realModelPath() -> String? {
    let candidates = getenv("REDFLAG_MODEL").map { [String(cString: $0)] }
        ?? ["models/gemma-3-270m-q4_k_m.gguf", TestPaths.modelPath]   // run from the repository root, or a build's own tree
    return candidates.first { access($0, R_OK) == 0 }
}

/// The real model's tokenizer (262,144 pieces: every special, user-defined and byte token of Gemma 3), or the tiny
/// test vocabulary when the model file is absent.
let fuzzTokenizer: Tokenizer = {
    do {
        if let path = realModelPath() {
            return try Tokenizer(gguf: try GGUFFile(path: path))
        }
        fputs("fuzz: real model absent, using the tiny test vocabulary\n", stderr)
        return try Tokenizer(gguf: try TinyModel.gguf(TinyModel.Spec()))
    } catch {
        fatalError("fuzz: cannot build the tokenizer: \(error)")
    }
}()

/// Reads `count` bytes of `data` from `offset` as little-endian integers of type `T`.
func littleEndianValues<T: FixedWidthInteger>(_ data: UnsafeBufferPointer<UInt8>, as _: T.Type) -> [T] {
    let n = data.count / MemoryLayout<T>.size
    return (0..<n).map { i in
        T(littleEndian: UnsafeRawBufferPointer(data).loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self))
    }
}

extension String {
    var bytes: [UInt8] { Array(utf8) }
}
