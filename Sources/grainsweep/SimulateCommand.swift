import ArgumentParser
import Foundation
import LeaseSimulation

/// `grainsweep simulate`: runs the coordinator's lease state machine against simulated workers,
/// faults and hostile peers, from one seed, and checks its invariants (a developer's tool: a
/// failing seed from the test suite replays exactly with the same options).
struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Deterministic simulation of the coordinator's lease logic (replay a seed, or a long run).")

    @Option(help: "First seed.")
    var seed: UInt64 = 1

    @Option(help: "Number of seeds to run, from --seed on.")
    var seeds: Int = 1

    @Option(help: "Simulated workers.")
    var workers: Int = 200

    @Option(help: "Tasks of the simulated sweep.")
    var tasks: Int = 4_000

    @Option(help: "Hosts the workers are spread over.")
    var hosts: Int = 60

    @Option(name: .customLong("trace-task"), help: "Print what happens to this task (an index), to replay a failure.")
    var traceTask: Int?

    @Flag(name: .customLong("lossless-links"), help: "Links lose and duplicate nothing (as one TCP connection): also checks that no curve point is lost.")
    var losslessLinks = false

    @Flag(name: .customLong("no-faults"), help: "No faults, bad tasks or hostile peers (a throughput baseline).")
    var noFaults = false

    func validate() throws {
        guard workers >= 1 && workers <= 1_000_000 else { throw ValidationError("--workers must be in 1...1000000") }
        guard tasks >= 1 && tasks <= 100_000_000 else { throw ValidationError("--tasks must be in 1...100000000") }
        guard seeds >= 1 else { throw ValidationError("--seeds must be at least 1") }
        guard hosts >= 1 else { throw ValidationError("--hosts must be at least 1") }
    }

    func run() throws {
        // Dictionary and Set iteration orders follow Swift's per-process hash seed; a seed replays
        // exactly only with deterministic hashing, so ask for it and start again if it is off.
        if getenv("SWIFT_DETERMINISTIC_HASHING") == nil {
            setenv("SWIFT_DETERMINISTIC_HASHING", "1", 1)
            var argv = CommandLine.arguments.map { strdup($0) } + [nil]
            execv("/proc/self/exe", &argv)
            throw ValidationError("cannot restart with SWIFT_DETERMINISTIC_HASHING=1 (execv: errno \(errno))")
        }
        var failed = 0
        for s in seed..<(seed + UInt64(seeds)) {
            var options = SimulationOptions(seed: s)
            options.workers = workers
            options.tasks = tasks
            options.hosts = hosts
            if noFaults { options.disableFaults() }
            options.traceTask = traceTask
            if losslessLinks {
                options.loss = 0
                options.duplication = 0
            }
            let started = Date()
            let report = LeaseSimulation(options: options).run()
            let seconds = Date().timeIntervalSince(started)
            print(report.description + String(format: " [%.1f s wall, %.0f events/s]", seconds, Double(report.events) / max(seconds, 1e-9)))
            for v in report.violations { print("  violation: \(v)") }
            if !report.violations.isEmpty { failed += 1 }
        }
        if failed > 0 {
            FileHandle.standardError.write(Data("error: \(failed) seed(s) violated invariants\n".utf8))
            throw ExitCode(1)
        }
    }
}
