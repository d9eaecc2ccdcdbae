// swift-tools-version:6.1
import PackageDescription

/// AVX2 + FMA code generation (haswell; the Zen machines here have both): without it `fmaf`
/// and SIMD FMA become library calls.
#if arch(x86_64)
let cpuFlags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"])]
#else
let cpuFlags: [SwiftSetting] = []
#endif

let package = Package(
    name: "mllm-cl",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "mllm-cl", targets: ["mllm-cl"]),
    ],
    // MPI (on by default): data-parallel training under mpirun, over Open MPI (libopenmpi-dev).
    // `swift build --disable-default-traits` builds without it, for single-process use.
    traits: [
        .trait(name: "MPI", description: "Data-parallel training under mpirun (Open MPI: libopenmpi-dev)"),
        .default(enabledTraits: ["MPI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // C system libraries.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        .target(
            name: "CSentencePiece",
            cxxSettings: [.unsafeFlags(["-std=c++17"])],
            linkerSettings: [.linkedLibrary("sentencepiece")]
        ),

        // Library modules, bottom to top.
        .target(name: "Support", swiftSettings: cpuFlags),
        .target(name: "SafeTensors", dependencies: ["Support"], swiftSettings: cpuFlags),
        // The processes of a data-parallel job (MPI ranks, or one process) and their collectives.
        .target(name: "Collective", dependencies: ["Support", .target(name: "CMPI", condition: .when(traits: ["MPI"]))],
                swiftSettings: cpuFlags),
        // Decode kernels with a variant per instruction set (portable, AVX2, AVX-512), chosen at run time.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "Tensor", dependencies: ["CBLAS", "CKernels"], swiftSettings: cpuFlags),
        .target(
            name: "Tokenizer",
            dependencies: ["Support", "CSentencePiece", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            swiftSettings: cpuFlags
        ),
        .target(name: "Data", dependencies: ["Support", "Tokenizer", "Tensor", "CPNG", "CTurboJPEG"], swiftSettings: cpuFlags),
        .target(name: "Model", dependencies: ["Support", "Tensor", "SafeTensors", "Tokenizer", "Data"], swiftSettings: cpuFlags),
        .target(
            name: "Train",
            dependencies: ["Support", "Collective", "Model", "Tensor", "Data", "Tokenizer", "SafeTensors", "Infer", "Eval", "Yams",
                           .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            swiftSettings: cpuFlags
        ),
        .target(name: "Infer", dependencies: ["Support", "Model", "Tensor", "Tokenizer", "Data"], swiftSettings: cpuFlags),
        .target(name: "Eval", dependencies: ["Support", "Model", "Tokenizer", "Tensor", "Data"], swiftSettings: cpuFlags),
        .target(name: "Bench", dependencies: ["Model", "Train", "Tensor", "CKernels", "Collective"], swiftSettings: cpuFlags),
        // The parsers a user's files reach, as functions of bytes, for libFuzzer and the corpus tests.
        .target(name: "Fuzzing", dependencies: ["Support", "SafeTensors", "Model", "Tokenizer", "Data", "Eval", "Train"],
                swiftSettings: cpuFlags),

        // Gradient checking and fixture paths, for tests only.
        .target(name: "TestSupport", dependencies: ["Tensor"], swiftSettings: cpuFlags),

        // The command-line front end: flags in, one library call, output.
        .executableTarget(
            name: "mllm-cl",
            dependencies: [
                "Support", "Collective", "Model", "Train", "Infer", "Bench", "Tokenizer", "Data", "Eval",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: cpuFlags
        ),
        // libFuzzer's entry point over Fuzzing (scripts/fuzz.sh); without -DFUZZING, a replayer.
        .executableTarget(name: "mllm-cl-fuzz", dependencies: ["Fuzzing"], swiftSettings: cpuFlags),

        .testTarget(name: "TensorTests", dependencies: ["Tensor", "CKernels", "TestSupport"], swiftSettings: cpuFlags),
        .testTarget(name: "SafeTensorsTests", dependencies: ["SafeTensors", "TestSupport"], swiftSettings: cpuFlags),
        .testTarget(name: "ModelTests", dependencies: ["Model", "Tensor", "Data", "Train", "Infer", "Tokenizer", "SafeTensors", "TestSupport"],
                    swiftSettings: cpuFlags),
        .testTarget(
            name: "TrainTests",
            dependencies: ["Train", "Model", "Tensor", "Data", "Tokenizer", "SafeTensors", "Eval", "TestSupport"],
            swiftSettings: cpuFlags
        ),
        .testTarget(name: "EvalTests", dependencies: ["Eval", "Model", "Tensor", "Tokenizer", "Data", "TestSupport"], swiftSettings: cpuFlags),
        .testTarget(name: "DataTests", dependencies: ["Data", "Tokenizer", "TestSupport"], swiftSettings: cpuFlags),
        .testTarget(name: "FuzzingTests", dependencies: ["Fuzzing", "TestSupport"], swiftSettings: cpuFlags),
        // Runs the mllm-cl binary (built by `swift test` with every product) on the hostile-input corpus.
        .testTarget(name: "CLITests", dependencies: ["TestSupport", "CKernels"], swiftSettings: cpuFlags),
    ],
    cxxLanguageStandard: .cxx17
)
