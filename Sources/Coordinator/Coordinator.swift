import ExperimentAPI
import Foundation
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

    // Task state, by plan index.
    private var indexOf: [TaskID: Int32] = [:]
    private var status: [TaskStatus]
    private var attempts: [UInt8]
    private var retryQueue: [Int32] = []
    private var retryHead = 0
    private var cursor = 0
    private var remaining = 0
    private var doneCount = 0
    private var quarantinedCount = 0
    private var ranThisSession = 0
    private var failureHosts: [Int32: [String]] = [:]
    /// When a failed task may run again on a host where it already failed (exponential backoff).
    private var retryNotBefore: [Int32: Double] = [:]

    private var leases: [TaskID: Lease] = [:]
    /// Curve points recorded for tasks not yet finished, so that points a worker sends again
    /// (after a reconnect, for an adopted lease) are written once.
    private var curveSeen: [TaskID: Set<CurveKey>] = [:]
    private var workers: [PeerID: WorkerState] = [:]
    private var counters = Counters()
    private var progress: ProgressMeter
    /// Seconds from handing a lease out to accepting its result, for this run's tasks (a
    /// reservoir of at most 1,000,000 samples).
    private var leaseSeconds: [Double] = []
    private var firstDispatch: Double?
    private let resultNames: [String]
    private let curveNames: [String]

    private enum TaskStatus: UInt8 { case pending, leased, done, quarantined }

    private struct CurveKey: Hashable {
        var attempt: Int
        var phase: String
        var epoch: Int
    }

    private struct Lease {
        var worker: PeerID
        var attempt: Int
        var index: Int32
        var sentAt: Double
        var confirmed: Bool
    }

    private struct WorkerState {
        var hello: Hello
        var lastSeen: Double
        var leases: Set<TaskID> = []
        var failureStreak: Set<TaskID> = []
        var drained = false
        var label: String { "\(hello.host):\(hello.pid)" }
        var credit: Int { drained ? 0 : hello.slots - leases.count }
    }

    /// Opens the results directory, binds the socket and loads what is already done.
    /// - Throws: ``CoordinatorError`` for a directory of another sweep, an insecure non-loopback
    ///   bind, or a socket that cannot bind; ``ResultsError`` for unusable files.
    public init(plan: SweepPlan, outDirectory: String, configuration: CoordinatorConfiguration, logger: Logger) throws {
        self.plan = plan
        self.configuration = configuration
        self.logger = logger
        resultNames = plan.family.resultMetricNames
        curveNames = plan.family.curveMetricNames
        let manifest = SweepManifest(
            name: plan.name, experiment: plan.family.name, baseDigest: plan.baseDigest,
            grainsweepVersion: configuration.softwareVersion, createdAt: utcTimestamp())
        directory = try ResultsDirectory(
            path: outDirectory, layout: CSVLayout(family: plan.family), manifest: manifest, specText: plan.specText)
        status = [TaskStatus](repeating: .pending, count: plan.count)
        attempts = [UInt8](repeating: 0, count: plan.count)
        progress = ProgressMeter(total: plan.count)

        indexOf.reserveCapacity(plan.count)
        for (i, id) in plan.ids().enumerated() { indexOf[id] = Int32(i) }

        if configuration.retryFailed { try directory.clearQuarantine() }
        var foreign = 0
        for (id, _) in directory.finished {
            if let i = indexOf[id] { status[Int(i)] = .done; doneCount += 1 } else { foreign += 1 }
        }
        for id in directory.quarantined {
            if let i = indexOf[id], status[Int(i)] == .pending { status[Int(i)] = .quarantined; quarantinedCount += 1 }
        }
        if let old = directory.previousManifest, old.baseDigest != plan.baseDigest, foreign > 0 {
            throw CoordinatorError(
                "\(outDirectory) holds \(directory.finished.count) results of sweep '\(old.name)' whose base parameters differ from this spec's (\(foreign) of them are no task of this spec): they belong to a different sweep. Use a new --out directory, or restore the spec's base parameters.")
        }
        if let old = directory.previousManifest, old.baseDigest != plan.baseDigest {
            try directory.replaceManifest(manifest)
        }
        remaining = plan.count - doneCount - quarantinedCount
        try directory.compactCurves()

        if directory.results.repairedBytes + directory.curves.repairedBytes + directory.failures.repairedBytes > 0 {
            logger.warning("repaired torn last lines left by a crash", metadata: [
                "results.bytes": "\(directory.results.repairedBytes)", "curves.bytes": "\(directory.curves.repairedBytes)",
                "failures.bytes": "\(directory.failures.repairedBytes)",
            ])
        }
        if doneCount > 0 || foreign > 0 {
            logger.info("resuming", metadata: [
                "done": "\(doneCount)", "quarantined": "\(quarantinedCount)", "remaining": "\(remaining)",
                "rows.not_in_spec": "\(foreign)", "curves.dropped": "\(directory.droppedCurveRows)",
            ])
        }

        guard configuration.security != nil || configuration.insecure || Self.isLocal(configuration.bind) else {
            throw CoordinatorError(
                "refusing to serve \(configuration.bind) without encryption: anyone who can reach it could take tasks and forge results. Make keys with `grainsweep keygen --out keys/coordinator` and `grainsweep keygen --out keys/workers/NAME`, then pass --secret-key and --authorized-keys (see README, 'Running on a cluster'), or bind to 127.0.0.1, or pass --insecure to accept the risk.")
        }

        context = try ZMQContext()
        socket = try ZMQSocket(context, .router)
        try socket.set(.linger(milliseconds: 1000))
        try socket.set(.routerMandatory(true))
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

    /// Counters of dropped messages so far.
    public var droppedMessages: Counters { counters }

    // MARK: - The loop

    /// Serves until every task is done or quarantined, or until `shutdown` asks to stop.
    ///
    /// First request: stop handing out tasks, give running ones `gracePeriodSeconds` to finish,
    /// commit, tell workers goodbye and return. Second request: commit and return at once.
    public func run(shutdown: ShutdownRequest) throws -> CoordinatorSummary {
        let started = Self.now()
        let interval = Double(configuration.heartbeatIntervalMs) / 1000
        let commitEvery = Double(configuration.commitIntervalMs) / 1000
        var nextHeartbeat = started + interval
        var lastCommit = started
        var nextProgress = started
        var stopping = false
        var graceDeadline = Double.infinity
        logger.info("serving sweep", metadata: [
            "sweep": "\(plan.name)", "endpoint": "\(endpoint)", "tasks": "\(plan.count)",
            "remaining": "\(remaining)", "experiment": "\(plan.family.name)",
            "security": "\(configuration.security == nil ? "none" : "curve")",
        ])
        var items = [socket.pollItem(.readable)]
        while true {
            var now = Self.now()
            let requests = shutdown.requests
            if requests >= 2 {
                logger.warning("second stop request: leaving at once", metadata: ["leases.abandoned": "\(leases.count)"])
                return try finish(started: started, stopped: true)
            }
            if requests == 1 && !stopping {
                stopping = true
                graceDeadline = now + configuration.gracePeriodSeconds
                logger.notice("stopping: no new tasks; waiting for running ones", metadata: [
                    "running": "\(leases.count)", "grace.seconds": "\(configuration.gracePeriodSeconds)",
                ])
            }
            if stopping && (leases.isEmpty || now >= graceDeadline) {
                return try finish(started: started, stopped: true)
            }
            if !stopping && remaining == 0 && leases.isEmpty {
                return try finish(started: started, stopped: false)
            }

            let untilHeartbeat = max(0, nextHeartbeat - now)
            let timeout = directory.pendingBytes > 0 ? min(untilHeartbeat, commitEvery) : min(untilHeartbeat, 0.1)
            _ = try zmqPoll(&items, timeoutMilliseconds: Int(timeout * 1000) + 1)
            var handled = 0
            while handled < 10_000, let frames = try socket.receive(dontWait: true, maxFrames: 4) {
                handle(frames, now: Self.now())
                handled += 1
            }
            if !stopping { dispatch(now: Self.now()) }

            now = Self.now()
            if directory.pendingBytes > 0 && (now - lastCommit >= commitEvery || directory.pendingBytes > 4 << 20) {
                try directory.commit()
                lastCommit = now
            }
            if now >= nextHeartbeat {
                nextHeartbeat = now + interval
                heartbeatAndReap(now: now, interval: interval)
                reportRefusals(now: now)
            }
            if now >= nextProgress {
                reportProgress(now: now)
                nextProgress = now + (configuration.progressBar ? 0.25 : configuration.progressLogIntervalSeconds)
            }
        }
    }

    private func finish(started: Double, stopped: Bool) throws -> CoordinatorSummary {
        try directory.commit()
        let running = Dictionary(uniqueKeysWithValues: leases.map { ($0.key, $0.value.attempt) })
        try directory.compactCurves(running: running)
        let goodbye = WireCodec.encode(.goodbye(Goodbye(
            final: !stopped, reason: stopped ? "coordinator stopping; reconnect later" : "sweep finished")))
        for peer in workers.keys { _ = try? socket.send([peer.bytes, goodbye], dontWait: true) }
        if configuration.progressBar { FileHandle.standardError.write(Data("\n".utf8)) }
        counters.deniedConnections = authenticator?.denied ?? 0
        leaseSeconds.sort()
        func quantile(_ q: Double) -> Double? {
            leaseSeconds.isEmpty ? nil : leaseSeconds[min(leaseSeconds.count - 1, Int(Double(leaseSeconds.count) * q))]
        }
        let end = Self.now()
        let summary = CoordinatorSummary(
            total: plan.count, done: doneCount, quarantined: quarantinedCount, ranThisSession: ranThisSession,
            stoppedEarly: stopped, counters: counters, elapsedSeconds: end - started,
            servingSeconds: firstDispatch.map { end - $0 } ?? 0,
            leaseLatencyP50: quantile(0.5), leaseLatencyP99: quantile(0.99))
        logger.notice("\(summary)")
        return summary
    }

    // MARK: - Messages

    private func handle(_ frames: [[UInt8]], now: Double) {
        guard frames.count == 2, !frames[0].isEmpty else {
            counters.malformed += 1
            return
        }
        let peer = PeerID(bytes: frames[0])
        let message: Message
        do {
            message = try frames[1].withUnsafeBytes { raw throws(DecodeError) in try WireCodec.decode(raw) }
        } catch {
            counters.malformed += 1
            logger.debug("dropped a malformed frame", metadata: ["error": "\(error)", "bytes": "\(frames[1].count)"])
            return
        }
        if case .hello(let hello) = message {
            greet(peer, hello, now: now)
            return
        }
        guard workers[peer] != nil else {
            counters.unknownPeer += 1
            send(.reset, to: peer)
            return
        }
        workers[peer]!.lastSeen = now
        switch message {
        case .heartbeat(let beat): reconcile(peer, held: beat.held, now: now)
        case .metrics(let report): record(report, from: peer)
        case .result(let result): complete(result, from: peer)
        case .failure(let failure): fail(failure, from: peer)
        case .goodbye(let goodbye): farewell(peer, reason: goodbye.reason)
        case .hello, .welcome, .task, .reset, .cancel: counters.unexpected += 1
        }
    }

    private func send(_ message: Message, to peer: PeerID) {
        _ = try? socket.send([peer.bytes, WireCodec.encode(message)], dontWait: true)
    }

    private func greet(_ peer: PeerID, _ hello: Hello, now: Double) {
        guard hello.slots >= 1, hello.threadsPerSlot >= 1 else {
            counters.malformed += 1
            return
        }
        var state = WorkerState(hello: hello, lastSeen: now)
        var dropped: [TaskID] = []
        // The same worker process on a new connection (it reconnected while its old one still
        // looked alive here): carry its leases over instead of cancelling them as another
        // peer's, and forget the old connection.
        for (other, previous) in workers where other != peer
            && previous.hello.host == hello.host && previous.hello.pid == hello.pid {
            workers[other] = nil
            let held = Set(hello.held.map(\.taskID))
            for id in previous.leases {
                if held.contains(id), leases[id] != nil {
                    leases[id]!.worker = peer
                    state.leases.insert(id)
                } else {
                    dropped.append(id)
                }
            }
            state.drained = previous.drained
            logger.info("worker reconnected", metadata: ["worker": "\(previous.label)", "leases.kept": "\(state.leases.count)"])
        }
        if let old = workers[peer] {
            // The same connection said hello again: its leases are whatever it holds now; the
            // others go back to the queue without using up an attempt (the task never ran to
            // an end), so a confused or hostile peer repeating hello cannot quarantine tasks.
            let held = Set(hello.held.map(\.taskID))
            for id in old.leases { if held.contains(id) { state.leases.insert(id) } else { dropped.append(id) } }
            state.drained = old.drained
        }
        workers[peer] = state
        for id in dropped { requeue(id, consumeAttempt: false) }
        logger.info("worker joined", metadata: [
            "worker": "\(hello.host):\(hello.pid)", "slots": "\(hello.slots)", "threads": "\(hello.threadsPerSlot)",
            "version": "\(hello.softwareVersion)", "held": "\(hello.held.count)",
        ])
        send(.welcome(Welcome(
            heartbeatIntervalMs: configuration.heartbeatIntervalMs, liveness: configuration.liveness, sweepName: plan.name)), to: peer)
        reconcile(peer, held: hello.held, now: now)
        drainFailingWorkers()
    }

    /// Brings the coordinator's view of a worker's leases in line with what it says it holds.
    private func reconcile(_ peer: PeerID, held: [LeaseRef], now: Double) {
        guard workers[peer] != nil else { return }
        for lease in held {
            if let mine = leases[lease.taskID], mine.worker == peer, mine.attempt == lease.attempt {
                leases[lease.taskID]!.confirmed = true
            } else if let i = indexOf[lease.taskID], status[Int(i)] == .pending, leases[lease.taskID] == nil,
                      workers[peer]!.leases.count < workers[peer]!.hello.slots {
                // A task this worker kept running while we did not know it (coordinator restart,
                // link cut): adopt the lease instead of running it twice.
                status[Int(i)] = .leased
                attempts[Int(i)] = UInt8(clamping: max(Int(attempts[Int(i)]), lease.attempt))
                leases[lease.taskID] = Lease(worker: peer, attempt: lease.attempt, index: i, sentAt: now, confirmed: false)
                workers[peer]!.leases.insert(lease.taskID)
                logger.info("adopted a running task", metadata: ["task.id": "\(lease.taskID)", "worker": "\(workers[peer]!.label)"])
            } else {
                send(.cancel(lease), to: peer)
            }
        }
        let heldIDs = Set(held.map(\.taskID))
        let grace = Double(configuration.heartbeatIntervalMs) / 1000 * Double(configuration.liveness)
        let lost = workers[peer]!.leases.filter { id in
            guard !heldIDs.contains(id), let lease = leases[id] else { return false }
            // It held the task and no longer does, or never acknowledged it in time: the task is lost.
            return lease.confirmed || now - lease.sentAt > grace
        }
        for id in lost {
            logger.warning("worker lost a task", metadata: ["task.id": "\(id)", "worker": "\(workers[peer]!.label)"])
            expire(id)
        }
    }

    /// Whether `peer` holds the lease; otherwise counts a rejection and tells the peer to drop it.
    private func holds(_ peer: PeerID, _ ref: LeaseRef) -> Bool {
        if let lease = leases[ref.taskID], lease.worker == peer, lease.attempt == ref.attempt { return true }
        if let i = indexOf[ref.taskID], status[Int(i)] == .done { counters.stale += 1 } else { counters.rejected += 1 }
        send(.cancel(ref), to: peer)
        return false
    }

    private func record(_ report: MetricsReport, from peer: PeerID) {
        guard holds(peer, report.lease) else { return }
        let metrics = report.point.metrics
        guard metrics.count == curveNames.count, zip(metrics, curveNames).allSatisfy({ $0.name == $1 }) else {
            counters.badResults += 1
            return
        }
        leases[report.lease.taskID]!.confirmed = true
        let key = CurveKey(attempt: report.lease.attempt, phase: report.point.phase, epoch: report.point.epoch)
        guard curveSeen[report.lease.taskID, default: []].insert(key).inserted else { return }
        directory.recordCurve(
            taskID: report.lease.taskID, attempt: report.lease.attempt, phase: report.point.phase,
            epoch: report.point.epoch, metrics: metrics.map { CSVField.number($0.value) })
    }

    private func complete(_ result: TaskResult, from peer: PeerID) {
        guard holds(peer, result.lease) else { return }
        let id = result.lease.taskID
        let lease = leases[id]!
        guard result.metrics.count == resultNames.count, zip(result.metrics, resultNames).allSatisfy({ $0.name == $1 }) else {
            counters.badResults += 1
            fail(TaskFailure(lease: result.lease, error: "result with metrics \(result.metrics.map(\.name)), expected \(resultNames)"), from: peer)
            return
        }
        let worker = workers[peer]!
        leases[id] = nil
        workers[peer]!.leases.remove(id)
        workers[peer]!.failureStreak.removeAll()
        status[Int(lease.index)] = .done
        curveSeen[id] = nil
        doneCount += 1
        remaining -= 1
        ranThisSession += 1
        let finished = Self.now()
        progress.completed(at: finished)
        if leaseSeconds.count < 1_000_000 {
            leaseSeconds.append(finished - lease.sentAt)
        } else {
            let slot = Int.random(in: 0..<ranThisSession)
            if slot < leaseSeconds.count { leaseSeconds[slot] = finished - lease.sentAt }
        }
        directory.recordResult(
            taskID: id, parameters: plan.task(at: Int(lease.index)).parameters,
            metrics: result.metrics.map { CSVField.number($0.value) }, attempt: lease.attempt, host: worker.hello.host,
            threads: worker.hello.threadsPerSlot, wallSeconds: result.wallSeconds, finishedAt: utcTimestamp())
    }

    private func fail(_ failure: TaskFailure, from peer: PeerID) {
        guard holds(peer, failure.lease) else { return }
        let id = failure.lease.taskID
        guard var worker = workers[peer] else { return }
        worker.leases.remove(id)
        worker.failureStreak.insert(id)
        let index = leases[id]!.index
        failureHosts[index, default: []].append(worker.hello.host)
        logger.warning("task failed", metadata: [
            "task.id": "\(id)", "attempt": "\(failure.lease.attempt)", "worker": "\(worker.label)", "error": "\(failure.error)",
        ])
        workers[peer] = worker
        drainFailingWorkers()
        leases[id] = nil
        retryOrQuarantine(index, error: failure.error)
    }

    /// Drains every worker whose last `drainAfterFailures` tasks all failed, each a different
    /// task, as long as another worker that is not draining remains to do the work (alone, a
    /// worker cannot tell a broken node from broken tasks). Checked after each failure and each
    /// time a worker joins.
    private func drainFailingWorkers() {
        for (peer, worker) in workers where !worker.drained && worker.failureStreak.count >= configuration.drainAfterFailures {
            guard workers.contains(where: { $0.key != peer && !$0.value.drained }) else { return }
            workers[peer]!.drained = true
            counters.drainedWorkers += 1
            logger.error("draining worker: its last \(worker.failureStreak.count) tasks all failed, each a different task; it gets no new tasks", metadata: ["worker": "\(worker.label)"])
        }
    }

    private func farewell(_ peer: PeerID, reason: String) {
        guard let worker = workers.removeValue(forKey: peer) else { return }
        logger.info("worker left", metadata: ["worker": "\(worker.label)", "reason": "\(reason)", "handed.back": "\(worker.leases.count)"])
        for id in worker.leases { requeue(id, consumeAttempt: false) }
    }

    // MARK: - Leases

    private func requeue(_ id: TaskID, consumeAttempt: Bool) {
        guard let lease = leases.removeValue(forKey: id) else { return }
        workers[lease.worker]?.leases.remove(id)
        if consumeAttempt {
            retryOrQuarantine(lease.index, error: "worker died or lost the task")
        } else {
            attempts[Int(lease.index)] -= 1
            status[Int(lease.index)] = .pending
            retryQueue.append(lease.index)
        }
    }

    /// A lease whose worker went silent or lost it.
    private func expire(_ id: TaskID) {
        guard let lease = leases[id] else { return }
        counters.expiredLeases += 1
        failureHosts[lease.index, default: []].append(workers[lease.worker]?.hello.host ?? "?")
        requeue(id, consumeAttempt: true)
    }

    private func retryOrQuarantine(_ index: Int32, error: String) {
        if Int(attempts[Int(index)]) >= configuration.maxAttempts {
            status[Int(index)] = .quarantined
            curveSeen[plan.task(at: Int(index)).id] = nil
            quarantinedCount += 1
            remaining -= 1
            let task = plan.task(at: Int(index))
            directory.recordFailure(
                taskID: task.id, parameters: task.parameters, attempts: Int(attempts[Int(index)]),
                hosts: failureHosts[index] ?? [], lastError: error, at: utcTimestamp())
            logger.error("task quarantined after \(attempts[Int(index)]) attempts", metadata: ["task.id": "\(task.id)", "error": "\(error)"])
        } else {
            status[Int(index)] = .pending
            retryQueue.append(index)
            let interval = Double(configuration.heartbeatIntervalMs) / 1000
            retryNotBefore[index] = Self.now() + min(60, interval * Double(1 << min(Int(attempts[Int(index)]), 6)))
        }
    }

    /// The next task for a worker on `host`: retries first, then the plan in order. A retry is
    /// not given to a host where it already failed while another host could take it, nor before
    /// its backoff has passed (so one bad node alone cannot burn a task's attempts in a moment).
    private func nextTask(for host: String, now: Double) -> Int32? {
        var i = retryHead
        while i < retryQueue.count {
            let index = retryQueue[i]
            guard status[Int(index)] == .pending else {
                if i == retryHead { retryHead += 1 }
                i += 1
                continue
            }
            if let failedOn = failureHosts[index], failedOn.contains(host),
               now < retryNotBefore[index] ?? 0
                || workers.values.contains(where: { !$0.drained && !failedOn.contains($0.hello.host) }) {
                i += 1
                continue
            }
            retryQueue.remove(at: i)
            if retryHead > 1024 && retryHead * 2 > retryQueue.count {
                retryQueue.removeFirst(retryHead)
                retryHead = 0
            }
            return index
        }
        while cursor < status.count {
            let i = cursor
            cursor += 1
            if status[i] == .pending { return Int32(i) }
        }
        return nil
    }

    private func dispatch(now: Double) {
        guard remaining > leases.count else { return }
        for (peer, worker) in workers where worker.credit > 0 {
            var credit = worker.credit
            while credit > 0, let index = nextTask(for: worker.hello.host, now: now) {
                let task = plan.task(at: Int(index))
                attempts[Int(index)] += 1
                let ref = LeaseRef(taskID: task.id, attempt: Int(attempts[Int(index)]))
                let assignment = TaskAssignment(
                    lease: ref, experiment: plan.family.name,
                    parameters: task.parameters.sortedNames.map { ($0, task.parameters[$0]!) })
                let sent = (try? socket.send([peer.bytes, WireCodec.encode(.task(assignment))], dontWait: true)) ?? false
                guard sent else {
                    // The peer is gone (or its queue is full): the task was never handed out.
                    attempts[Int(index)] -= 1
                    retryQueue.append(index)
                    break
                }
                status[Int(index)] = .leased
                if firstDispatch == nil { firstDispatch = now }
                leases[task.id] = Lease(worker: peer, attempt: ref.attempt, index: index, sentAt: now, confirmed: false)
                workers[peer]!.leases.insert(task.id)
                credit -= 1
            }
        }
    }

    private func heartbeatAndReap(now: Double, interval: Double) {
        let deadline = interval * Double(configuration.liveness)
        let beat = WireCodec.encode(.heartbeat(Heartbeat(held: [])))
        for (peer, worker) in workers {
            if now - worker.lastSeen > deadline {
                workers[peer] = nil
                logger.warning("worker silent: declared dead", metadata: [
                    "worker": "\(worker.label)", "silent.seconds": "\(String(format: "%.1f", now - worker.lastSeen))",
                    "leases.requeued": "\(worker.leases.count)",
                ])
                for id in worker.leases { expire(id) }
            } else {
                _ = try? socket.send([peer.bytes, beat], dontWait: true)
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

    private func reportProgress(now: Double) {
        counters.deniedConnections = authenticator?.denied ?? 0
        let line = progress.line(
            now: now, done: doneCount, running: leases.count, failed: quarantinedCount,
            workers: workers.count, dropped: counters.dropped, denied: counters.deniedConnections)
        if configuration.progressBar {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
        } else {
            logger.info("progress: \(line)")
        }
    }
}

/// A ZeroMQ routing id: who sent a message to the ROUTER.
struct PeerID: Hashable {
    let bytes: [UInt8]
}

/// A coordinator that cannot start, with what to do about it.
public struct CoordinatorError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
