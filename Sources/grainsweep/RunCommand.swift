import ArgumentParser
import Coordinator
import Foundation
import Lifecycle
import Logging
import Synchronization

/// `grainsweep run`: the embedded default: a coordinator in this process and local worker
/// processes, same protocol over loopback. One machine, no set-up.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a sweep on this machine: a coordinator and local worker processes.",
        discussion: """
            Workers that die are replaced (up to 3 times the worker count). Running it again on the \
            same --out directory resumes: finished tasks are not run again. Exit status as for \
            `grainsweep coordinator`.
            """)

    @Argument(help: "The sweep spec (YAML), e.g. sweeps/quickstart.yaml.")
    var spec: String

    @OptionGroup var serve: ServeOptions

    @Option(help: "Local worker processes, 1...256 (default: one per usable core).")
    var workers: Int?

    @Option(help: "Threads per task in each worker, 1...1024 (default: usable cores divided by workers, at least 1).")
    var threads: Int?

    @Option(name: .customLong("worker-log-level"), help: "Log level of the worker processes.")
    var workerLogLevel: Logger.Level = .warning

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if let workers, workers < 1 || workers > 256 { throw ValidationError("--workers must be in 1...256") }
        if let threads, threads < 1 || threads > 1024 { throw ValidationError("--threads must be in 1...1024") }
    }

    func run() throws {
        logging.bootstrap()
        let logger = Logger(label: "grainsweep.run")
        let plan = try loadPlan(spec, maxTasks: serve.maxTasks)
        let cores = usableCores()
        let workerCount = workers ?? cores
        let threadCount = threads ?? max(1, cores / workerCount)
        let shutdown = ShutdownRequest()
        shutdown.installSignalHandlers()
        let coordinator: Coordinator
        do {
            coordinator = try Coordinator(
                plan: plan, outDirectory: serve.out, configuration: serve.configuration(bind: "tcp://127.0.0.1:0"),
                logger: Logger(label: "grainsweep.coordinator"))
        } catch let error as CoordinatorError where error.isInvalidInput {
            throw fail("\(error)", code: 2)
        } catch {
            throw fail("\(error)")
        }
        // A dropped ssh session (SIGHUP) must not end an overnight sweep, nor silently: the sweep
        // goes on, and its log moves to a file in the results directory.
        let logPath = serve.out + "/run.log"
        onSignal(SIGHUP) {
            logger.notice("SIGHUP: the terminal hung up; the sweep goes on, its log now in \(logPath) (stop it with kill -INT \(getpid()))")
            if Console.standardError.redirect(toFile: logPath) {
                logger.notice("SIGHUP: the terminal hung up; the sweep goes on (stop it with kill -INT \(getpid()))")
            }
        }
        // Nothing left to run: no workers to start (a finished sweep re-run returns at once).
        let fleet: LocalFleet?
        if coordinator.remaining > 0 {
            let arguments = [
                "worker", "--connect", coordinator.endpoint, "--slots", "1", "--threads", String(threadCount),
                "--give-up-after", String(max(30, Double(serve.heartbeatMs) / 1000 * Double(serve.liveness) * 4)),
                "--log-level", workerLogLevel.rawValue, "--parent-pid", String(getpid()),
            ]
            fleet = LocalFleet(arguments: arguments, count: workerCount, maxRestarts: 3 * workerCount, logger: logger)
            logger.info("starting local workers", metadata: ["workers": "\(workerCount)", "threads": "\(threadCount)"])
            try fleet?.start()
        } else {
            fleet = nil
        }
        let summary: CoordinatorSummary
        do {
            summary = try coordinator.run(shutdown: shutdown)
        } catch {
            fleet?.stop(graceSeconds: 0, killAfterSeconds: 1)
            throw error
        }
        // A finished sweep said a final goodbye and its workers leave by themselves. After a stop
        // they would wait to reconnect, so they are told to leave (their running tasks were
        // waited for, or abandoned after a second request).
        if summary.stoppedEarly {
            fleet?.stop(graceSeconds: 0, killAfterSeconds: shutdown.requests >= 2 ? 0.5 : 2)
        } else {
            fleet?.stop(graceSeconds: 5, killAfterSeconds: 2)
        }
        logger.notice("results in \(serve.out)/results.csv and curves.csv; figures: grainsweep report \(serve.out)")
        let status = summary.exitCode(stopSignal: shutdown.firstSignal)
        if status != 0 { throw ExitCode(status) }
    }
}

/// Worker processes of `grainsweep run`: started from this executable, replaced when they die
/// before the sweep ends, stopped (SIGTERM, then SIGKILL) when it does.
final class LocalFleet: Sendable {
    private struct State {
        var processes: [Process] = []
        var restarts = 0
        var stopping = false
    }
    private let state = Mutex(State())
    private let arguments: [String]
    private let count: Int
    private let maxRestarts: Int
    private let logger: Logger

    init(arguments: [String], count: Int, maxRestarts: Int, logger: Logger) {
        self.arguments = arguments
        self.count = count
        self.maxRestarts = maxRestarts
        self.logger = logger
    }

    func start() throws {
        for _ in 0..<count { try spawn() }
    }

    private func spawn() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executablePath())
        process.arguments = arguments
        // The workers' log lines pass through this process's console, so that they never share
        // a line with the progress bar and follow the log into run.log after a hangup.
        let output = Pipe()
        process.standardError = output
        let relay = LineRelay()
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty {
                handle.readabilityHandler = nil
                relay.flush()
            } else {
                relay.append(data)
            }
        }
        process.terminationHandler = { [self] finished in
            let replace = state.withLock { s -> Bool in
                s.processes.removeAll { $0 === finished }
                guard !s.stopping, finished.terminationStatus != 0 || finished.terminationReason == .uncaughtSignal,
                      s.restarts < maxRestarts else { return false }
                s.restarts += 1
                return true
            }
            if replace {
                logger.warning("a local worker died: starting another", metadata: ["status": "\(finished.terminationStatus)"])
                try? spawn()
            }
        }
        try process.run()
        state.withLock { $0.processes.append(process) }
    }

    /// Waits up to `graceSeconds` for workers to leave by themselves, then sends SIGTERM (they
    /// hand their tasks back), then SIGKILL to any still running `killAfterSeconds` later.
    func stop(graceSeconds: Double, killAfterSeconds: Double) {
        let deadline = Date().addingTimeInterval(graceSeconds)
        state.withLock { $0.stopping = true }
        while Date() < deadline, state.withLock({ $0.processes.contains { $0.isRunning } }) { usleep(20_000) }
        let left = state.withLock { $0.processes.filter(\.isRunning) }
        for p in left { kill(p.processIdentifier, SIGTERM) }
        let hard = Date().addingTimeInterval(killAfterSeconds)
        while Date() < hard, left.contains(where: \.isRunning) { usleep(20_000) }
        for p in left where p.isRunning { kill(p.processIdentifier, SIGKILL) }
    }

    static func executablePath() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        return n > 0 ? cString(buffer) : CommandLine.arguments[0]
    }
}

/// Splits a byte stream into lines and writes each whole line to ``Console/standardError``.
final class LineRelay: Sendable {
    private let pending = Mutex<[UInt8]>([])

    func append(_ data: Data) {
        let lines = pending.withLock { buffer -> [String] in
            buffer.append(contentsOf: data)
            guard let last = buffer.lastIndex(of: UInt8(ascii: "\n")) else {
                // A line longer than 64 KiB is passed on in pieces rather than held.
                if buffer.count > 65_536 { defer { buffer.removeAll() }; return [String(decoding: buffer, as: UTF8.self)] }
                return []
            }
            let complete = buffer[...last].split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast()
            let text = complete.map { String(decoding: $0, as: UTF8.self) }
            buffer.removeSubrange(...last)
            return text
        }
        for line in lines { Console.standardError.writeLine(line) }
    }

    func flush() {
        let rest = pending.withLock { buffer -> [UInt8] in defer { buffer.removeAll() }; return buffer }
        if !rest.isEmpty { Console.standardError.writeLine(String(decoding: rest, as: UTF8.self)) }
    }
}
