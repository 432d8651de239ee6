import ArgumentParser

@main
struct GrainSweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grainsweep",
        abstract: "Sweeps of the label-granularity experiment across many machines.")
}
