// swift-tools-version:6.0
import PackageDescription

import Foundation

/// The CPU the SIMD kernels are compiled for. x86_64 hosts default to haswell (AVX2/FMA/F16C, any x86 since
/// 2015); set `REDFLAG_TARGET_CPU` to override (e.g. `cortex-a72`, `cortex-a76` when cross-building for a
/// Raspberry Pi, or `none` for the compiler's baseline).
let targetCPU: String? = {
    if let cpu = ProcessInfo.processInfo.environment["REDFLAG_TARGET_CPU"] { return cpu == "none" ? nil : cpu }
    #if arch(x86_64)
    return "haswell"
    #else
    return nil
    #endif
}()

/// x86-64 CPUs (LLVM names) the AVX2 kernels (`DotProductsX86`, `-D REDFLAG_AVX2`) are not built for; any
/// other x86 target CPU (haswell, the default, and everything newer: znver*, skylake*, x86-64-v3/v4, native)
/// gets them.
let preAVX2 = ["x86-64", "x86-64-v2", "core2", "nehalem", "westmere", "sandybridge", "ivybridge",
               "bonnell", "silvermont", "goldmont", "goldmont-plus", "tremont", "btver1", "btver2",
               "bdver1", "bdver2", "k8", "amdfam10"]
let x86AVX2: Bool = {
    #if arch(x86_64)
    return targetCPU.map { !preAVX2.contains($0) } ?? false
    #else
    return false
    #endif
}()

/// Release builds of the kernels need the SIMD code specialized and inlined across files;
/// `-Ounchecked` is deliberately not used (the GGUF loader relies on bounds checks).
let kernelSettings: [SwiftSetting] = [
    .unsafeFlags(["-cross-module-optimization"] + (targetCPU.map { ["-target-cpu", $0] } ?? []),
                 .when(configuration: .release)),
] + (x86AVX2 ? [.define("REDFLAG_AVX2", .when(configuration: .release))] : [])

/// swift-log for the server's request log. Its available releases (1.16.x) need swift-tools 6.2; older toolchains
/// (Debian trixie's Swift 6.0.3 in the aarch64 cross-build) build the server with its own minimal `Logger`
/// (`Sources/RedflagServer/FallbackLogger.swift`, same API subset, same line format).
#if compiler(>=6.2)
let loggingPackages: [Package.Dependency] = [.package(url: "https://github.com/apple/swift-log", from: "1.6.0")]
let logging: [Target.Dependency] = [.product(name: "Logging", package: "swift-log")]
#else
let loggingPackages: [Package.Dependency] = []
let logging: [Target.Dependency] = []
#endif

let package = Package(
    name: "redflag",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Redflag", targets: ["RedflagGeneration", "RedflagFlag", "RedflagModel", "RedflagTokenizer", "RedflagGGUF", "RedflagKernels"]),
        .executable(name: "redflag", targets: ["RedflagCLI"]),
        // The C ABI (include/redflag.h) as a shared library: libRedflagC.so.
        .library(name: "RedflagC", type: .dynamic, targets: ["RedflagCAPI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ] + loggingPackages,
    targets: [
        // System libraries (Debian: libopenblas-dev, liblz4-dev).
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CLZ4", path: "Sources/CLZ4", pkgConfig: "liblz4",
                       providers: [.apt(["liblz4-dev"])]),

        // Quant block layouts, dequantization, SIMD dot products, GEMV/GEMM, norms, RoPE, softmax.
        .target(name: "RedflagKernels", dependencies: ["CBLAS", "CPrefetch"], swiftSettings: kernelSettings),
        // One static inline C function: the software prefetch hint the GEMV kernels use (Swift has none).
        .target(name: "CPrefetch"),
        // GGUF: reading (mmap, checked), writing, metadata keys.
        .target(name: "RedflagGGUF", dependencies: ["RedflagKernels"]),
        // SentencePiece-style tokenizer built from GGUF metadata.
        .target(name: "RedflagTokenizer", dependencies: ["RedflagGGUF"]),
        // Gemma 3 transformer: config, weights, KV cache, forward pass.
        .target(name: "RedflagModel", dependencies: ["RedflagKernels", "RedflagGGUF"], swiftSettings: kernelSettings),
        // The red flag: fused LM head (online log-sum-exp), flag configuration and policies.
        .target(name: "RedflagFlag", dependencies: ["RedflagKernels", "RedflagModel", "RedflagGGUF"], swiftSettings: kernelSettings),
        // Sampler, generation loop, streaming events.
        .target(name: "RedflagGeneration", dependencies: ["RedflagFlag", "RedflagModel", "RedflagTokenizer", "RedflagGGUF", "RedflagKernels", "CLZ4"]),
        // The C ABI declared in include/redflag.h.
        .target(name: "RedflagCAPI", dependencies: ["RedflagGeneration"]),
        // `redflag serve`: HTTP/1.1 on POSIX sockets, OpenAI-compatible endpoints, one generation slot + FIFO queue.
        .target(name: "RedflagServer", dependencies: ["RedflagGeneration", "RedflagFlag", "RedflagTokenizer"] + logging),
        // The `redflag` command-line tool, one file per subcommand.
        .executableTarget(name: "RedflagCLI", dependencies: [
            "RedflagGeneration", "RedflagServer",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ] + logging),

        // Paths to the real model and the golden files, shared by the test targets.
        .target(name: "RedflagTestSupport", dependencies: ["RedflagGGUF", "RedflagKernels"], path: "Tests/RedflagTestSupport"),
        .testTarget(name: "RedflagKernelsTests", dependencies: ["RedflagKernels", "RedflagTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "RedflagGGUFTests", dependencies: ["RedflagGGUF", "RedflagTestSupport"]),
        .testTarget(name: "RedflagTokenizerTests", dependencies: ["RedflagTokenizer", "RedflagGGUF", "RedflagTestSupport"]),
        .testTarget(name: "RedflagModelTests", dependencies: ["RedflagModel", "RedflagGGUF", "RedflagKernels", "RedflagTestSupport"]),
        .testTarget(name: "RedflagCLITests", dependencies: ["RedflagCLI", "RedflagTestSupport"]),
        .testTarget(name: "RedflagGenerationTests", dependencies: ["RedflagGeneration", "RedflagModel", "RedflagGGUF", "RedflagFlag", "RedflagTokenizer", "RedflagTestSupport"]),
        .testTarget(name: "RedflagServerTests", dependencies: ["RedflagServer", "RedflagGeneration", "RedflagModel", "RedflagGGUF", "RedflagTokenizer", "RedflagFlag", "RedflagTestSupport"] + logging),
        .testTarget(name: "RedflagFlagTests", dependencies: ["RedflagFlag", "RedflagModel", "RedflagKernels", "RedflagTestSupport"]),
    ],
    // Swift 5 language mode: the kernels hand raw pointers to worker threads by design.
    swiftLanguageModes: [.v5]
)
