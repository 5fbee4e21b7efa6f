// swift-tools-version: 6.2
// Neurite: neural-network training for Swift on Linux, hot loops in C.
import Foundation
import PackageDescription

// OpenMP comes from Debian's libomp-dev. The toolchain's clang ships no omp.h, so the C sources
// declare the few omp_* functions they call themselves (see CSupport/threads.c).
let openMPC: [CSetting] = [
    .unsafeFlags(["-fopenmp"], .when(traits: ["OpenMP"])),
]
/// Where libomp.so is: NEURITE_OMP_LIB_DIR when set, else the highest-versioned
/// /usr/lib/llvm-N/lib that holds it (Debian installs LLVM versions side by side and libomp-dev
/// follows the distribution's default, 14 on Debian 12), else no -L at all (libomp on the default
/// linker path).
let openMPLibraryDirectory: String? = {
    if let dir = ProcessInfo.processInfo.environment["NEURITE_OMP_LIB_DIR"], !dir.isEmpty { return dir }
    let versions = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib")) ?? [])
        .compactMap { name -> Int? in name.hasPrefix("llvm-") ? Int(name.dropFirst(5)) : nil }
        .sorted(by: >)
    return versions.map { "/usr/lib/llvm-\($0)/lib" }.first { FileManager.default.fileExists(atPath: $0 + "/libomp.so") }
}()
let openMPLink: [LinkerSetting] = [
    .unsafeFlags(openMPLibraryDirectory.map { ["-L\($0)"] } ?? [], .when(platforms: [.linux], traits: ["OpenMP"])),
    .linkedLibrary("omp", .when(platforms: [.linux], traits: ["OpenMP"])),
]
// Swift numeric loops are ~100x slower unoptimised; keep debug builds (and `swift test`) usable.
let optimizeDebug: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
    name: "Neurite",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Neurite", targets: ["Neurite"]),
        .library(name: "NeuriteTensor", targets: ["NeuriteTensor"]),
        .executable(name: "neurite", targets: ["neurite"]),
        .executable(name: "neurite-bench", targets: ["NeuriteBench"]),
    ],
    traits: [
        .trait(name: "OpenMP", description: "Parallel C kernels through LLVM's libomp (Debian: libomp-dev)."),
        // MPI brings OpenMP along: `--traits MPI` replaces the default traits, and ranks still want
        // parallel kernels.
        .trait(name: "MPI", description: "Data-parallel training across processes with Open MPI (Debian: libopenmpi-dev, openmpi-bin).",
               enabledTraits: ["OpenMP"]),
        .default(enabledTraits: ["OpenMP"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .target(
            name: "CNeurite",
            dependencies: [.target(name: "CMPI", condition: .when(traits: ["MPI"]))],
            path: "CSupport",
            // -fno-math-errno: sqrtf never sets errno here, and without the flag clang keeps it a
            // scalar call, which leaves the Adam pass unvectorised (sqrtss per element).
            cSettings: openMPC + [.unsafeFlags(["-O3", "-ffp-contract=fast-honor-pragmas", "-fno-math-errno", "-std=gnu11"]),
                                  .define("NEURITE_MPI", .when(traits: ["MPI"]))],
            linkerSettings: openMPLink + [.linkedLibrary("m")]
        ),
        .target(name: "NeuriteTensor", dependencies: ["CNeurite"], swiftSettings: optimizeDebug),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .target(name: "Neurite", dependencies: ["NeuriteTensor", "CZlib"], swiftSettings: optimizeDebug),
        .executableTarget(
            name: "neurite",
            dependencies: ["Neurite", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: optimizeDebug
        ),
        .executableTarget(
            name: "NeuriteBench",
            dependencies: ["Neurite", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/NeuriteBench",
            swiftSettings: optimizeDebug
        ),
        .target(name: "TestSupport", dependencies: ["NeuriteTensor", "Neurite"], path: "Tests/TestSupport", swiftSettings: optimizeDebug),
        .testTarget(name: "NeuriteTensorTests", dependencies: ["NeuriteTensor", "TestSupport", "CNeurite"], swiftSettings: optimizeDebug),
        .testTarget(name: "NeuriteTests", dependencies: ["Neurite", "TestSupport"], swiftSettings: optimizeDebug),
        .testTarget(name: "NeuriteBenchTests", dependencies: ["NeuriteBench", "Neurite"], swiftSettings: optimizeDebug),
    ]
)
