import ArgumentParser
import Experiments
import Foundation
import SweepModel

/// `grainsweep plan SPEC`: validates a sweep spec and shows what it expands into.
struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Validate a sweep spec and print its tasks.",
        discussion: "Every problem of the spec is reported at once on stderr, as FILE:LINE:COLUMN: error: ...; the exit status is then non-zero. The format is described in sweeps/README.md.")

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case summary, csv
    }

    @Argument(help: "The sweep spec, e.g. sweeps/quickstart.yaml.")
    var spec: String

    @Option(help: "summary: counts, axes and the estimated work; csv: task_id then every parameter, one row per task.")
    var format: Format = .summary

    @Option(help: "Refuse specs whose grid (before excludes) has more tasks than this.")
    var maxTasks: Int = SweepLimits().maximumTasks

    @Option(help: "Cores assumed by the summary's wall-time estimate.")
    var cores: Int = 2

    @Flag(help: "Print the time taken to load and to render on stderr.")
    var timing = false

    func validate() throws {
        guard maxTasks > 0 else { throw ValidationError("--max-tasks must be positive") }
        guard cores > 0 else { throw ValidationError("--cores must be positive") }
    }

    func run() throws {
        let clock = ContinuousClock()
        let start = clock.now
        let plan: SweepPlan
        do {
            plan = try SweepLoader.load(
                path: spec, families: ExperimentCatalog.byName, defaultExperiment: ExperimentCatalog.defaultFamily.name,
                limits: SweepLimits(maximumTasks: maxTasks), commandFamily: ExperimentCatalog.commandFamily)
        } catch {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            throw ExitCode(2)
        }
        let loaded = clock.now
        switch format {
        case .summary:
            FileHandle.standardOutput.write(Data(plan.summary(cores: cores).utf8))
        case .csv:
            plan.writeCSV { chunk in FileHandle.standardOutput.write(Data(chunk)) }
        }
        if timing {
            let end = clock.now
            FileHandle.standardError.write(Data("timing: load+validate+expand \(loaded - start), render \(end - loaded), tasks \(plan.count)\n".utf8))
        }
    }
}
