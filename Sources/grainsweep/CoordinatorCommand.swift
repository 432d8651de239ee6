import ArgumentParser
import Coordinator
import Foundation
import Lifecycle
import Logging
import SweepModel
import ZeroMQ

/// Options of the coordinator shared by `coordinator` and `run`.
struct ServeOptions: ParsableArguments {
    @Option(help: "Results directory: results.csv, curves.csv, failures.csv. Reusing it resumes the sweep.")
    var out: String

    @Option(name: .customLong("heartbeat-ms"), help: "Heartbeat interval in milliseconds, both ways, 10...600000.")
    var heartbeatMs: Int = 1000

    @Option(help: "Missed heartbeat intervals, 2...1000, after which a worker is dead and its tasks are handed out again.")
    var liveness: Int = 5

    @Option(name: .customLong("max-attempts"), help: "Failures of its own (1...100) a task may have before it is quarantined: errors, time limits, and crashes that repeat on another host. Workers lost to partitions or overloaded hosts do not count.")
    var maxAttempts: Int = 3

    @Option(name: .customLong("time-limit"), help: "How long one task may run before it is cancelled and counted as a failure: auto (20x the experiment's cost estimate, at least 10 minutes), none, or a duration such as 90s, 15m, 2h. Overrides the spec's time_limit.")
    var timeLimit: String?

    @Option(name: .customLong("grace-seconds"), help: "On SIGINT/SIGTERM, seconds (>= 0) running tasks get to finish; a second signal stops at once.")
    var graceSeconds: Double = 30

    @Option(name: .customLong("progress"), help: "auto (a bar on a terminal, log lines otherwise), bar or log.")
    var progressMode: String = "auto"

    @Option(name: .customLong("progress-interval"), help: "Seconds between progress log lines, > 0.")
    var progressInterval: Double = 10

    @Flag(name: .customLong("retry-failed"), help: "Run quarantined tasks of an earlier run again.")
    var retryFailed = false

    @Option(name: .customLong("max-tasks"), help: "Refuse specs that expand to more tasks than this, >= 1.")
    var maxTasks: Int?

    @Flag(name: .customLong("allow-core-change"), help: "Resume a results directory whose results were computed by another core version (recorded in sweep.json); refused otherwise, because the same task gives other bits.")
    var allowCoreChange = false

    func validate() throws {
        guard heartbeatMs >= 10 && heartbeatMs <= 600_000 else { throw ValidationError("--heartbeat-ms must be in 10...600000") }
        guard liveness >= 2 && liveness <= 1000 else { throw ValidationError("--liveness must be in 2...1000") }
        guard maxAttempts >= 1 && maxAttempts <= 100 else { throw ValidationError("--max-attempts must be in 1...100") }
        guard graceSeconds >= 0 else { throw ValidationError("--grace-seconds must be >= 0") }
        guard ["auto", "bar", "log"].contains(progressMode) else { throw ValidationError("--progress must be auto, bar or log") }
        guard progressInterval > 0 && progressInterval.isFinite else { throw ValidationError("--progress-interval must be > 0") }
        if let maxTasks, maxTasks < 1 { throw ValidationError("--max-tasks must be >= 1") }
        if let timeLimit, TimeLimit(parsing: timeLimit) == nil {
            throw ValidationError("--time-limit: found '\(timeLimit)', expected auto, none, or a positive duration such as 90s, 15m, 2h")
        }
    }

    func configuration(bind: String) -> CoordinatorConfiguration {
        var c = CoordinatorConfiguration()
        c.bind = bind
        c.heartbeatIntervalMs = heartbeatMs
        c.liveness = liveness
        c.maxAttempts = maxAttempts
        if let timeLimit, let parsed = TimeLimit(parsing: timeLimit) { c.timeLimit = parsed }
        c.gracePeriodSeconds = graceSeconds
        c.retryFailed = retryFailed
        c.progressLogIntervalSeconds = progressInterval
        c.progressBar = progressMode == "bar" || (progressMode == "auto" && isatty(2) == 1)
        if progressMode == "bar" { Console.standardError.forceStatusLine() }
        c.softwareVersion = grainsweepVersion
        c.allowCoreChange = allowCoreChange
        return c
    }
}

/// `grainsweep coordinator`: serves a sweep's tasks to workers and records their results.
struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Serve a sweep's tasks to workers over ZeroMQ and write results.csv and curves.csv.",
        discussion: """
            Exit status: 0 when every task is done (or after a graceful stop: run again to resume), \
            3 when the sweep finished with quarantined tasks (see failures.csv), 1 or 2 on errors.
            """)

    @Argument(help: "The sweep spec (YAML).")
    var spec: String

    @OptionGroup var serve: ServeOptions

    @Option(help: ArgumentHelp(
        "ZeroMQ endpoint to bind (default: tcp://0.0.0.0:5555 with keys, tcp://127.0.0.1:5555 without).",
        discussion: "Plain TCP on a network address is refused unless --insecure is given."))
    var bind: String?

    @Option(name: .customLong("secret-key"), help: "The coordinator's CURVE secret key file (from grainsweep keygen).")
    var secretKey: String?

    @Option(name: .customLong("authorized-keys"), help: "Directory of the workers' public key files (*.pub) to admit.")
    var authorizedKeys: String?

    @Flag(help: "Allow plain, unauthenticated TCP on a non-loopback address.")
    var insecure = false

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if (secretKey == nil) != (authorizedKeys == nil) {
            throw ValidationError("--secret-key and --authorized-keys go together")
        }
    }

    func run() throws {
        logging.bootstrap()
        let logger = Logger(label: "grainsweep.coordinator")
        let plan = try loadPlan(spec, maxTasks: serve.maxTasks)
        // Without keys the default stays on this machine: serving tasks to anyone on the network
        // must be asked for (keys, or --bind and --insecure).
        let endpoint = bind ?? (secretKey == nil ? "tcp://127.0.0.1:5555" : "tcp://0.0.0.0:5555")
        if bind == nil && secretKey == nil {
            logger.notice("no keys: serving on loopback only (\(endpoint)); for remote workers make keys (grainsweep keygen) and pass --secret-key and --authorized-keys")
        }
        var configuration = serve.configuration(bind: endpoint)
        configuration.insecure = insecure
        if let secretKey, let authorizedKeys {
            do {
                let secret = try CurveKeyFiles.readSecretKey(path: secretKey)
                let keys = try CurveKeyFiles.readAuthorizedKeys(directory: authorizedKeys)
                guard !keys.isEmpty else { throw fail("\(authorizedKeys): no *.pub files: no worker could connect", code: 2) }
                configuration.security = ServerSecurity(secretKey: secret, authorizedWorkerKeys: Set(keys.values))
                logger.info("CURVE on", metadata: ["authorized.workers": "\(keys.keys.sorted().joined(separator: ","))"])
            } catch let exit as ExitCode {
                throw exit
            } catch {
                throw fail("\(error)", code: 2)
            }
        }
        let shutdown = ShutdownRequest()
        shutdown.installSignalHandlers()
        let coordinator: Coordinator
        do {
            coordinator = try Coordinator(plan: plan, outDirectory: serve.out, configuration: configuration, logger: logger)
        } catch let error as CoordinatorError where error.isInvalidInput {
            throw fail("\(error)", code: 2)
        } catch {
            throw fail("\(error)")
        }
        if authorizedKeys == nil || coordinator.curveAuthenticator == nil {
            // Nothing to reload; a hangup must not end the sweep, and not silently.
            onSignal(SIGHUP) {
                logger.notice("SIGHUP: nothing to reload (no --authorized-keys); serving on. Under ssh, run the coordinator in tmux, with nohup or as a systemd unit")
            }
        }
        if let authorizedKeys, let zap = coordinator.curveAuthenticator {
            // SIGHUP re-reads the authorised keys: a new host joins without a restart.
            onSignal(SIGHUP) {
                do {
                    let keys = try CurveKeyFiles.readAuthorizedKeys(directory: authorizedKeys)
                    try zap.setAllowedPublicKeys(keys.values)
                    logger.notice("SIGHUP: authorised keys reloaded", metadata: ["authorized.workers": "\(keys.keys.sorted().joined(separator: ","))"])
                } catch {
                    logger.error("SIGHUP: keys not reloaded, the previous ones stay: \(error)")
                }
            }
        }
        let summary = try coordinator.run(shutdown: shutdown)
        let status = summary.exitCode(stopSignal: shutdown.firstSignal)
        if status != 0 { throw ExitCode(status) }
    }
}
