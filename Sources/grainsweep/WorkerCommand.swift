import ArgumentParser
import Experiments
import Foundation
import Lifecycle
import Logging
import WireProtocol
import Worker
import ZeroMQ

/// `grainsweep worker`: runs tasks for a coordinator.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Connect to a coordinator and run its tasks until the sweep is finished.")

    @Option(help: "The coordinator's endpoint, tcp://HOST:PORT.")
    var connect: String

    @Option(help: "Tasks to run at once, 1...1024.")
    var slots: Int = 1

    @Option(help: "Threads per task, 1...1024 (default: usable cores divided by slots).")
    var threads: Int?

    @Option(help: "Host name to report, 1...255 bytes (default: this machine's).")
    var host: String?

    @Option(name: .customLong("server-key"), help: "The coordinator's CURVE public key file.")
    var serverKey: String?

    @Option(name: .customLong("secret-key"), help: "This worker's CURVE secret key file (from grainsweep keygen).")
    var secretKey: String?

    @Option(name: .customLong("give-up-after"), help: "Exit (status 4) after this many seconds without a coordinator, > 0 (default: never).")
    var giveUpAfter: Double?

    @Option(name: .customLong("public-key"), help: "This worker's CURVE public key file (optional: derived from the secret key, checked if given).")
    var publicKey: String?

    @Option(help: ArgumentHelp(
        "GPU ids for tasks of the command family, comma-separated (e.g. 0,1,2,3): shared out among the slots, each slot's tasks see theirs in CUDA_VISIBLE_DEVICES.",
        discussion: "Slot i of s gets the i-th of s contiguous runs of the list (4 GPUs and 2 slots: 0,1 and 2,3); give at least one GPU per slot."))
    var gpus: String?

    @Option(name: .customLong("parent-pid"), help: ArgumentHelp("Stop when this process is no longer the parent (used by grainsweep run).", visibility: .hidden))
    var parentPID: Int32?

    @Flag(name: .customLong("inject-failures"), help: ArgumentHelp("Fail every task (fault injection for tests).", visibility: .hidden))
    var injectFailures = false

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard slots >= 1 && slots <= 1024 else { throw ValidationError("--slots must be in 1...1024") }
        if let threads, threads < 1 || threads > 1024 { throw ValidationError("--threads must be in 1...1024") }
        if let gpus {
            let list = gpus.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard !list.contains(where: \.isEmpty) else { throw ValidationError("--gpus: found '\(gpus)', expected comma-separated GPU ids such as 0,1") }
            guard list.count >= slots else {
                throw ValidationError("--gpus lists \(list.count) GPU(s) for \(slots) slots: give at least one per slot, or fewer --slots")
            }
        }
        if let giveUpAfter, !(giveUpAfter > 0 && giveUpAfter.isFinite) { throw ValidationError("--give-up-after must be > 0 seconds") }
        if (serverKey == nil) != (secretKey == nil) { throw ValidationError("--server-key and --secret-key go together") }
        if let host, host.isEmpty || host.utf8.count > WireLimits.maxHostBytes {
            throw ValidationError("--host must be 1...\(WireLimits.maxHostBytes) bytes")
        }
    }

    func run() throws {
        logging.bootstrap()
        let logger = Logger(label: "grainsweep.worker")
        var configuration = WorkerConfiguration(
            connect: connect, slots: slots, threadsPerSlot: threads ?? max(1, usableCores() / slots),
            host: host ?? hostName())
        configuration.giveUpAfterSeconds = giveUpAfter
        configuration.softwareVersion = grainsweepVersion
        configuration.failEveryTask = injectFailures
        configuration.parentProcess = parentPID
        configuration.gpus = gpus.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? []
        // A worker of `grainsweep run` leaves the terminal's process group: Ctrl-C and a hangup
        // reach only `run`, which stops its workers itself (SIGTERM, then SIGKILL).
        if parentPID != nil { _ = setpgid(0, 0) }
        if let serverKey, let secretKey {
            do {
                let secret = try CurveKeyFiles.readSecretKey(path: secretKey)
                let derived = try CurveKeys.publicKey(fromSecret: secret)
                if let publicKey, try CurveKeyFiles.readPublicKey(path: publicKey) != derived {
                    throw fail("--public-key \(publicKey) is not the public key of --secret-key \(secretKey)", code: 2)
                }
                configuration.security = ClientSecurity(
                    serverPublicKey: try CurveKeyFiles.readPublicKey(path: serverKey), publicKey: derived, secretKey: secret)
            } catch let exit as ExitCode {
                throw exit
            } catch {
                throw fail("\(error)", code: 2)
            }
        }
        let shutdown = ShutdownRequest()
        shutdown.installSignalHandlers()
        let worker: Worker
        do {
            worker = try Worker(configuration: configuration, families: ExperimentCatalog.all,
                                commandFamily: ExperimentCatalog.commandFamily, logger: logger)
        } catch {
            // Before connecting: no lease is held, so leaving is safe and loses nothing.
            throw fail("cannot start the worker: \(error)")
        }
        logger.info("worker starting", metadata: [
            "connect": "\(connect)", "slots": "\(slots)", "threads": "\(configuration.threadsPerSlot)",
            "security": "\(configuration.security == nil ? "none" : "curve")",
        ])
        switch try worker.run(shutdown: shutdown) {
        case .sweepFinished, .stopped: return
        case .gaveUp: throw ExitCode(4)
        }
    }
}
