import ArgumentParser

/// The grainsweep command: parses arguments and hands over to the libraries.
@main
struct GrainSweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grainsweep",
        abstract: "Sweeps of the label-granularity experiment, on one machine or many.",
        version: grainsweepVersion,
        subcommands: [
            RunCommand.self, TrainCommand.self, PlanCommand.self, CoordinatorCommand.self, WorkerCommand.self,
            KeygenCommand.self, ReportCommand.self, SimulateCommand.self,
        ])
}
