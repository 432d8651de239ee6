// swift-tools-version:6.0
import PackageDescription

// Benchmarks of the training core, outside `swift test` of the main package.
//
// The main package exports no library product for TrainingCore (only the `grainsweep`
// executable), so `.package(path: "..")` cannot reach it; until it does, this package builds the
// same sources through the symlink Sources/TrainingCore -> ../../Sources/TrainingCore with the
// same flags as the main package's `hot` settings.
let targetCPU = Context.environment["GRAINSWEEP_TARGET_CPU"] ?? "haswell"
#if arch(x86_64)
let cpuFlags = ["-target-cpu", targetCPU]
#else
let cpuFlags: [String] = []
#endif
let hot: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .unsafeFlags(["-O", "-enforce-exclusivity=unchecked"] + cpuFlags),
]

let package = Package(
    name: "grainsweep-benchmarks",
    targets: [
        .target(name: "TrainingCore", swiftSettings: hot),
        .executableTarget(name: "CoreBench", dependencies: ["TrainingCore"], swiftSettings: hot),
    ]
)
