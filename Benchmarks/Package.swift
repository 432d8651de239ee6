// swift-tools-version:6.0
import PackageDescription

// Benchmarks of the training core and load tools for the coordinator, outside `swift test` of the
// main package.
//
// The main package exports no library products (only the `grainsweep` executable), so
// `.package(path: "..")` cannot reach its modules; until it does, this package builds the same
// sources through symlinks (Sources/X -> ../../Sources/X), with the same target names,
// dependencies and flags as the main Package.swift.
let targetCPU = Context.environment["GRAINSWEEP_TARGET_CPU"] ?? "haswell"
#if arch(x86_64)
let cpuFlags = ["-target-cpu", targetCPU]
#else
let cpuFlags: [String] = []
#endif
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]
let hot: [SwiftSetting] = strict + [
    .unsafeFlags(["-O", "-enforce-exclusivity=unchecked"] + cpuFlags),
]

let package = Package(
    name: "grainsweep-benchmarks",
    targets: [
        .target(name: "Parallelism", swiftSettings: hot),
        .target(name: "BitStableMath", swiftSettings: hot),
        .target(name: "TrainingCore", dependencies: ["Parallelism", "BitStableMath"], swiftSettings: hot),
        .executableTarget(name: "CoreBench", dependencies: ["TrainingCore"], swiftSettings: hot),

        // What the load tool needs of the main package: the protocol, its codec, the ZeroMQ layer.
        .target(name: "ExperimentAPI", dependencies: ["Parallelism"], swiftSettings: strict),
        .systemLibrary(name: "CZeroMQ", providers: [.apt(["libzmq3-dev"])]),
        .target(name: "ZeroMQ", dependencies: ["CZeroMQ"], swiftSettings: strict),
        .target(name: "WireProtocol", dependencies: ["ExperimentAPI"], swiftSettings: strict),
        .target(name: "Lifecycle", swiftSettings: strict),
        // N simulated workers over real ZeroMQ from one process (issue 12); see run-load.sh.
        .systemLibrary(name: "CEpoll"),
        .executableTarget(
            name: "LoadWorkers",
            dependencies: ["WireProtocol", "ExperimentAPI", "ZeroMQ", "CZeroMQ", "Lifecycle", "CEpoll"],
            swiftSettings: strict),
    ]
)
