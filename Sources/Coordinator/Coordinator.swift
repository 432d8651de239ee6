import ExperimentAPI
import Foundation
import Leasing
import Lifecycle
import Logging
import Results
import SweepModel
import WireProtocol
import ZeroMQ

/// Serves the tasks of one sweep to workers over ZeroMQ and records their results durably.
///
/// One thread (the caller of ``run(shutdown:)``) owns the ROUTER socket and all state: it receives,
/// dispatches, commits and watches for dead workers in one loop, so no state is shared between
/// threads. Each task handed out is a lease held by one worker; a worker's credit is its declared
/// slots (it never holds more leases). Workers heartbeat while busy; one silent for `liveness`
/// intervals is dead and its leases go back to the queue. The coordinator knows experiments only
/// through ``ExperimentFamily`` (names of parameters and metrics), never what they compute.
public final class Coordinator {
    public let plan: SweepPlan
    public let configuration: CoordinatorConfiguration
    public let directory: ResultsDirectory
    private let logger: Logger
    private let context: ZMQContext
    private let socket: ZMQSocket
    private var authenticator: ZAPAuthenticator?

    /// The CURVE authenticator when the coordinator runs with keys: its admitted keys can be
    /// replaced while serving (`setAllowedPublicKeys`, thread-safe), e.g. on SIGHUP.
    public var curveAuthenticator: ZAPAuthenticator? { authenticator }
    /// The endpoint actually bound (with the real port when the configuration asked for port 0).
    public let endpoint: String

    /// The lease logic: this class only feeds it messages and ticks and carries out its actions.
    private let machine: LeaseStateMachine
    private let tasks: SweepPlanLeases
    /// The time limit in force (command line, else spec, else automatic).
    public let timeLimit: TimeLimit
    private var progress: ProgressMeter
    private let statusFiles: StatusFiles
    private var statusWriteFailures = 0
    /// Seconds from handing a lease out to accepting its result, for this run's tasks (a
    /// reservoir of at most 1,000,000 samples).
    private var leaseSeconds: [Double] = []

    /// Opens the results directory, binds the socket and loads what is already done.
    /// - Throws: ``CoordinatorError`` for a directory of another sweep, a directory holding results
    ///   of another bits version (core version) without ``CoordinatorConfiguration/allowCoreChange``,
    ///   an insecure non-loopback bind, or a socket that cannot bind; ``ResultsError`` for
    ///   unusable files.
    public init(plan: SweepPlan, outDirectory: String, configuration: CoordinatorConfiguration, logger: Logger) throws {
        self.plan = plan
        self.configuration = configuration
        self.logger = logger
        let manifest = SweepManifest(
            name: plan.name, experiment: plan.family.name, baseDigest: plan.baseDigest,
            grainsweepVersion: configuration.softwareVersion, createdAt: utcTimestamp(), bitsVersion: plan.family.bitsVersion)
        directory = try ResultsDirectory(
            path: outDirectory, layout: CSVLayout(family: plan.family), manifest: manifest, specText: plan.specText)
        progress = ProgressMeter(total: plan.count)
        statusFiles = StatusFiles(directory: outDirectory, startedAt: utcTimestamp())
        timeLimit = configuration.timeLimit ?? plan.timeLimit ?? .automatic
        let tasks = SweepPlanLeases(plan: plan, timeLimit: timeLimit)

        if configuration.retryFailed { try directory.clearQuarantine() }
        var foreign = 0
        var finishedIndexes: [Int] = []
        for (id, _) in directory.finished {
            if let i = tasks.index(of: id) { finishedIndexes.append(i) } else { foreign += 1 }
        }
        let quarantinedIndexes = directory.quarantined.compactMap { tasks.index(of: $0) }
        if let old = directory.previousManifest, old.baseDigest != plan.baseDigest, foreign > 0 {
            throw CoordinatorError(invalidInput: true,
                "\(outDirectory) holds \(directory.finished.count) results of sweep '\(old.name)' whose base parameters differ from this spec's (\(foreign) of them are no task of this spec): they belong to a different sweep. Use a new --out directory, or restore the spec's base parameters.")
        }
        // Results of another bits version (another training core) must not mix with this build's:
        // the same task would have different bits depending on which binary ran it.
        if let old = directory.previousManifest, old.bitsVersion != manifest.bitsVersion {
            let held = directory.finished.count + directory.quarantined.count
            if held > 0 && !configuration.allowCoreChange {
                throw CoordinatorError(invalidInput: true,
                    "\(outDirectory) holds \(held) results of experiment '\(old.experiment)' computed with core version \(old.bitsVersion) (sweep.json), but this build's core is version \(manifest.bitsVersion), which gives different bits for the same task: resuming would mix results of two computations in one sweep. Use a new --out directory (or rerun the sweep there), run the sweep with a build of version \(old.bitsVersion), or pass --allow-core-change to resume anyway (sweep.json then records version \(manifest.bitsVersion)).")
            }
            if held > 0 {
                logger.warning("resuming results of another core version (--allow-core-change): the directory now mixes versions", metadata: [
                    "core.version.recorded": "\(old.bitsVersion)", "core.version.build": "\(manifest.bitsVersion)", "results": "\(held)",
                ])
            }
            var kept = manifest
            if old.baseDigest == plan.baseDigest { kept.createdAt = old.createdAt }
            try directory.replaceManifest(kept)
        } else if let old = directory.previousManifest, old.baseDigest != plan.baseDigest {
            try directory.replaceManifest(manifest)
        }
        try directory.compactCurves()
        var rules = LeaseRules()
        rules.heartbeatInterval = Double(configuration.heartbeatIntervalMs) / 1000
        rules.liveness = configuration.liveness
        rules.maxAttempts = configuration.maxAttempts
        rules.drainAfterFailures = configuration.drainAfterFailures
        rules.softwareVersion = configuration.softwareVersion
        var charges: [Int: Int] = [:]
        for (id, n) in directory.charged { if let i = tasks.index(of: id) { charges[i] = n } }
        machine = LeaseStateMachine(
            plan: tasks, sweepName: plan.name, rules: rules, signer: LeaseSigner(key: try directory.leaseKey()),
            finished: finishedIndexes, quarantined: quarantinedIndexes, charges: charges)
        self.tasks = tasks

        if directory.results.repairedBytes + directory.curves.repairedBytes + directory.failures.repairedBytes > 0 {
            logger.warning("repaired torn last lines left by a crash", metadata: [
                "results.bytes": "\(directory.results.repairedBytes)", "curves.bytes": "\(directory.curves.repairedBytes)",
                "failures.bytes": "\(directory.failures.repairedBytes)",
            ])
        }
        if machine.done > 0 || foreign > 0 {
            logger.info("resuming", metadata: [
                "done": "\(machine.done)", "quarantined": "\(machine.quarantined)", "remaining": "\(machine.remaining)",
                "rows.not_in_spec": "\(foreign)", "curves.dropped": "\(directory.droppedCurveRows)",
            ])
        }

        guard configuration.security != nil || configuration.insecure || Self.isLocal(configuration.bind) else {
            throw CoordinatorError(invalidInput: true,
                "refusing to serve \(configuration.bind) without encryption: anyone who can reach it could take tasks and forge results. Make keys with `grainsweep keygen --out keys/coordinator` and `grainsweep keygen --out keys/workers/NAME`, then pass --secret-key and --authorized-keys (see README, 'Running on a cluster'), or bind to 127.0.0.1, or pass --insecure to accept the risk.")
        }

        context = try ZMQContext()
        socket = try ZMQSocket(context, .router)
        try socket.set(.linger(milliseconds: 1000))
        try socket.set(.routerMandatory(true))
        try socket.set(.routerHandover(true))
        try socket.set(.maxMessageSize(WireLimits.maxMessageBytes))
        try socket.set(.sendHighWaterMark(100_000))
        try socket.set(.receiveHighWaterMark(100_000))
        if let security = configuration.security {
            let zap = try ZAPAuthenticator(context: context, allowedPublicKeys: security.authorizedWorkerKeys)
            authenticator = zap
            try socket.set(.zapDomain("grainsweep"))
            try socket.set(.curveServer(secretKey: security.secretKey))
        }
        do {
            try socket.bind(configuration.bind)
        } catch {
            throw CoordinatorError("cannot bind \(configuration.bind): \(error)")
        }
        endpoint = (try? socket.lastEndpoint()) ?? configuration.bind
        // One descriptor per connected worker: raise the soft limit as far as the hard one allows
        // and say how many workers that holds (libzmq refuses connections beyond it).
        let files = raiseOpenFileLimit()
        let capacity = files.soft > 1_000_000 ? "1,000,000+" : "\(max(0, Int(files.soft) - 64))"
        if files.soft < 4_096 {
            logger.warning("this coordinator can hold about \(capacity) workers: \(files); raise the hard limit (ulimit -Hn, or LimitNOFILE= in a systemd unit) to serve more", metadata: [:])
        } else {
            logger.debug("open-file limit", metadata: ["limit": "\(files)", "workers.max": "\(capacity)"])
        }
        if configuration.security == nil && !Self.isLocal(configuration.bind) {
            logger.warning("INSECURE: serving plain TCP on a network address; anyone who reaches \(endpoint) can take tasks and submit results")
        }
    }

    deinit {
        socket.close()
        authenticator?.stop()
        context.shutdown()
    }

    /// Whether an endpoint only accepts connections from this machine.
    static func isLocal(_ endpoint: String) -> Bool {
        if endpoint.hasPrefix("ipc://") || endpoint.hasPrefix("inproc://") { return true }
        guard endpoint.hasPrefix("tcp://") else { return false }
        var host = String(endpoint.dropFirst(6))
        if host.hasPrefix("[") {
            host = String(host.dropFirst().prefix { $0 != "]" })
        } else if let colon = host.lastIndex(of: ":") {
            host = String(host[..<colon])
        }
        return host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    private static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Tasks neither finished nor quarantined.
    public var remaining: Int { machine.remaining }

    /// Counters of dropped messages and lease events so far.
    public var droppedMessages: Counters { machine.counters }

    // MARK: - The loop

    /// Serves until every task is done or quarantined, or until `shutdown` asks to stop.
    ///
    /// First request: stop handing out tasks, give running ones `gracePeriodSeconds` to finish,
    /// commit, tell workers goodbye and return. Second request: commit and return at once.
    /// The loop stays responsive to the end: nothing it does grows with the number of rows written.
    public func run(shutdown: ShutdownRequest) throws -> CoordinatorSummary {
        let started = Self.now()
        let commitEvery = Double(configuration.commitIntervalMs) / 1000
        var lastCommit = started
        var nextProgress = started
        var stopping = false
        var graceDeadline = Double.infinity
        logger.info("serving sweep", metadata: [
            "sweep": "\(plan.name)", "endpoint": "\(endpoint)", "tasks": "\(plan.count)",
            "remaining": "\(machine.remaining)", "experiment": "\(plan.family.name)",
            "security": "\(configuration.security == nil ? "none" : "curve")",
            "time.limit": "\(timeLimit)",
        ])
        var items = [socket.pollItem(.readable)]
        var nextStatus = started
        while true {
            var now = Self.now()
            let requests = shutdown.requests
            if requests >= 2 {
                logger.warning("second stop request: leaving at once", metadata: ["leases.abandoned": "\(machine.running)"])
                // Goodbyes that cannot leave at once are not waited for.
                try? socket.set(.linger(milliseconds: 0))
                return try finish(started: started, stopped: true)
            }
            if requests == 1 && !stopping {
                stopping = true
                graceDeadline = now + configuration.gracePeriodSeconds
                logger.notice("stopping: no new tasks; waiting for running ones", metadata: [
                    "running": "\(machine.running)", "grace.seconds": "\(configuration.gracePeriodSeconds)",
                ])
            }
            if stopping && (machine.running == 0 || now >= graceDeadline) {
                return try finish(started: started, stopped: true)
            }
            if !stopping && machine.isFinished {
                return try finish(started: started, stopped: false)
            }

            let timeout = directory.pendingBytes > 0 ? commitEvery : 0.1
            _ = try zmqPoll(&items, timeoutMilliseconds: Int(timeout * 1000) + 1)
            var handled = 0
            while handled < 10_000, let frames = try socket.receive(dontWait: true, maxFrames: 4) {
                handle(frames, now: Self.now())
                handled += 1
                if handled % 256 == 0 { carryOut() }
            }
            now = Self.now()
            machine.tick(now: now)
            if !stopping { machine.dispatch(now: now) }
            carryOut()

            now = Self.now()
            if directory.pendingBytes > 0 && (now - lastCommit >= commitEvery || directory.pendingBytes > 4 << 20) {
                try directory.commit()
                lastCommit = now
            }
            if now >= nextStatus {
                writeStatus(stopping ? .stopping : .running, now: now)
                nextStatus = now + SweepStatus.writeIntervalSeconds
            }
            if now >= nextProgress {
                reportRefusals(now: now)
                reportProgress(now: now)
                nextProgress = now + (showsProgressBar ? 0.25 : configuration.progressLogIntervalSeconds)
            }
        }
    }

    private func finish(started: Double, stopped: Bool) throws -> CoordinatorSummary {
        machine.finish(final: !stopped, reason: stopped ? "coordinator stopping; reconnect later" : "sweep finished")
        carryOut()
        try directory.commit()
        Console.standardError.endStatus()
        machine.setDeniedConnections(authenticator?.denied ?? 0)
        writeStatus(stopped ? .stopped : .finished, now: Self.now())
        leaseSeconds.sort()
        func quantile(_ q: Double) -> Double? {
            leaseSeconds.isEmpty ? nil : leaseSeconds[min(leaseSeconds.count - 1, Int(Double(leaseSeconds.count) * q))]
        }
        let end = Self.now()
        let summary = CoordinatorSummary(
            total: plan.count, done: machine.done, quarantined: machine.quarantined, ranThisSession: machine.ranThisSession,
            stoppedEarly: stopped, counters: machine.counters, elapsedSeconds: end - started,
            servingSeconds: machine.firstDispatch.map { end - $0 } ?? 0,
            leaseLatencyP50: quantile(0.5), leaseLatencyP99: quantile(0.99))
        logger.notice("\(summary)")
        return summary
    }

    // MARK: - Messages

    private func handle(_ frames: [[UInt8]], now: Double) {
        guard frames.count == 2, !frames[0].isEmpty else {
            machine.malformed()
            return
        }
        let peer = PeerID(bytes: frames[0])
        let message: Message
        do {
            message = try frames[1].withUnsafeBytes { (raw) throws(DecodeError) -> Message in try WireCodec.decode(raw) }
        } catch {
            if case DecodeError.badVersion(let version) = error {
                machine.wrongVersion()
                refuseVersion(version, peer: peer)
                return
            }
            machine.malformed()
            logger.debug("dropped a malformed frame", metadata: ["error": "\(error)", "bytes": "\(frames[1].count)"])
            return
        }
        machine.receive(message, from: peer, now: now)
    }

    /// Tells a peer of another protocol version why it is not served, in a goodbye it can read:
    /// a goodbye's body is the same in versions 1 and 2, so only the header's version byte differs.
    private var versionRefusals = 0
    private func refuseVersion(_ version: UInt8, peer: PeerID) {
        versionRefusals += 1
        let reason = "this coordinator speaks grainsweep protocol version \(protocolVersion), the worker \(version): run the same grainsweep version on both sides"
        if versionRefusals <= 100 || versionRefusals % 1000 == 0 {
            logger.warning("refused a peer of another protocol version", metadata: [
                "version.peer": "\(version)", "version.ours": "\(protocolVersion)", "refusals": "\(versionRefusals)",
            ])
        }
        guard version == 1 else { return }
        var bytes = WireCodec.encode(.goodbye(Goodbye(final: true, reason: reason)))
        bytes[2] = version
        _ = try? socket.send([peer.bytes, bytes], dontWait: true)
    }

    /// Carries out what the state machine asked for: sends, rows, logs.
    private func carryOut() {
        machine.drainActions { action in
            switch action {
            case .send(let peer, let message):
                _ = try? socket.send([peer.bytes, WireCodec.encode(message)], dontWait: true)
            case .assign(let peer, let assignment):
                let sent = (try? socket.send([peer.bytes, WireCodec.encode(.task(assignment))], dontWait: true)) ?? false
                if !sent { machine.undeliverable(assignment, to: peer, now: Self.now()) }
            case .recordResult(let index, let lease, let host, let threads, let wallSeconds, let metrics, let seconds):
                let finished = Self.now()
                progress.completed(at: finished)
                let ran = machine.ranThisSession
                if leaseSeconds.count < 1_000_000 {
                    leaseSeconds.append(seconds)
                } else {
                    let slot = Int.random(in: 0..<max(1, ran))
                    if slot < leaseSeconds.count { leaseSeconds[slot] = seconds }
                }
                directory.recordResult(
                    taskID: lease.taskID, parameters: plan.parameters(at: index),
                    metrics: metrics.map { CSVField.number($0.value) }, attempt: lease.attempt, host: host,
                    threads: threads, wallSeconds: wallSeconds, finishedAt: utcTimestamp())
            case .recordCurve(let taskID, let attempt, let point):
                directory.recordCurve(
                    taskID: taskID, attempt: attempt, phase: point.phase, epoch: point.epoch,
                    metrics: point.metrics.map { CSVField.number($0.value) })
            case .recordCharge(let index, let attempt, let delta, let host, let reason):
                directory.recordCharge(taskID: tasks.taskID(at: index), attempt: attempt, delta: delta, host: host,
                                       reason: reason, at: utcTimestamp())
            case .quarantine(let index, let attempts, let hosts, let lastError):
                let task = plan.task(at: index)
                directory.recordFailure(
                    taskID: task.id, parameters: task.parameters, attempts: attempts, hosts: hosts,
                    lastError: lastError, at: utcTimestamp())
            case .log(let level, let text, let metadata):
                logger.log(level: level.swiftLog, "\(text)", metadata: metadata.mapValues { .string($0) })
            }
        }
    }

    // MARK: - Progress

    private var refusalsLogged = 0
    private var nextRefusalLog = 0.0

    /// Logs connections the CURVE authenticator refused (at most every 10 s), so that a worker
    /// with a key nobody authorised is visible here, not only as a silent worker there.
    private func reportRefusals(now: Double) {
        guard let denied = authenticator?.denied, denied > refusalsLogged, now >= nextRefusalLog else { return }
        logger.warning("refused connections whose CURVE key is not authorised (or that had no keys)", metadata: [
            "refused.new": "\(denied - refusalsLogged)", "refused.total": "\(denied)",
        ])
        refusalsLogged = denied
        nextRefusalLog = now + 10
    }

    /// Rewrites status.json and metrics.prom (a failure is logged, at most once a minute's worth).
    private func writeStatus(_ state: SweepStatus.State, now: Double) {
        machine.setDeniedConnections(authenticator?.denied ?? 0)
        let status = SweepStatus(
            sweep: plan.name, experiment: plan.family.name, state: state, startedAt: statusFiles.startedAt,
            updatedAt: utcTimestamp(), pid: getpid(), total: plan.count, done: machine.done,
            quarantined: machine.quarantined, running: machine.running, retrying: machine.retrying,
            ranThisSession: machine.ranThisSession, tasksPerMinute: progress.rate(now: now),
            etaSeconds: progress.etaSeconds(now: now, left: machine.remaining), workers: machine.workerCount,
            hosts: machine.hostLoads().map { SweepStatus.Host(host: $0.host, workers: $0.workers, slots: $0.slots, running: $0.running) },
            droppedMessages: machine.counters.dropped, deniedConnections: machine.counters.deniedConnections)
        if let error = statusFiles.write(status) {
            if statusWriteFailures % 30 == 0 { logger.warning("cannot write the status files: \(error)") }
            statusWriteFailures += 1
        }
    }

    /// A bar when asked for and standard error is still a terminal (not redirected after a hangup).
    private var showsProgressBar: Bool { configuration.progressBar && Console.standardError.showsStatusLine }

    private func reportProgress(now: Double) {
        machine.setDeniedConnections(authenticator?.denied ?? 0)
        let line = progress.line(
            now: now, done: machine.done, running: machine.running, failed: machine.quarantined, retrying: machine.retrying,
            workers: machine.workerCount, dropped: machine.counters.dropped, denied: machine.counters.deniedConnections)
        if showsProgressBar {
            Console.standardError.setStatus(line)
        } else {
            logger.info("progress: \(line)")
        }
    }
}

extension LeaseLogLevel {
    var swiftLog: Logger.Level {
        switch self {
        case .debug: return .debug
        case .info: return .info
        case .notice: return .notice
        case .warning: return .warning
        case .error: return .error
        }
    }
}

/// The sweep plan seen by the lease state machine: ids by index (computed once), assignments,
/// curve ranges and time limits from the experiment family.
struct SweepPlanLeases: LeasePlan {
    let plan: SweepPlan
    let ids: [TaskID]
    let indexOf: [TaskID: Int32]
    let timeLimitRule: TimeLimit

    /// The family's definition as task parameters, for a spec-defined (`command`) family.
    let definitionParameters: [(String, ParameterValue)]

    init(plan: SweepPlan, timeLimit: TimeLimit) {
        self.plan = plan
        definitionParameters = plan.family.commandDefinition?.wireParameters().map { ($0.name, $0.value) } ?? []
        ids = plan.ids()
        var indexOf: [TaskID: Int32] = [:]
        indexOf.reserveCapacity(ids.count)
        for (i, id) in ids.enumerated() { indexOf[id] = Int32(i) }
        self.indexOf = indexOf
        timeLimitRule = timeLimit
    }

    var count: Int { ids.count }
    func taskID(at index: Int) -> TaskID { ids[index] }
    func index(of id: TaskID) -> Int? { indexOf[id].map(Int.init) }
    func assignment(at index: Int, lease: LeaseRef) -> TaskAssignment {
        let parameters = plan.parameters(at: index)
        var list = parameters.sortedNames.map { ($0, parameters[$0]!) }
        if !definitionParameters.isEmpty {
            // A spec-defined family travels with each task (names sort in, see PROTOCOL.md §6).
            list = (list + definitionParameters).sorted { $0.0 < $1.0 }
        }
        return TaskAssignment(lease: lease, experiment: plan.family.name, parameters: list)
    }
    func curveEpochs(at index: Int) -> [String: Int] { plan.family.curveEpochs(plan.parameters(at: index)) }
    func timeLimit(at index: Int) -> Double? {
        switch timeLimitRule {
        case .none: return nil
        case .seconds(let s): return s
        case .automatic: return TimeLimit.automaticSeconds(estimate: plan.family.estimatedSeconds(plan.parameters(at: index)))
        }
    }
    var resultMetricNames: [String] { plan.family.resultMetricNames }
    var curveMetricNames: [String] { plan.family.curveMetricNames }
}

/// A coordinator that cannot start, with what to do about it.
public struct CoordinatorError: Error, CustomStringConvertible {
    public let description: String
    /// Whether the user's input is at fault (a results directory of another sweep, a bind
    /// refused for safety) rather than this machine (exit status 2 rather than 1).
    public let isInvalidInput: Bool
    public init(_ description: String) {
        self.description = description
        isInvalidInput = false
    }
    public init(invalidInput: Bool, _ description: String) {
        self.description = description
        isInvalidInput = invalidInput
    }
}
