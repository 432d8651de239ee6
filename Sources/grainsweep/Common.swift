import ArgumentParser
import ExperimentAPI
import Experiments
import Foundation
import Lifecycle
import Logging
import SweepModel

/// The version this build announces (in hello messages, the manifest and `--version`).
let grainsweepVersion = "0.1.0"

/// Options every long-running command shares.
struct LoggingOptions: ParsableArguments {
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    /// Sends log lines to stderr at the chosen level, through ``Console`` so that they never
    /// share a line with the progress bar. Called once, by each command's `run`.
    func bootstrap() {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler(label: label, stream: ConsoleStream(), metadataProvider: nil)
            handler.logLevel = level
            return handler
        }
    }
}

/// The log handler's output: whole lines to ``Console/standardError``.
struct ConsoleStream: TextOutputStream, Sendable {
    mutating func write(_ string: String) { Console.standardError.writeLine(string) }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Loads and validates a sweep spec against the experiment families of this build, printing
/// every error (file:line:column, field, found, expected) and exiting non-zero on failure.
func loadPlan(_ path: String, maxTasks: Int?) throws -> SweepPlan {
    var limits = SweepLimits()
    if let maxTasks { limits.maximumTasks = maxTasks }
    do {
        return try SweepLoader.load(path: path, families: ExperimentCatalog.byName, limits: limits,
                                    commandFamily: ExperimentCatalog.commandFamily)
    } catch {
        FileHandle.standardError.write(Data("\(error)\n".utf8))
        throw ExitCode(2)
    }
}

/// Prints a message to stderr and exits with `code`.
func fail(_ message: String, code: Int32 = 1) -> ExitCode {
    Console.standardError.writeLine("error: \(message)")
    return ExitCode(code)
}

/// The name this host reports to coordinators.
func hostName() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count) == 0 else { return "unknown" }
    return cString(buffer)
}

/// The number of cores this process may use (Foundation reads the affinity mask and cgroup quota).
func usableCores() -> Int {
    max(1, ProcessInfo.processInfo.activeProcessorCount)
}

/// The text of a NUL-terminated C buffer.
func cString(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
