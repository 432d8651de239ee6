import ExperimentAPI
import Foundation
import Leasing
import WireProtocol

/// What a simulation runs: its size, its timings and how often each fault strikes.
///
/// Rates are per second of simulated time for the whole system (not per worker).
public struct SimulationOptions: Sendable, Hashable {
    public var seed: UInt64
    public var workers = 200
    /// Workers are spread round-robin over this many hosts.
    public var hosts = 60
    public var tasks = 4_000
    public var maxSlots = 4
    public var maxAttempts = 3
    public var heartbeat = 1.0
    public var liveness = 5
    /// A task's time limit, seconds.
    public var timeLimit = 60.0
    /// Normal tasks take this long, split evenly over 1 to 3 epochs.
    public var taskSeconds: ClosedRange<Double> = 1...20
    public var latency: ClosedRange<Double> = 0.000_2...0.02
    public var loss = 0.002
    public var duplication = 0.002
    /// Extra delay for a fraction of messages, so they overtake each other.
    public var reordering = 0.01
    public var workerCrashes = 0.02
    public var workerStalls = 0.05
    public var coordinatorCrashes = 0.01
    public var coordinatorStalls = 0.01
    public var clockJumps = 0.01
    public var partitions = 0.01
    public var hostileActs = 0.5
    /// Fractions of tasks that fail on every host, crash their worker wherever they run, or hang.
    public var poisonTasks = 0.005
    public var crasherTasks = 0.001
    public var hangingTasks = 0.001
    /// Prints the state machine's log lines and worker events about this task (for replaying a failure).
    public var traceTask: Int?
    /// Simulated seconds after which the run is a failure (the sweep did not finish).
    public var maxSeconds = 20_000.0

    public init(seed: UInt64) { self.seed = seed }

    /// No faults, no bad tasks, no hostile peers: the baseline for throughput.
    public mutating func disableFaults() {
        loss = 0; duplication = 0; reordering = 0
        workerCrashes = 0; workerStalls = 0; coordinatorCrashes = 0; coordinatorStalls = 0
        clockJumps = 0; partitions = 0; hostileActs = 0
        poisonTasks = 0; crasherTasks = 0; hangingTasks = 0
    }
}

/// The outcome of one simulation: what happened, and every invariant violation seen.
public struct SimulationReport: Sendable, CustomStringConvertible {
    public var seed: UInt64
    public var events = 0
    public var simulatedSeconds = 0.0
    public var finished = false
    public var resultRows = 0
    public var quarantined = 0
    public var curveRows = 0
    public var workerCrashes = 0, workerStalls = 0, coordinatorCrashes = 0, coordinatorStalls = 0
    public var clockJumps = 0, partitions = 0, hostileMessages = 0, lostMessages = 0, duplicatedMessages = 0
    public var counters = Counters()
    /// Largest number of leases the state machine attributed to one worker, over its slots.
    public var peakLeasesOverSlots = 0.0
    public var violations: [String] = []

    public var description: String {
        var s = "seed \(seed): \(finished ? "finished" : "NOT FINISHED") after \(events) events, \(Int(simulatedSeconds)) simulated s; "
        s += "\(resultRows) results, \(quarantined) quarantined, \(curveRows) curve rows; "
        s += "faults: \(workerCrashes) worker crashes, \(workerStalls) worker stalls, \(coordinatorCrashes) coordinator crashes, "
        s += "\(coordinatorStalls) coordinator stalls, \(clockJumps) clock jumps, \(partitions) partitions, "
        s += "\(lostMessages) lost and \(duplicatedMessages) duplicated messages, \(hostileMessages) hostile messages; "
        let c = counters
        s += "coordinator counted: \(c.forgedClaims) forged claims, \(c.rejected) rejected, \(c.stale) stale, \(c.badCurvePoints) bad curve points, "
        s += "\(c.refusedHellos) refused hellos, \(c.adoptedLeases) adoptions, \(c.expiredLeases) expired leases, \(c.massDeaths) mass deaths, "
        s += "\(c.stalls) stalls, \(c.timedOutLeases) time-outs, \(c.drainedWorkers) drained"
        s += String(format: "; peak leases/slots %.2f", peakLeasesOverSlots)
        s += violations.isEmpty ? "; no violations" : "; \(violations.count) VIOLATIONS, first: \(violations[0])"
        return s
    }
}

/// A deterministic simulation of a coordinator (the real ``LeaseStateMachine``) and thousands of
/// simulated workers, driven by one seed: message latency, loss, duplication and reordering,
/// worker crashes and restarts, coordinator crashes (restarting from what was durable) and
/// stalls, clock jumps, partitions, tasks that fail, crash or hang, and hostile peers. After
/// every event it checks the invariants:
/// - nothing traps (the run completes);
/// - each task ends with exactly one durable row (a result or a quarantine), and the sweep ends;
/// - no result row comes from a lease that was never issued, or carries a forged value;
/// - curve rows are written once per (task, attempt, phase, epoch), within the task's phases and
///   epochs, and a finished task's final attempt has all its epochs;
/// - a task's attempts are charged only for its own failures (normal tasks: only when a worker
///   holding it crashed on two hosts);
/// - no worker is charged more leases than its slots.
public final class LeaseSimulation {
    public let options: SimulationOptions
    private var random: SimRandom
    private var queue = EventQueue<Event>()
    private var now = 0.0
    private var report: SimulationReport

    // The coordinator and what it made durable.
    private let plan: SimulationPlan
    private let signer: LeaseSigner
    private var machine: LeaseStateMachine
    private var coordinatorUp = true
    private var coordinatorIncarnation = 0
    private var coordinatorBusyUntil = 0.0
    private var clockOffset = 0.0
    private var resultRow: [Int: LeaseRef] = [:]
    private var quarantineRow: Set<Int> = []
    private var curveRows: Set<CurveRow> = []
    /// charges.csv: net charges per task.
    private var chargeRows: [Int: Int] = [:]
    private var pending: [PendingRow] = []
    private var issued: Set<LeaseRef> = []

    // Simulated workers; hostile peers are workers that also misbehave.
    private var workers: [SimWorker] = []
    /// Tasks whose worker crashed while running them, with the hosts.
    private var crashedHolding: [Int: Set<String>] = [:]
    /// Leases of each task that hostile workers held.
    private var hostileFailures: [Int: Int] = [:]
    private var observedMessages: [(PeerID, Message)] = []
    /// The simulated worker behind each current connection.
    private var workerOfPeer: [PeerID: Int] = [:]
    /// Workers (host:pid) that ran the traced task.
    private var tracedWorkers: Set<String> = []

    private struct CurveRow: Hashable {
        var task: Int
        var attempt: Int
        var phase: String
        var epoch: Int
    }

    private enum PendingRow {
        case result(Int, LeaseRef)
        case quarantine(Int)
        case curve(CurveRow)
        case charge(Int, Int)
    }

    private enum Event {
        case toCoordinator(PeerID, Message, incarnation: Int)
        case toWorker(Int, incarnation: Int, Message)
        case coordinatorTick
        case coordinatorRestart
        case workerTimer(Int, incarnation: Int)
        case workerRestart(Int)
        case epochDone(Int, incarnation: Int, LeaseRef)
        case fault
    }

    public init(options: SimulationOptions) {
        self.options = options
        random = SimRandom(seed: options.seed)
        report = SimulationReport(seed: options.seed)
        plan = SimulationPlan(options: options)
        var keyRandom = SimRandom(seed: options.seed ^ 0x5EED)
        signer = LeaseSigner(key: (0..<32).map { _ in UInt8.random(in: 0...255, using: &keyRandom) })
        machine = Self.makeMachine(plan: plan, options: options, signer: signer, finished: [], quarantined: [])
        var slotRandom = SimRandom(seed: options.seed &+ 0x51075)
        for w in 0..<options.workers {
            let hostile = options.hostileActs > 0 && w % 50 == 49
            workers.append(SimWorker(
                index: w, host: hostile ? "evil\(w)" : "h\(w % max(1, options.hosts))",
                slots: 1 + slotRandom.below(max(1, options.maxSlots)), hostile: hostile))
        }
    }

    private static func makeMachine(plan: SimulationPlan, options: SimulationOptions, signer: LeaseSigner,
                                    finished: [Int], quarantined: [Int], charges: [Int: Int] = [:]) -> LeaseStateMachine {
        var rules = LeaseRules()
        rules.heartbeatInterval = options.heartbeat
        rules.liveness = options.liveness
        rules.maxAttempts = options.maxAttempts
        return LeaseStateMachine(plan: plan, sweepName: "sim", rules: rules, signer: signer,
                                 finished: finished, quarantined: quarantined, charges: charges)
    }

    private func violation(_ text: String) {
        if report.violations.count < 20 || (report.violations.count < 100 && !text.contains("curve point")) { report.violations.append("t=\(String(format: "%.3f", now)): \(text)") }
    }

    // MARK: - Running

    /// Runs until the sweep ends or `maxSeconds` of simulated time pass.
    public func run() -> SimulationReport {
        queue.push(.coordinatorTick, at: 0)
        for w in workers.indices { startWorker(w, at: random.uniform(0...2)) }
        scheduleFault()
        var nextProgress = 0.0
        while let (time, event) = queue.pop() {
            now = time
            if options.traceTask != nil && now >= nextProgress {
                nextProgress = now + 100
                print(String(format: "%10.3f", now), "progress: done \(machine.done), quarantined \(machine.quarantined), running \(machine.running), remaining \(machine.remaining), workers known \(machine.workerCount), alive \(workers.filter(\.alive).count), coordinator up \(coordinatorUp)")
            }
            report.events += 1
            handle(event)
            if machine.isFinished && coordinatorUp { break }
            if now > options.maxSeconds { break }
        }
        report.simulatedSeconds = now
        report.finished = machine.isFinished
        if !report.finished { violation("the sweep did not finish (\(machine.remaining) tasks left, \(machine.running) running)") }
        commit()
        checkEnd()
        report.counters = machine.counters
        report.resultRows = resultRow.count
        report.quarantined = quarantineRow.count
        report.curveRows = curveRows.count
        return report
    }

    private func handle(_ event: Event) {
        switch event {
        case .toCoordinator(let peer, let message, let incarnation):
            guard coordinatorUp, incarnation == coordinatorIncarnation || incarnation < 0 else { return }
            if now < coordinatorBusyUntil {
                queue.push(event, at: coordinatorBusyUntil)  // in arrival order: links stay FIFO
                return
            }
            machine.receive(message, from: peer, now: now + clockOffset)
            carryOut()
        case .coordinatorTick:
            guard coordinatorUp else { return }
            if now < coordinatorBusyUntil {
                queue.push(.coordinatorTick, at: coordinatorBusyUntil)
                return
            }
            commit()
            machine.tick(now: now + clockOffset)
            machine.dispatch(now: now + clockOffset)
            carryOut()
            queue.push(.coordinatorTick, at: now + 0.05)
        case .coordinatorRestart:
            restartCoordinator()
        case .toWorker(let w, let incarnation, let message):
            guard workers[w].alive, workers[w].incarnation == incarnation else { return }
            if now < workers[w].stalledUntil {
                queue.push(event, at: workers[w].stalledUntil)
                return
            }
            workerReceives(w, message)
        case .workerTimer(let w, let incarnation):
            guard workers[w].alive, workers[w].incarnation == incarnation else { return }
            if now < workers[w].stalledUntil {
                queue.push(event, at: workers[w].stalledUntil)
                return
            }
            workerTimer(w)
        case .workerRestart(let w):
            startWorker(w, at: now)
        case .epochDone(let w, let incarnation, let ref):
            guard workers[w].alive, workers[w].incarnation == incarnation else { return }
            if now < workers[w].stalledUntil {
                queue.push(event, at: workers[w].stalledUntil)
                return
            }
            epochDone(w, ref)
        case .fault:
            injectFault()
            scheduleFault()
        }
    }

    // MARK: - Coordinator side

    private func carryOut() {
        machine.drainActions { action in
            switch action {
            case .send(let peer, let message):
                sendToWorker(peer, message)
            case .assign(let peer, let assignment):
                issued.insert(assignment.lease)
                if let w = workerIndex(peer), let held = machine.leaseCount(of: peer) {
                    let share = Double(held) / Double(workers[w].slots)
                    report.peakLeasesOverSlots = max(report.peakLeasesOverSlots, share)
                    if held > workers[w].slots { violation("worker \(w) holds \(held) leases with \(workers[w].slots) slots") }
                }
                sendToWorker(peer, .task(assignment))
            case .recordResult(let index, let lease, _, _, _, let metrics, _):
                if resultRow[index] != nil || quarantineRow.contains(index) || pendingResult(index) {
                    violation("a second row for task \(index) (lease attempt \(lease.attempt))")
                }
                if !issued.contains(lease) {
                    violation("a row from a lease never issued: task \(index) attempt \(lease.attempt)")
                }
                if metrics.first?.value != plan.expectedValue(index) {
                    violation("a forged value for task \(index): \(metrics.first?.value ?? .nan)")
                }
                if plan.kind(index) != .normal { violation("a result for a task that cannot succeed (\(plan.kind(index)))") }
                pending.append(.result(index, lease))
                if index == options.traceTask { print(String(format: "%10.3f", now), "sim: result row (pending) attempt \(lease.attempt), coordinator \(coordinatorIncarnation)") }
            case .recordCurve(let taskID, let attempt, let point):
                guard let index = plan.index(of: taskID) else {
                    violation("a curve row for a task not in the plan")
                    return
                }
                let row = CurveRow(task: index, attempt: attempt, phase: point.phase, epoch: point.epoch)
                if index == options.traceTask { print(String(format: "%10.3f", now), "sim: curve row (pending) attempt \(attempt) epoch \(point.epoch), coordinator \(coordinatorIncarnation)") }
                if curveRows.contains(row) || pending.contains(where: { if case .curve(let r) = $0 { r == row } else { false } }) {
                    violation("curve row written twice: task \(index) attempt \(attempt) \(point.phase) \(point.epoch)")
                }
                if point.phase != "train" || point.epoch < 1 || point.epoch > plan.epochs(index) {
                    violation("curve row outside the task's phases and epochs: \(point.phase) \(point.epoch)")
                }
                pending.append(.curve(row))
            case .quarantine(let index, _, let hosts, let lastError):
                if resultRow[index] != nil || quarantineRow.contains(index) || pendingResult(index) {
                    violation("a quarantine row for task \(index), which already has a row")
                }
                if plan.kind(index) == .normal && allowedCharges(index) < options.maxAttempts {
                    violation("normal task \(index) quarantined (charges \(machine.charges(ofTask: index)), allowed \(allowedCharges(index)); hosts \(hosts), last error: \(lastError); crashed on \(crashedHolding[index].map { Array($0) } ?? []), hostile failures \(hostileFailures[index] ?? 0))")
                }
                pending.append(.quarantine(index))
            case .recordCharge(let index, _, let delta, _, _):
                pending.append(.charge(index, delta))
            case .log(let level, let text, let metadata):
                if let t = options.traceTask, metadata["task.id"] == plan.taskID(at: t).description
                    || (metadata["worker"].map { w in tracedWorkers.contains(w) } ?? false) {
                    print(String(format: "%10.3f", now + clockOffset), level, text, metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
                }
            }
        }
    }

    /// What a normal task may be charged: one failure per lease of it a hostile worker held (an
    /// admitted worker can fail its own leases), and one per loss host beyond the first, where
    /// loss hosts are hosts whose worker crashed while running it or hostile workers (which can
    /// lie about holding a lease). Stalled, partitioned or slow workers never count.
    private func allowedCharges(_ index: Int) -> Int {
        let hostile = hostileFailures[index, default: 0]
        return hostile + max(0, (crashedHolding[index]?.count ?? 0) + hostile - 1)
    }

    private func pendingResult(_ index: Int) -> Bool {
        pending.contains { if case .result(let i, _) = $0 { i == index } else if case .quarantine(let i) = $0 { i == index } else { false } }
    }

    /// Group commit: pending rows become durable (a crash loses what is pending).
    private func commit() {
        for row in pending {
            switch row {
            case .result(let i, let lease): resultRow[i] = lease
            case .quarantine(let i): quarantineRow.insert(i)
            case .curve(let r): curveRows.insert(r)
            case .charge(let i, let delta): chargeRows[i, default: 0] += delta
            }
        }
        pending.removeAll(keepingCapacity: true)
    }

    private func restartCoordinator() {
        coordinatorUp = true
        coordinatorIncarnation += 1
        clockOffset += random.uniform(0...1000)  // a new process: another monotonic origin
        // What compactCurves does at startup: curve rows of unfinished tasks go.
        curveRows = curveRows.filter { resultRow[$0.task]?.attempt == $0.attempt }
        machine = Self.makeMachine(plan: plan, options: options, signer: signer,
                                   finished: Array(resultRow.keys), quarantined: Array(quarantineRow),
                                   charges: chargeRows.filter { resultRow[$0.key] == nil && !quarantineRow.contains($0.key) })
        queue.push(.coordinatorTick, at: now)
    }

    private func sendToWorker(_ peer: PeerID, _ message: Message) {
        guard let w = workerIndex(peer) else { return }
        deliver(message, toWorker: w, incarnation: workers[w].incarnation)
    }

    private func workerIndex(_ peer: PeerID) -> Int? { workerOfPeer[peer] }

    /// When a message sent now arrives. Each worker's link is FIFO in each direction, as a TCP
    /// connection is; messages of different links overtake each other freely (a slow link delays
    /// a fraction of messages by up to half a second).
    /// A partitioned link holds its messages until it heals (TCP retransmits; a connection
    /// outlives a partition, and the liveness rule decides what the silence meant).
    private func arrival(_ last: inout Double, partitionedUntil: Double) -> Double {
        var d = random.uniform(options.latency)
        if random.chance(options.reordering) { d += random.uniform(0...0.5) }
        let t = max(max(now, partitionedUntil) + d, last + 1e-6)
        last = t
        return t
    }

    private func deliver(_ message: Message, toWorker w: Int, incarnation: Int) {
        if random.chance(options.loss) {
            report.lostMessages += 1
            return
        }
        queue.push(.toWorker(w, incarnation: incarnation, message), at: arrival(&workers[w].lastArrivalAtWorker, partitionedUntil: workers[w].partitionedUntil))
        if random.chance(options.duplication) {
            report.duplicatedMessages += 1
            queue.push(.toWorker(w, incarnation: incarnation, message), at: arrival(&workers[w].lastArrivalAtWorker, partitionedUntil: workers[w].partitionedUntil))
        }
    }

    private func deliverToCoordinator(_ message: Message, from w: Int) {
        let worker = workers[w]
        if random.chance(options.loss) {
            report.lostMessages += 1
            return
        }
        if worker.hostile {
            if workers[w].sent.count < 64 { workers[w].sent.append(message) } else { workers[w].sent[random.below(64)] = message }
        }
        if observedMessages.count < 512 || random.chance(0.01) {
            if observedMessages.count >= 512 { observedMessages[random.below(512)] = (worker.peer, message) } else { observedMessages.append((worker.peer, message)) }
        }
        queue.push(.toCoordinator(worker.peer, message, incarnation: coordinatorIncarnation), at: arrival(&workers[w].lastArrivalAtCoordinator, partitionedUntil: workers[w].partitionedUntil))
        if random.chance(options.duplication) {
            report.duplicatedMessages += 1
            queue.push(.toCoordinator(worker.peer, message, incarnation: coordinatorIncarnation), at: arrival(&workers[w].lastArrivalAtCoordinator, partitionedUntil: workers[w].partitionedUntil))
        }
    }

    // MARK: - Workers

    private func startWorker(_ w: Int, at time: Double) {
        workers[w].incarnation += 1
        // Unique on its host, as process ids are: index and restart count.
        workerOfPeer[workers[w].peer] = nil
        workers[w].pid = w * 10_000 + workers[w].incarnation
        workers[w].peer = PeerID(bytes: Array("w\(w):\(workers[w].pid)".utf8))
        workerOfPeer[workers[w].peer] = w
        workers[w].alive = true
        workers[w].running = [:]
        workers[w].recent = [:]
        workers[w].stalledUntil = 0
        workers[w].lastHeard = time
        queue.push(.workerTimer(workers[w].index, incarnation: workers[w].incarnation), at: time)
        workers[w].needsHello = true
    }

    private func hello(_ w: Int) -> Message {
        workers[w].hellos += 1
        let worker = workers[w]
        return .hello(Hello(host: worker.host, pid: worker.pid, cores: 8, slots: worker.slots, threadsPerSlot: 1,
                            softwareVersion: "sim", held: worker.held))
    }

    private func workerTimer(_ w: Int) {
        if workers[w].needsHello {
            workers[w].needsHello = false
            workers[w].lastHeard = now
            deliverToCoordinator(hello(w), from: w)
        } else if now - workers[w].lastHeard > options.heartbeat * Double(options.liveness) {
            // The coordinator is silent: reconnect (a fresh hello with what it holds).
            workers[w].lastHeard = now
            deliverToCoordinator(hello(w), from: w)
        } else {
            deliverToCoordinator(.heartbeat(Heartbeat(held: workers[w].held)), from: w)
            // Results not acknowledged within a liveness period are offered again (as the real worker does).
            // In task order: a dictionary's iteration order differs between instances (per-instance
            // hash seeds), and each delivery draws from the simulation's random stream.
            for (id, r) in workers[w].recent.sorted(by: { $0.value.index < $1.value.index })
            where now - r.offeredAt >= options.heartbeat * Double(options.liveness) {
                for e in 1...plan.epochs(r.index) { deliverToCoordinator(.metrics(metrics(r.ref, epoch: e, index: r.index)), from: w) }
                deliverToCoordinator(.result(TaskResult(lease: r.ref, wallSeconds: 1, metrics: [Metric("value", plan.expectedValue(r.index))])), from: w)
                workers[w].recent[id]!.offeredAt = now
            }
        }
        if workers[w].hostile && random.chance(0.2) { misbehave(w) }
        queue.push(.workerTimer(w, incarnation: workers[w].incarnation), at: now + options.heartbeat * random.uniform(0.95...1.05))
    }

    private func workerReceives(_ w: Int, _ message: Message) {
        workers[w].lastHeard = now
        switch message {
        case .welcome:
            // Offer again what a coordinator may have missed (as the real worker does).
            for (id, _) in workers[w].running.sorted(by: { $0.value.index < $1.value.index }) { resendCurves(w, id) }
            for r in workers[w].recent.values.sorted(by: { $0.index < $1.index }) {
                for e in 1...plan.epochs(r.index) { deliverToCoordinator(.metrics(metrics(r.ref, epoch: e, index: r.index)), from: w) }
                deliverToCoordinator(.result(TaskResult(lease: r.ref, wallSeconds: 1, metrics: [Metric("value", plan.expectedValue(r.index))])), from: w)
            }
        case .task(let assignment):
            let ref = assignment.lease
            // A lease it runs or has finished: a duplicate delivery. Beyond its slots it queues,
            // as the real worker does (its heartbeat then tells the coordinator what it runs).
            if workers[w].running[ref.taskID]?.ref == ref || workers[w].recent[ref.taskID]?.ref == ref { return }
            guard let index = plan.index(of: ref.taskID) else { return }
            workers[w].running[ref.taskID] = SimRun(ref: ref, index: index, epochsDone: 0, offeredAt: now, curvesSince: workers[w].hellos)
            if workers[w].hostile { hostileFailures[index, default: 0] += 1 }
            if index == options.traceTask {
                tracedWorkers.insert("\(workers[w].host):\(workers[w].pid)")
                print(String(format: "%10.3f", now), "sim: \(workers[w].host):\(workers[w].pid) starts attempt \(ref.attempt); stalled until \(workers[w].stalledUntil), partitioned until \(workers[w].partitionedUntil)")
            }
            let kind = plan.kind(index)
            switch kind {
            case .normal, .poison:
                let step = kind == .poison ? 1.0 : plan.duration(index) / Double(plan.epochs(index))
                queue.push(.epochDone(w, incarnation: workers[w].incarnation, ref), at: now + step)
            case .crasher:
                queue.push(.epochDone(w, incarnation: workers[w].incarnation, ref), at: now + 0.5)
            case .hang:
                break
            }
        case .cancel(let ref):
            if options.traceTask != nil, plan.index(of: ref.taskID) == options.traceTask { print(String(format: "%10.3f", now), "sim: w\(w) gets cancel of attempt \(ref.attempt)") }
            if workers[w].running[ref.taskID]?.ref == ref { workers[w].running[ref.taskID] = nil }
            if workers[w].recent[ref.taskID]?.ref == ref { workers[w].recent[ref.taskID] = nil }
        case .reset:
            deliverToCoordinator(hello(w), from: w)
        case .goodbye(let goodbye):
            if goodbye.final && !goodbye.reason.hasPrefix("refused") {
                workers[w].alive = false
            }
        case .heartbeat, .hello, .metrics, .result, .failure:
            break
        }
    }

    /// As the real worker: points sent before the latest hello are sent again before the next
    /// point or the result.
    private func resendCurves(_ w: Int, _ id: TaskID) {
        guard let run = workers[w].running[id], run.curvesSince != workers[w].hellos else { return }
        for e in stride(from: 1, through: run.epochsDone, by: 1) {
            deliverToCoordinator(.metrics(metrics(run.ref, epoch: e, index: run.index)), from: w)
        }
        workers[w].running[id]!.curvesSince = workers[w].hellos
    }

    private func metrics(_ ref: LeaseRef, epoch: Int, index: Int) -> MetricsReport {
        MetricsReport(lease: ref, point: CurvePoint(phase: "train", epoch: epoch, metrics: [Metric("value", Double(epoch))]))
    }

    private func epochDone(_ w: Int, _ ref: LeaseRef) {
        guard workers[w].running[ref.taskID]?.ref == ref else { return }
        resendCurves(w, ref.taskID)
        var run = workers[w].running[ref.taskID]!
        switch plan.kind(run.index) {
        case .crasher:
            crashWorker(w)
            return
        case .poison:
            workers[w].running[ref.taskID] = nil
            deliverToCoordinator(.failure(TaskFailure(lease: ref, error: "poison")), from: w)
            return
        case .hang:
            return
        case .normal:
            break
        }
        run.epochsDone += 1
        workers[w].running[ref.taskID] = run
        if run.index == options.traceTask { print(String(format: "%10.3f", now), "sim: w\(w) epoch \(run.epochsDone) of attempt \(ref.attempt) done") }
        deliverToCoordinator(.metrics(metrics(ref, epoch: run.epochsDone, index: run.index)), from: w)
        if run.epochsDone < plan.epochs(run.index) {
            queue.push(.epochDone(w, incarnation: workers[w].incarnation, ref),
                       at: now + plan.duration(run.index) / Double(plan.epochs(run.index)))
            return
        }
        workers[w].running[ref.taskID] = nil
        workers[w].recent[ref.taskID] = SimRun(ref: ref, index: run.index, epochsDone: run.epochsDone, offeredAt: now, curvesSince: 0)
        let value = workers[w].hostile && random.chance(0.5) ? -1 : plan.expectedValue(run.index)
        if value == -1 {
            // A hostile worker lies about its own lease: its result is then what it is; the
            // check that matters is that it cannot do so for leases it was not handed.
            workers[w].recent[ref.taskID] = nil
            deliverToCoordinator(.failure(TaskFailure(lease: ref, error: "refusing to tell")), from: w)
            return
        }
        deliverToCoordinator(.result(TaskResult(lease: ref, wallSeconds: 1, metrics: [Metric("value", value)])), from: w)
    }

    private func crashWorker(_ w: Int) {
        guard workers[w].alive else { return }
        report.workerCrashes += 1
        for run in workers[w].running.values { crashedHolding[run.index, default: []].insert(workers[w].host) }
        workers[w].alive = false
        workers[w].incarnation += 1
        queue.push(.workerRestart(w), at: now + random.uniform(1...10))
    }

    // MARK: - Faults and hostile peers

    private func scheduleFault() {
        let total = options.workerCrashes + options.workerStalls + options.coordinatorCrashes + options.coordinatorStalls
            + options.clockJumps + options.partitions
        guard total > 0 else { return }
        queue.push(.fault, at: now - (1 / total) * log(max(1e-12, random.uniform(0...1))))
    }

    private func injectFault() {
        let total = options.workerCrashes + options.workerStalls + options.coordinatorCrashes + options.coordinatorStalls
            + options.clockJumps + options.partitions
        var x = random.uniform(0...total)
        let w = random.below(workers.count)
        x -= options.workerCrashes
        if x < 0 { crashWorker(w); return }
        x -= options.workerStalls
        if x < 0 {
            report.workerStalls += 1
            workers[w].stalledUntil = max(workers[w].stalledUntil, now + random.uniform(0.5...20))
            return
        }
        x -= options.coordinatorCrashes
        if x < 0 {
            guard coordinatorUp else { return }
            report.coordinatorCrashes += 1
            if options.traceTask != nil { print(String(format: "%10.3f", now), "sim: coordinator crashes, \(pending.count) rows lost") }
            coordinatorUp = false
            pending.removeAll()  // rows not yet committed are lost
            queue.push(.coordinatorRestart, at: now + random.uniform(1...15))
            return
        }
        x -= options.coordinatorStalls
        if x < 0 {
            report.coordinatorStalls += 1
            coordinatorBusyUntil = max(coordinatorBusyUntil, now + random.uniform(1...30))
            return
        }
        x -= options.clockJumps
        if x < 0 {
            report.clockJumps += 1
            clockOffset += random.chance(0.8) ? random.uniform(5...120) : -random.uniform(0...3)
            return
        }
        // A partition: a third of the hosts cut off for a while.
        report.partitions += 1
        let until = now + random.uniform(5...40)
        let phase = random.below(3)
        for i in workers.indices where i % 3 == phase { workers[i].partitionedUntil = until }
    }

    /// A hostile peer (an admitted worker that misbehaves) sends something it should not.
    private func misbehave(_ w: Int) {
        report.hostileMessages += 1
        let someTask = random.below(plan.count)
        let id = plan.taskID(at: someTask)
        switch random.below(9) {
        case 0:
            // Hello with 0 slots (from a second identity, so the worker itself stays served).
            let evil = PeerID(bytes: Array("x\(w):\(random.below(1000))".utf8))
            queue.push(.toCoordinator(evil, .hello(Hello(host: "evil", pid: 1, cores: 1, slots: 0, threadsPerSlot: 1,
                                                         softwareVersion: "sim", held: [])), incarnation: -1), at: now + 0.001)
        case 1:
            // Claims of leases never issued: bad tokens, attempt 0 and 65535, unknown tasks.
            var held = workers[w].held
            held.append(LeaseRef(taskID: id, attempt: 1, token: random.next()))
            held.append(LeaseRef(taskID: id, attempt: 0, token: signer.token(id, attempt: 0)))
            held.append(LeaseRef(taskID: id, attempt: 65_535, token: random.next()))
            held.append(LeaseRef(taskID: TaskID(high: random.next(), low: random.next()), attempt: 1, token: random.next()))
            deliverToCoordinator(random.chance(0.5) ? .heartbeat(Heartbeat(held: held)) : hello(w).withHeld(held), from: w)
        case 2:
            // A result for a lease it was never handed (forged token).
            deliverToCoordinator(.result(TaskResult(lease: LeaseRef(taskID: id, attempt: 1, token: random.next()),
                                                    wallSeconds: 1, metrics: [Metric("value", -1)])), from: w)
        case 3:
            // Another peer's lease, seen on the wire, reported as its own.
            if let (_, message) = observedMessages.isEmpty ? nil : observedMessages[random.below(observedMessages.count)],
               case .result(var r) = message {
                r.metrics = [Metric("value", -1)]
                deliverToCoordinator(.result(r), from: w)
            }
        case 4:
            // Curve points with an unknown phase or an epoch out of range, on its own leases.
            if let run = workers[w].running.values.min(by: { $0.index < $1.index }) {
                let bad = random.chance(0.5)
                    ? CurvePoint(phase: "evil", epoch: 1, metrics: [Metric("value", 0)])
                    : CurvePoint(phase: "train", epoch: random.chance(0.5) ? 0 : 1_000_000, metrics: [Metric("value", 0)])
                deliverToCoordinator(.metrics(MetricsReport(lease: run.ref, point: bad)), from: w)
            }
        case 5:
            // A replay of another worker's report under its own identity. (Not its hellos or
            // heartbeats: their lease tokens are bearer credentials that CURVE keeps off the wire;
            // a peer that has them can act for that worker, see README, "Leases cannot be forged".)
            if !observedMessages.isEmpty {
                let message = observedMessages[random.below(observedMessages.count)].1
                switch message {
                case .hello, .heartbeat: break
                default: deliverToCoordinator(message, from: w)
                }
            }
        case 6:
            // Messages only a coordinator sends.
            deliverToCoordinator(.reset, from: w)
            deliverToCoordinator(.cancel(LeaseRef(taskID: id, attempt: 1, token: 0)), from: w)
        case 7:
            // Garbage.
            machine.malformed()
        default:
            // A replay of one of its own earlier messages (a stale heartbeat, result or hello).
            if let old = workers[w].sent.isEmpty ? nil : workers[w].sent[random.below(workers[w].sent.count)] {
                deliverToCoordinator(old, from: w)
            }
        }
    }

    // MARK: - Invariants at the end

    private func checkEnd() {
        guard report.finished else { return }
        for i in 0..<plan.count {
            let hasResult = resultRow[i] != nil, isQuarantined = quarantineRow.contains(i)
            if hasResult == isQuarantined { violation("task \(i) ended with \(hasResult ? "two rows" : "no row")") }
            if plan.kind(i) == .normal, machine.charges(ofTask: i) > allowedCharges(i) {
                violation("normal task \(i) charged \(machine.charges(ofTask: i)) attempt(s), allowed \(allowedCharges(i))")
            }
            // Completeness needs every metrics message to arrive before its result, as on one TCP
            // connection: independent loss or a late duplicate (which TCP never produces) can
            // drop one for good, so the check runs when links lose and duplicate nothing.
            if options.loss == 0 && options.duplication == 0, let lease = resultRow[i] {
                for e in 1...plan.epochs(i) where !curveRows.contains(CurveRow(task: i, attempt: lease.attempt, phase: "train", epoch: e)) {
                    violation("task \(i) finished without its curve point for epoch \(e)")
                    break
                }
            }
        }
    }
}

extension Message {
    fileprivate func withHeld(_ held: [LeaseRef]) -> Message {
        guard case .hello(var h) = self else { return self }
        h.held = held
        return .hello(h)
    }
}

private struct SimRun {
    var ref: LeaseRef
    var index: Int
    var epochsDone: Int
    var offeredAt: Double
    /// The worker's hello count when its curve points were last all sent.
    var curvesSince: Int
}

private struct SimWorker {
    let index: Int
    let host: String
    let slots: Int
    let hostile: Bool
    var pid = 0
    var incarnation = 0
    var alive = false
    var needsHello = false
    var hellos = 0
    var stalledUntil = 0.0
    var partitionedUntil = 0.0
    var lastHeard = 0.0
    var lastArrivalAtWorker = 0.0
    /// A hostile worker's own earlier messages, to replay.
    var sent: [Message] = []
    var lastArrivalAtCoordinator = 0.0
    var running: [TaskID: SimRun] = [:]
    /// Finished, kept until the coordinator cancels them (its acknowledgement).
    var recent: [TaskID: SimRun] = [:]

    init(index: Int, host: String, slots: Int, hostile: Bool) {
        self.index = index
        self.host = host
        self.slots = slots
        self.hostile = hostile
    }

    /// Its connection's routing id, `w<index>:<pid>` (set when it starts).
    var peer = PeerID(bytes: [])
    var held: [LeaseRef] {
        running.values.sorted { $0.index < $1.index }.map(\.ref) + recent.values.sorted { $0.index < $1.index }.map(\.ref)
    }
}

/// Synthetic tasks: ids from the index (no table even at millions of tasks), and a kind,
/// duration and epoch count drawn from (seed, index).
struct SimulationPlan: LeasePlan {
    enum Kind: Equatable { case normal, poison, crasher, hang }
    let options: SimulationOptions
    let count: Int
    let salt: UInt64

    init(options: SimulationOptions) {
        self.options = options
        count = options.tasks
        salt = options.seed &* 0x9E37_79B9_7F4A_7C15 | 1
    }

    private func draw(_ index: Int, _ stream: UInt64) -> Double {
        var r = SimRandom(seed: salt ^ (UInt64(index) &* 0xD1B5_4A32_D192_ED03) ^ (stream &* 0xA24B_AED4_963E_E407))
        return Double(r.next() >> 11) / Double(1 << 53)
    }

    func taskID(at index: Int) -> TaskID { TaskID(high: salt ^ (UInt64(index) &* 0xFF51_AFD7_ED55_8CCD), low: UInt64(index)) }
    func index(of id: TaskID) -> Int? {
        guard id.low < UInt64(count), taskID(at: Int(id.low)) == id else { return nil }
        return Int(id.low)
    }
    func kind(_ index: Int) -> Kind {
        let x = draw(index, 1)
        if x < options.poisonTasks { return .poison }
        if x < options.poisonTasks + options.crasherTasks { return .crasher }
        if x < options.poisonTasks + options.crasherTasks + options.hangingTasks { return .hang }
        return .normal
    }
    func epochs(_ index: Int) -> Int { 1 + Int(draw(index, 2) * 3) }
    func duration(_ index: Int) -> Double {
        options.taskSeconds.lowerBound + draw(index, 3) * (options.taskSeconds.upperBound - options.taskSeconds.lowerBound)
    }
    func expectedValue(_ index: Int) -> Double { Double(index) * 0.5 }

    func assignment(at index: Int, lease: LeaseRef) -> TaskAssignment {
        TaskAssignment(lease: lease, experiment: "sim", parameters: [("index", .integer(index))])
    }
    func curveEpochs(at index: Int) -> [String: Int] { ["train": epochs(index)] }
    func timeLimit(at index: Int) -> Double? { options.timeLimit }
    var resultMetricNames: [String] { ["value"] }
    var curveMetricNames: [String] { ["value"] }
}
