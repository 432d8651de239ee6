import ExperimentAPI
import Foundation
import Lifecycle
import Logging
import Parallelism
import WireProtocol
import ZeroMQ

/// Runs tasks for a coordinator: connects a DEALER, says hello with its slots, runs the leases it
/// is given on slot threads, streams each epoch's metrics, sends results and failures, heartbeats
/// from its I/O thread while busy, and reconnects with backoff when the coordinator goes silent
/// (Paranoid Pirate, with the worker watching the coordinator as much as the reverse).
///
/// Results sent shortly before a coordinator went away are kept, offered again in the next hello
/// (`held`) and re-sent if the new coordinator adopts their leases; a coordinator that already
/// has them answers `cancel`, so nothing is lost and nothing counts twice.
public final class Worker {
    public let configuration: WorkerConfiguration
    private let families: [String: any ExperimentFamily]
    private let logger: Logger
    private let context: ZMQContext
    private let pool: SlotPool
    /// A pool without threads for instant (no-op) tasks run on the I/O thread.
    private let inlinePool: ComputePool

    /// Leases being run, by task id.
    private var running: [TaskID: LeaseRef] = [:]
    /// The cancellation of each running lease: set on `cancel`, a coordinator's time limit, or
    /// shutdown, so that its slot really stops training and takes the next job.
    private var cancellations: [TaskID: TaskCancellation] = [:]
    /// Outcomes already sent, with their curve points, kept for two minutes (or three liveness
    /// periods if longer; at most 1,024) in case the coordinator did not get them (see type doc).
    private var recent: [TaskID: (ref: LeaseRef, curves: [[UInt8]], message: [UInt8], sentAt: Double, offeredAt: Double)] = [:]
    /// Curve points sent for running tasks, to send again if a new coordinator adopts the lease.
    private var curveLog: [TaskID: [[UInt8]]] = [:]
    /// For each running task, the hello after which its curve points were last all sent: a
    /// point sent before the latest hello may not have reached this coordinator, so they are all
    /// sent again before the next point or the result (a coordinator that has them drops them).
    private var curvesSentSince: [TaskID: Int] = [:]
    /// Hellos sent so far (a new connection, or a reset: the coordinator may have forgotten us).
    private var hellos = 0
    private var heartbeatInterval: Double
    private var liveness: Int
    /// Tasks completed, failed, and messages dropped (undecodable or unexpected), for logs and tests.
    public private(set) var completed = 0
    public private(set) var failed = 0
    public private(set) var dropped = 0
    private var sessions = 0

    /// - Throws: ``ComputePoolError`` when the host cannot give the slots' threads (before any
    ///   connection, so no lease is held), or a ZeroMQ error.
    /// Makes the family of a task whose definition travels with it (`command`); nil: refused.
    private let makeCommandFamily: CommandFamilyMaker?
    /// Spec-defined families already made, by identity (each sweep sends the same definition).
    private var commandFamilies: [String: any ExperimentFamily] = [:]

    public init(configuration: WorkerConfiguration, families: [any ExperimentFamily], commandFamily: CommandFamilyMaker? = nil,
                logger: Logger) throws {
        self.configuration = configuration
        self.families = Dictionary(uniqueKeysWithValues: families.map { ($0.name, $0) })
        makeCommandFamily = commandFamily
        self.logger = logger
        heartbeatInterval = Double(configuration.heartbeatIntervalMs) / 1000
        liveness = configuration.liveness
        pool = try SlotPool(slots: configuration.slots, threadsPerSlot: configuration.threadsPerSlot,
                            devices: configuration.devicesBySlot)
        inlinePool = try ComputePool(threads: 1)
        context = try ZMQContext()
    }

    deinit {
        for c in cancellations.values { c.cancel() }
        pool.stop(wait: true)
        inlinePool.shutdown()
        context.shutdown()
    }

    private func makeSocket() throws -> ZMQSocket {
        let socket = try ZMQSocket(context, .dealer)
        try socket.set(.linger(milliseconds: 500))
        try socket.set(.maxMessageSize(WireLimits.maxMessageBytes))
        try socket.set(.sendHighWaterMark(100_000))
        try socket.set(.receiveHighWaterMark(100_000))
        try socket.set(.reconnectInterval(milliseconds: 100))
        try socket.set(.reconnectIntervalMax(milliseconds: 2000))
        if let security = configuration.security {
            try socket.set(.curveClient(
                serverPublicKey: security.serverPublicKey, publicKey: security.publicKey, secretKey: security.secretKey))
        }
        try socket.connect(configuration.connect)
        return socket
    }

    /// What hello and heartbeats offer: leases running, and finished ones not yet acknowledged.
    private var heldLeases: [LeaseRef] { Array(running.values) + recent.values.map(\.ref) }

    private func hello() -> Message {
        hellos += 1
        return .hello(Hello(
            host: configuration.host, pid: Int(getpid()), cores: ProcessInfo.processInfo.activeProcessorCount,
            slots: configuration.slots, threadsPerSlot: configuration.threadsPerSlot,
            softwareVersion: configuration.softwareVersion, held: heldLeases))
    }

    /// Runs until the sweep finishes, a stop is requested, or no coordinator is heard for
    /// `giveUpAfterSeconds`. On a stop request it hands its running tasks back (goodbye).
    public func run(shutdown: ShutdownRequest) throws -> WorkerExit {
        var backoff = Double(configuration.reconnectInitialMs) / 1000
        var lastHeardEver = monotonicSeconds()
        while true {
            let socket = try makeSocket()
            let outcome = try session(socket, shutdown: shutdown, lastHeardEver: &lastHeardEver)
            socket.close()
            switch outcome {
            case .exit(let reason):
                return reason
            case .heardThenLost:
                backoff = Double(configuration.reconnectInitialMs) / 1000
            case .neverHeard:
                break
            }
            if let limit = configuration.giveUpAfterSeconds, monotonicSeconds() - lastHeardEver > limit {
                logger.error("no coordinator for \(Int(limit)) s: giving up", metadata: ["connect": "\(configuration.connect)"])
                return .gaveUp
            }
            // Backoff with jitter, waking early for a stop request.
            let wait = backoff * Double.random(in: 0.8...1.2)
            logger.notice("coordinator silent: reconnecting", metadata: [
                "connect": "\(configuration.connect)", "wait.seconds": "\(String(format: "%.2f", wait))",
                "running": "\(running.count)",
            ])
            let until = monotonicSeconds() + wait
            while monotonicSeconds() < until {
                if let parent = configuration.parentProcess, getppid() != parent { return .stopped }
                if shutdown.requests > 0 { return .stopped }
                usleep(20_000)
            }
            backoff = min(backoff * 2, Double(configuration.reconnectMaxMs) / 1000)
        }
    }

    private enum SessionOutcome {
        case exit(WorkerExit)
        case heardThenLost
        case neverHeard
    }

    /// One connection: from hello until the coordinator is silent for `liveness` intervals.
    private func session(_ socket: ZMQSocket, shutdown: ShutdownRequest, lastHeardEver: inout Double) throws -> SessionOutcome {
        var heard = false
        var lastHeard = monotonicSeconds()
        var nextHeartbeat = lastHeard + heartbeatInterval
        send(hello(), on: socket)
        var items = [socket.pollItem(.readable), ZMQPollItem(fileDescriptor: pool.wakeFD, events: .readable)]
        // With CURVE, watch the handshake: a refused key is otherwise indistinguishable from a
        // coordinator that is down.
        sessions += 1
        let monitor = configuration.security == nil ? nil
            : try? socket.monitor([.handshakeFailedAuth, .handshakeFailedProtocol], endpoint: "inproc://grainsweep.worker.monitor.\(sessions)")
        defer { monitor?.close() }
        if let monitor { items.append(monitor.pollItem(.readable)) }
        var refusalReported = false
        while true {
            if let parent = configuration.parentProcess, getppid() != parent {
                logger.notice("the process that started this worker is gone: stopping")
                shutdown.request()
            }
            if shutdown.requests > 0 {
                let handedBack = running.count
                for c in cancellations.values { c.cancel() }
                send(.goodbye(Goodbye(final: false, reason: "worker stopping (signal); \(handedBack) task(s) handed back")), on: socket)
                logger.notice("stopping: handed running tasks back", metadata: ["tasks": "\(handedBack)"])
                return .exit(.stopped)
            }
            let now = monotonicSeconds()
            let timeout = max(0, nextHeartbeat - now)
            _ = try zmqPoll(&items, timeoutMilliseconds: Int(timeout * 1000) + 1)

            for event in pool.drain() { forward(event, on: socket) }
            while let event = try monitor?.receiveMonitorEvent() {
                guard !refusalReported else { continue }
                refusalReported = true
                if event.event.contains(.handshakeFailedAuth) {
                    logger.error("the coordinator refused this worker's CURVE key: add its .pub to the coordinator's --authorized-keys directory (then SIGHUP the coordinator), and check that --server-key is the coordinator's public key", metadata: ["connect": "\(configuration.connect)"])
                } else {
                    logger.error("CURVE handshake with the coordinator failed (mismatched keys or protocol)", metadata: ["connect": "\(configuration.connect)"])
                }
            }

            while let frames = try socket.receive(dontWait: true, maxFrames: 2) {
                guard frames.count == 1 else {
                    dropped += 1
                    continue
                }
                let message: Message
                do {
                    message = try frames[0].withUnsafeBytes { raw throws(DecodeError) in try WireCodec.decode(raw) }
                } catch {
                    dropped += 1
                    continue
                }
                heard = true
                lastHeard = monotonicSeconds()
                lastHeardEver = lastHeard
                switch message {
                case .welcome(let welcome):
                    heartbeatInterval = Double(max(10, welcome.heartbeatIntervalMs)) / 1000
                    liveness = max(2, welcome.liveness)
                    // The coordinator's interval rules from now on, also for the next heartbeat.
                    nextHeartbeat = min(nextHeartbeat, lastHeard + heartbeatInterval)
                    // Offer again what a coordinator may have missed: the curves of running tasks,
                    // and curves and outcome of tasks that finished while none was listening.
                    // A coordinator that has them already drops them (and says cancel).
                    for id in running.keys { resendCurves(of: id, on: socket) }
                    for id in recent.keys { offerAgain(id, on: socket) }
                case .task(let assignment):
                    accept(assignment, on: socket)
                case .heartbeat:
                    break
                case .cancel(let ref):
                    if running[ref.taskID] == ref {
                        // Stop the training too: its slot takes the next job within one step.
                        running[ref.taskID] = nil
                        curveLog[ref.taskID] = nil
                        curvesSentSince[ref.taskID] = nil
                        cancellations.removeValue(forKey: ref.taskID)?.cancel()
                    }
                    if recent[ref.taskID]?.ref == ref { recent[ref.taskID] = nil }
                case .reset:
                    send(hello(), on: socket)
                case .goodbye(let goodbye):
                    if goodbye.final {
                        logger.info("sweep finished: leaving", metadata: ["completed": "\(completed)", "failed": "\(failed)"])
                        return .exit(.sweepFinished)
                    }
                    logger.notice("coordinator stopping; will reconnect", metadata: ["reason": "\(goodbye.reason)"])
                case .hello, .metrics, .result, .failure:
                    dropped += 1
                }
            }

            let after = monotonicSeconds()
            if after >= nextHeartbeat {
                nextHeartbeat = after + heartbeatInterval
                // Finished tasks stay listed until the coordinator answers `cancel` for them (its
                // acknowledgement), so one that missed a result can still adopt and get it.
                send(.heartbeat(Heartbeat(held: heldLeases)), on: socket)
                let keep = max(120, heartbeatInterval * Double(liveness) * 3)
                recent = recent.filter { after - $0.value.sentAt < keep }
                // A result not acknowledged (cancelled) within a liveness period is offered again,
                // with its curve points: a coordinator that has them says cancel, one that lost
                // them records them.
                let every = heartbeatInterval * Double(liveness)
                for (id, entry) in recent where after - entry.offeredAt >= every { offerAgain(id, on: socket) }
            }
            if after - lastHeard > heartbeatInterval * Double(liveness) {
                return heard ? .heardThenLost : .neverHeard
            }
        }
    }

    private func send(_ message: Message, on socket: ZMQSocket) {
        _ = try? socket.send([WireCodec.encode(message)], dontWait: true)
    }

    private func accept(_ assignment: TaskAssignment, on socket: ZMQSocket) {
        let ref = assignment.lease
        func refuse(_ why: String) {
            failed += 1
            send(.failure(TaskFailure(lease: ref, error: why)), on: socket)
        }
        if running[ref.taskID] != nil { return }  // a duplicate delivery of a lease we run
        if recent[ref.taskID]?.ref == ref { return }  // one we finished (its result is offered again)
        // Beyond the slots, a task waits in the slot queue (a slot may still be stopping a
        // cancelled task); heartbeats list it, so the coordinator's view catches up. Refusing
        // would charge the task for the worker's state. The held list bounds the queue.
        guard running.count < WireLimits.maxHeldLeases - recent.count else {
            refuse("worker holds \(running.count) leases, the protocol's limit")
            return
        }
        var given = Dictionary(assignment.parameters.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
        let family: any ExperimentFamily
        if let compiled = families[assignment.experiment] {
            family = compiled
        } else if assignment.experiment == "command", let makeCommandFamily {
            // A spec-defined family: its definition travels with the task.
            let wire = CommandDefinition.fromWire(given)
            guard let definition = wire.definition else {
                refuse("a command task without a readable definition (\(CommandDefinition.wirePrefix)* parameters)")
                return
            }
            given = wire.rest
            if let made = commandFamilies[definition.identity] {
                family = made
            } else {
                family = makeCommandFamily(definition)
                if commandFamilies.count >= 64 { commandFamilies.removeAll() }
                commandFamilies[definition.identity] = family
            }
        } else {
            refuse("this worker has no experiment '\(assignment.experiment)' (it has \(families.keys.sorted().joined(separator: ", ")))")
            return
        }
        let parameters: ParameterSet
        switch family.resolve(given) {
        case .success(let set): parameters = set
        case .failure(let problems):
            refuse("invalid parameters: \(problems)")
            return
        }
        guard TaskID.of(experiment: family.identity, parameters: parameters) == ref.taskID else {
            refuse("task id \(ref.taskID) does not match its parameters (different grainsweep versions?)")
            return
        }
        running[ref.taskID] = ref
        curvesSentSince[ref.taskID] = hellos
        if configuration.failEveryTask {
            forward(.failure(ref, "injected failure (--inject-failures)"), on: socket, remember: false)
            return
        }
        let job = Job(lease: ref, family: family, parameters: parameters, cancellation: TaskCancellation())
        if family.isInstant(parameters) {
            // A no-op: run it here, and don't keep its result for re-sending (re-running is free).
            forward(SlotPool.execute(job, context: TaskContext(pool: inlinePool)) { _ in }, on: socket, remember: false)
        } else {
            cancellations[ref.taskID] = job.cancellation
            pool.submit(job)
        }
    }

    /// Sends a finished task's curve points and result again (its curve points first: a
    /// coordinator that lost the result may have lost them too).
    private func offerAgain(_ id: TaskID, on socket: ZMQSocket) {
        guard let entry = recent[id] else { return }
        for bytes in entry.curves { _ = try? socket.send([bytes], dontWait: true) }
        _ = try? socket.send([entry.message], dontWait: true)
        recent[id]!.offeredAt = monotonicSeconds()
    }

    /// Sends a running task's curve points again if some were sent before the latest hello.
    private func resendCurves(of id: TaskID, on socket: ZMQSocket) {
        guard curvesSentSince[id] != hellos else { return }
        for bytes in curveLog[id] ?? [] { _ = try? socket.send([bytes], dontWait: true) }
        curvesSentSince[id] = hellos
    }

    private func forward(_ event: SlotEvent, on socket: ZMQSocket, remember: Bool = true) {
        switch event {
        case .metrics(let ref, let point):
            guard running[ref.taskID] == ref else { return }
            if remember { resendCurves(of: ref.taskID, on: socket) }
            let bytes = WireCodec.encode(.metrics(MetricsReport(lease: ref, point: point)))
            _ = try? socket.send([bytes], dontWait: true)
            if remember { curveLog[ref.taskID, default: []].append(bytes) }
        case .result(let ref, let wall, let metrics):
            guard running[ref.taskID] == ref else { return }
            running[ref.taskID] = nil
            cancellations[ref.taskID] = nil
            completed += 1
            if remember { resendCurves(of: ref.taskID, on: socket) }
            curvesSentSince[ref.taskID] = nil
            let bytes = WireCodec.encode(.result(TaskResult(lease: ref, wallSeconds: wall, metrics: metrics)))
            _ = try? socket.send([bytes], dontWait: true)
            let curves = curveLog.removeValue(forKey: ref.taskID) ?? []
            if remember && recent.count < 1024 {
                let sent = monotonicSeconds()
                recent[ref.taskID] = (ref, curves, bytes, sent, sent)
            }
        case .failure(let ref, let error):
            guard running[ref.taskID] == ref else { return }
            running[ref.taskID] = nil
            cancellations[ref.taskID] = nil
            curveLog[ref.taskID] = nil
            curvesSentSince[ref.taskID] = nil
            failed += 1
            let bytes = WireCodec.encode(.failure(TaskFailure(lease: ref, error: String(error.prefix(2000)))))
            _ = try? socket.send([bytes], dontWait: true)
        }
    }
}
