import ArgumentParser
import Foundation

/// The grainsweep command: parses arguments and hands over to the libraries.
///
/// Exit status, the same for every subcommand (see README, "Exit status"):
/// 0 success; 1 an error of this machine or of a task (cannot bind, cannot write, a task
/// failed); 2 invalid input (arguments, a sweep spec, a key file, a results directory of another
/// sweep); 3 a sweep finished with quarantined tasks; 4 a worker gave up waiting for a
/// coordinator; 128+N a sweep stopped by signal N before its end (130 Ctrl-C, 143 SIGTERM):
/// everything finished is saved, and running the same command again resumes.
@main
struct GrainSweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grainsweep",
        abstract: "Sweeps of the label-granularity experiment, on one machine or many.",
        discussion: """
            Exit status: 0 success; 1 an error of this machine or of a task; 2 invalid input \
            (arguments, spec, key files); 3 the sweep finished with quarantined tasks; 4 a worker \
            gave up waiting for a coordinator; 128+N the sweep was stopped by signal N (130: \
            Ctrl-C, 143: SIGTERM) and resumes when run again.
            """,
        version: grainsweepVersion,
        subcommands: [
            RunCommand.self, TrainCommand.self, PlanCommand.self, CoordinatorCommand.self, WorkerCommand.self,
            KeygenCommand.self, ReportCommand.self, SimulateCommand.self,
        ])

    /// Parses, runs and exits with the documented status. Argument errors (an unknown
    /// subcommand or option, a value out of range) are invalid input, 2, where the argument
    /// parser would use 64; every message on stderr starts with "error:".
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if code == .success {
                if !message.isEmpty { print(message) }
                Foundation.exit(0)
            }
            if !message.isEmpty {
                FileHandle.standardError.write(Data((Self.lowercasingErrorPrefix(message) + "\n").utf8))
            }
            Foundation.exit(code == .validationFailure ? 2 : code.rawValue)
        }
    }

    /// "Error: x" (the argument parser's spelling) becomes "error: x", as in every other message.
    static func lowercasingErrorPrefix(_ message: String) -> String {
        message.hasPrefix("Error: ") ? "error: " + message.dropFirst("Error: ".count) : message
    }
}
