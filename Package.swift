// swift-tools-version:6.0
import PackageDescription

/// Settings every target of ours shares (as swift-log and grpc-swift-2 do).
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

/// The training core is compiled with optimisation even in debug builds: its kernels run tens of
/// times slower at -Onone and the test suite trains real (small) tasks. The CPU baseline decides
/// whether vector FMAs become instructions or per-lane library calls; `haswell` (x86-64-v3:
/// AVX2 + FMA) runs on every x86 cluster node of the last decade. Set GRAINSWEEP_TARGET_CPU
/// (e.g. `native`) to build for one host only. Bits do not depend on the choice: the kernels fix
/// their arithmetic order in the source.
let targetCPU = Context.environment["GRAINSWEEP_TARGET_CPU"] ?? "haswell"
#if arch(x86_64)
let cpuFlags = ["-target-cpu", targetCPU]
#else
let cpuFlags: [String] = []
#endif
let hot: [SwiftSetting] = strict + [
    .unsafeFlags(["-O", "-enforce-exclusivity=unchecked"] + cpuFlags),
]

let package = Package(
    name: "grainsweep",
    products: [
        .executable(name: "grainsweep", targets: ["grainsweep"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/yaslab/CSV.swift", from: "2.5.2"),
    ],
    targets: [
        // A fixed pool of compute threads with explicit ownership, lent to the tasks a slot runs.
        .target(name: "Parallelism", swiftSettings: hot),
        // log, exp and SplitMix64 in exactly specified IEEE-754 arithmetic: the same bits on every
        // host, for the training core's draws and the sweep model's sampled points (task ids).
        .target(name: "BitStableMath", swiftSettings: hot),
        // The interface between the experiment families and everything else: parameters, metrics,
        // task identity, and what a running task is given (its pool, its cancellation).
        .target(name: "ExperimentAPI", dependencies: ["Parallelism"], swiftSettings: strict),
        // The hierarchical multi-view experiment: data, network, training. Pure compute, no I/O.
        .target(name: "TrainingCore", dependencies: ["Parallelism", "BitStableMath"], swiftSettings: hot),
        // Adapters that put each experiment family behind ExperimentAPI.ExperimentFamily.
        .target(name: "Experiments", dependencies: ["ExperimentAPI", "TrainingCore", "CommandExperiment"], swiftSettings: strict),
        // Starting a program in its own process group that dies with its parent (fork/exec in C:
        // nothing but async-signal-safe calls may run between them).
        .target(name: "CSpawn"),
        // The spec-defined `command` family: runs the user's program per task and reads its
        // JSON-lines metrics.
        .target(name: "CommandExperiment", dependencies: ["ExperimentAPI", "CSpawn"], swiftSettings: strict),
        // Sweep specs (YAML), grid expansion, validation.
        .target(name: "SweepModel", dependencies: ["ExperimentAPI", "BitStableMath", "Yams"], swiftSettings: strict),
        // libzmq, and a small safe Swift layer over it (ZeroMQ).
        //
        // No `pkgConfig: "libzmq"`: Debian's libzmq.pc lists `krb5-gssapi` etc. under
        // Requires.private, and SwiftPM folds their cflags (`-isystem /usr/include/mit-krb5`) into
        // ours and warns "prohibited flag(s)" on every build. We need none of them: zmq.h lives in
        // /usr/include (on the default search path) and the modulemap's `link "zmq"` is the only
        // linker flag libzmq.pc's `Libs:` carries. A libzmq installed under another prefix would
        // need CPATH/LIBRARY_PATH (or -Xcc -I / -Xlinker -L); every supported host uses the apt package.
        .systemLibrary(name: "CZeroMQ", providers: [.apt(["libzmq3-dev"])]),
        .target(name: "ZeroMQ", dependencies: ["CZeroMQ"], swiftSettings: strict),
        // The coordinator/worker protocol: message types and their binary codec.
        .target(name: "WireProtocol", dependencies: ["ExperimentAPI"], swiftSettings: strict),
        // The coordinator's lease logic as a pure state machine (no sockets, files or clock).
        .target(name: "Leasing", dependencies: ["ExperimentAPI", "WireProtocol"], swiftSettings: strict),
        // A seeded simulation of the lease state machine with thousands of workers and faults.
        .target(name: "LeaseSimulation", dependencies: ["Leasing", "ExperimentAPI", "WireProtocol"], swiftSettings: strict),
        // Durable CSV results and curves.
        .target(
            name: "Results", dependencies: ["ExperimentAPI", .product(name: "CSV", package: "CSV.swift")],
            swiftSettings: strict),
        .target(
            name: "Coordinator",
            dependencies: [
                "ExperimentAPI", "SweepModel", "WireProtocol", "ZeroMQ", "Results", "Lifecycle", "Leasing",
                .product(name: "Logging", package: "swift-log"),
            ], swiftSettings: strict),
        .target(
            name: "Worker",
            dependencies: [
                "ExperimentAPI", "WireProtocol", "ZeroMQ", "Lifecycle",
                .product(name: "Logging", package: "swift-log"),
            ], swiftSettings: strict),
        // Stop requests from signals, shared by the coordinator and the worker.
        .target(name: "Lifecycle", swiftSettings: strict),
        // HTML + SVG reports from a results directory.
        .target(name: "Report", dependencies: ["Results", "ExperimentAPI"], swiftSettings: strict),
        .executableTarget(
            name: "grainsweep",
            dependencies: [
                "ExperimentAPI", "Experiments", "SweepModel", "Coordinator", "Worker", "Results", "Report", "ZeroMQ",
                "Lifecycle", "WireProtocol", "LeaseSimulation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ], swiftSettings: strict),

        .testTarget(name: "CommandExperimentTests", dependencies: ["CommandExperiment", "ExperimentAPI"], swiftSettings: strict),
        .testTarget(name: "ExperimentAPITests", dependencies: ["ExperimentAPI"], swiftSettings: strict),
        .testTarget(
            name: "TrainingCoreTests", dependencies: ["TrainingCore", "Experiments", "ExperimentAPI", "Parallelism"],
            swiftSettings: hot),
        .testTarget(name: "SweepModelTests", dependencies: ["SweepModel", "Experiments", "ExperimentAPI", "BitStableMath"], swiftSettings: strict),
        .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ"], swiftSettings: strict),
        .testTarget(name: "WireProtocolTests", dependencies: ["WireProtocol", "ExperimentAPI"], swiftSettings: strict),
        .testTarget(name: "ResultsTests", dependencies: ["Results", "ExperimentAPI"], swiftSettings: strict),
        .testTarget(
            name: "CoordinatorTests",
            dependencies: ["Coordinator", "Worker", "Experiments", "SweepModel", "WireProtocol", "ZeroMQ", "ExperimentAPI", "Leasing", "Results"],
            swiftSettings: strict),
        .testTarget(
            name: "LeasingTests", dependencies: ["Leasing", "LeaseSimulation", "ExperimentAPI", "WireProtocol"],
            swiftSettings: strict),
        .testTarget(name: "ReportTests", dependencies: ["Report", "Results", "ExperimentAPI", "Experiments"], swiftSettings: strict),
        // Real processes: builds and runs the grainsweep executable.
        .testTarget(
            name: "IntegrationTests", dependencies: ["grainsweep", "Results", "ExperimentAPI", "ZeroMQ", "WireProtocol"],
            swiftSettings: strict),
    ]
)
