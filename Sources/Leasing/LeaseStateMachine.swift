import ExperimentAPI
import WireProtocol

/// The coordinator's lease logic as a pure state machine: decoded messages and clock ticks go in,
/// ``LeaseAction``s (send, assign, record, quarantine, log) come out. No sockets, no files, no
/// clock of its own (every event carries `now`, in seconds of a monotonic clock), so every rule
/// can be driven by a test or a seeded simulation as well as by the ZeroMQ shell.
///
/// Rules (docs/PROTOCOL.md, "Coordinator rules", says the same for implementers):
/// - A lease is (task, attempt, token); the token is ``LeaseSigner``'s keyed hash, so a peer can
///   report, and be adopted for, only leases this coordinator (or its predecessor on the same
///   results directory) issued. Adoption claims need a valid token, attempt >= 1, room in the
///   claimant's slots and an unfinished task not leased to anyone else.
/// - Attempt numbers name leases; *charges* count a task's own failures: an error it reports, a
///   time limit, or a loss with its worker that repeats on another host. A worker lost to a
///   partition, an overloaded host, a mass disconnect or a stall of the coordinator charges
///   nothing. A task is quarantined after ``LeaseRules/maxAttempts`` charges.
/// - A worker is drained when tasks it failed then succeed on another host
///   (``LeaseRules/drainAfterFailures`` of them in a row), not when tasks fail everywhere.
/// - Memory per worker is bounded by its slots and the drain window.
public final class LeaseStateMachine {
    public let rules: LeaseRules
    public let sweepName: String
    private let plan: any LeasePlan
    private let signer: LeaseSigner
    private let resultNames: [String]
    private let curveNames: [String]

    private enum TaskStatus: UInt8 { case pending, leased, done, quarantined }

    /// Per task, by index.
    private var status: [TaskStatus]
    /// The highest attempt number issued (or seen on disk or in an adopted lease).
    private var issued: [UInt16]
    /// Failures of the task's own (see type doc).
    private var charged: [UInt8]
    /// Hosts where the task failed or was lost (for failures.csv and to retry elsewhere), at most 8.
    private var failureHosts: [Int32: [String]] = [:]
    /// Distinct hosts where the task was lost with its worker outside mass events.
    private var lossHosts: [Int32: [String]] = [:]
    /// Workers (by label) whose current failure streak includes the task (for drain), at most 8.
    private var failedBy: [Int32: [PeerID]] = [:]
    private var retryNotBefore: [Int32: Double] = [:]
    /// The highest attempt of a task that ended here by failure or time limit: never adopted
    /// again (a replayed claim of a failed lease would otherwise charge the task once more).
    private var endedAttempt: [Int32: UInt16] = [:]
    private var retryQueue: [Int32] = []
    private var retryHead = 0
    private var cursor = 0

    private struct CurveKey: Hashable {
        var attempt: Int
        var phase: String
        var epoch: Int
    }

    private struct Lease {
        var ref: LeaseRef
        var worker: PeerID
        var index: Int32
        var sentAt: Double
        /// Nil until the first tick after it was issued works it out (most leases of short
        /// tasks end before: asking the plan costs a parameter set).
        var deadline: Double?
        var deadlineKnown = false
        var confirmed: Bool
        /// The task's curve phases and last epochs, asked of the plan at the first point.
        var epochs: [String: Int]?
    }

    private struct WorkerState {
        var hello: Hello
        var lastSeen: Double
        var leases: Set<TaskID> = []
        /// Tasks it failed since its last success, oldest first (at most drainAfterFailures + 8).
        var failureStreak: [Int32] = []
        /// Of those, how many then succeeded on another host.
        var failedButFineElsewhere = 0
        var drained = false
        /// Which heartbeat bucket it is in (see ``sendDueHeartbeats(now:)``).
        var bucket = 0
        var label: String { "\(hello.host):\(hello.pid)" }

        /// Keeps what an earlier connection of the same worker earned: its failures and drain.
        mutating func inheritRecord(of earlier: WorkerState) {
            failureStreak = earlier.failureStreak
            failedButFineElsewhere = earlier.failedButFineElsewhere
            drained = earlier.drained
        }

        var credit: Int { drained ? 0 : max(0, hello.slots - leases.count) }
    }

    private var leases: [TaskID: Lease] = [:]
    /// Leases issued or adopted since the last tick, whose time limit is not worked out yet.
    private var undated: [TaskID] = []
    /// Curve points written in this session for tasks not finished yet, by task: a lease released
    /// and adopted again (its worker still ran it) sends them again and must not write them twice.
    private var curvesWritten: [TaskID: Set<CurveKey>] = [:]
    private var workers: [PeerID: WorkerState] = [:]
    /// Worker software versions other than ours already logged (each once).
    private var otherVersions: Set<String> = []
    /// Workers with credit, so dispatch does not scan every worker.
    private var hungry: Set<PeerID> = []
    /// Connections by worker identity (host:pid), so a reconnect finds its old connection at once.
    private var byIdentity: [String: PeerID] = [:]
    /// Workers not drained, by host (for the retry rule "another host could take it").
    private var activeByHost: [String: Int] = [:]
    private var activeCount = 0
    private var recentDeaths: [Double] = []
    /// Unknown peers sent a reset since the last heartbeat tick (cleared every interval).
    private var resetThisInterval: Set<PeerID> = []
    /// Isolated deaths by worker identity (host:pid): the tasks lost and whether each was charged.
    private var deaths: [String: [(index: Int32, charged: Bool)]] = [:]
    private var deathOrder: [String] = []
    private var lastTick: Double?
    private var nextHeartbeat = -Double.infinity
    private var beatBuckets = [[PeerID]](repeating: [], count: LeaseStateMachine.heartbeatBuckets)
    private var lastBeatSlot: Int?
    private var joins = 0

    public private(set) var counters = Counters()
    public private(set) var done = 0
    public private(set) var quarantined = 0
    /// Tasks neither done nor quarantined.
    public private(set) var remaining: Int
    /// Tasks waiting for a retry after a failure of their own.
    public var retrying: Int { failureHosts.count }
    public private(set) var ranThisSession = 0
    public private(set) var firstDispatch: Double?
    public var running: Int { leases.count }
    public var workerCount: Int { workers.count }
    private var actions: [LeaseAction] = []

    /// - Parameters:
    ///   - plan: the tasks.
    ///   - rules: timings and limits.
    ///   - signer: the lease key (kept with the results, so leases survive a restart).
    ///   - charges: failures already charged to unfinished tasks (from disk), by index.
    ///   - finished: indexes of tasks done on disk; `quarantined`: quarantined on disk. Curve rows
    ///     of unfinished tasks must have been removed from disk (``ResultsDirectory/compactCurves``
    ///     does): an adopted lease's worker sends its points again.
    public init(plan: any LeasePlan, sweepName: String, rules: LeaseRules, signer: LeaseSigner,
                finished: some Sequence<Int>, quarantined quarantinedOnDisk: some Sequence<Int>,
                charges: [Int: Int] = [:]) {
        precondition(rules.maxAttempts >= 1 && rules.maxAttempts <= 255, "maxAttempts in 1...255")
        precondition(rules.heartbeatInterval > 0 && rules.liveness >= 1)
        self.plan = plan
        self.sweepName = sweepName
        self.rules = rules
        self.signer = signer
        resultNames = plan.resultMetricNames
        curveNames = plan.curveMetricNames
        status = [TaskStatus](repeating: .pending, count: plan.count)
        issued = [UInt16](repeating: 0, count: plan.count)
        charged = [UInt8](repeating: 0, count: plan.count)
        for i in finished where status[i] == .pending {
            status[i] = .done
            done += 1
        }
        for i in quarantinedOnDisk where status[i] == .pending {
            status[i] = .quarantined
            quarantined += 1
        }
        remaining = plan.count - done - quarantined
        for (i, n) in charges where status[i] == .pending { charged[i] = UInt8(clamping: min(n, rules.maxAttempts)) }
    }

    /// Hands the actions produced since the last call to `body`, in order.
    public func drainActions(_ body: (LeaseAction) throws -> Void) rethrows {
        guard !actions.isEmpty else { return }
        // Swap buffers rather than copy: actions the body causes go to the other one.
        var taken: [LeaseAction] = []
        swap(&taken, &actions)
        for action in taken { try body(action) }
        if actions.isEmpty {
            taken.removeAll(keepingCapacity: true)
            swap(&taken, &actions)
        }
    }

    /// Failures charged to a task so far.
    public func charges(ofTask index: Int) -> Int { Int(charged[index]) }
    /// Leases a worker holds (nil for an unknown peer).
    public func leaseCount(of peer: PeerID) -> Int? { workers[peer]?.leases.count }
    public func isDrained(_ peer: PeerID) -> Bool { workers[peer]?.drained ?? false }
    /// Whether nothing is left to run (every task done or quarantined, no lease out).
    public var isFinished: Bool { remaining == 0 && leases.isEmpty }

    /// Connected workers grouped by host, sorted by host name (for status files; O(workers)).
    public func hostLoads() -> [HostLoad] {
        var byHost: [String: HostLoad] = [:]
        for worker in workers.values {
            let host = worker.hello.host
            var load = byHost[host] ?? HostLoad(host: host)
            load.workers += 1
            load.slots += worker.hello.slots
            load.running += worker.leases.count
            byHost[host] = load
        }
        return byHost.values.sorted { $0.host < $1.host }
    }

    private func log(_ level: LeaseLogLevel, _ text: String, _ metadata: [String: String] = [:]) {
        actions.append(.log(level, text, metadata))
    }

    private func send(_ message: Message, to peer: PeerID) { actions.append(.send(peer, message)) }

    // MARK: - Events

    /// A frame that did not decode, or had a bad envelope.
    public func malformed() { counters.malformed += 1 }

    /// A frame of another protocol version from `peer`.
    public func wrongVersion() { counters.wrongVersion += 1 }

    /// A decoded message from `peer`.
    public func receive(_ message: Message, from peer: PeerID, now: Double) {
        if case .hello(let hello) = message {
            greet(peer, hello, now: now)
            return
        }
        guard workers[peer] != nil else {
            counters.unknownPeer += 1
            // One reset per peer per heartbeat interval: a worker whose queued messages arrive
            // after we forgot it would otherwise answer each reset with a hello.
            if resetThisInterval.insert(peer).inserted { send(.reset, to: peer) }
            return
        }
        workers[peer]!.lastSeen = now
        switch message {
        case .heartbeat(let beat): reconcile(peer, held: beat.held, now: now)
        case .metrics(let report): record(report, from: peer)
        case .result(let result): complete(result, from: peer, now: now)
        case .failure(let failure): fail(failure, from: peer, now: now)
        case .goodbye(let goodbye): farewell(peer, reason: goodbye.reason)
        case .hello, .welcome, .task, .reset, .cancel: counters.unexpected += 1
        }
    }

    /// A `task` the shell could not deliver: the peer is gone or its queue is full. The task goes
    /// back to the queue uncharged; the peer is left to the liveness rule.
    public func undeliverable(_ assignment: TaskAssignment, to peer: PeerID, now: Double) {
        guard let lease = leases[assignment.lease.taskID], lease.ref == assignment.lease, lease.worker == peer else { return }
        leases[lease.ref.taskID] = nil
        workers[peer]?.leases.remove(lease.ref.taskID)
        status[Int(lease.index)] = .pending
        retryQueue.append(lease.index)
        // No credit for it until it speaks again (it may be gone).
        hungry.remove(peer)
    }

    /// Time passes: detects a stall of the coordinator itself, cancels leases past their time
    /// limit, and at each heartbeat interval declares silent workers dead and heartbeats the rest.
    /// Call it on every turn of the shell's loop (at least every heartbeat interval).
    public func tick(now: Double) {
        if let last = lastTick, now - last > 2 * rules.heartbeatInterval || now < last {
            // We were stopped or starved (or the clock jumped): nobody could be heard meanwhile.
            // The gap does not count as anyone's silence, nor toward any lease's time limit; a
            // worker that is really gone still goes silent at the normal rate from here on.
            let gap = now - last
            let shift = gap > 0 ? gap : 0
            counters.stalls += 1
            for peer in workers.keys {
                workers[peer]!.lastSeen = min(now, gap > 0 ? workers[peer]!.lastSeen + shift : now)
            }
            for id in leases.keys {
                leases[id]!.sentAt = min(now, gap > 0 ? leases[id]!.sentAt + shift : now)
                if let d = leases[id]!.deadline { leases[id]!.deadline = gap > 0 ? d + shift : now + (d - leases[id]!.sentAt) }
            }
            nextHeartbeat = now
            log(.warning, "the coordinator was stalled (or its clock jumped): every worker gets a fresh liveness window", [
                "gap.seconds": format(gap), "workers": "\(workers.count)",
            ])
        }
        lastTick = now
        sendDueHeartbeats(now: now)
        guard now >= nextHeartbeat else { return }
        nextHeartbeat = now + rules.heartbeatInterval
        resetThisInterval.removeAll(keepingCapacity: resetThisInterval.count < 4_096)
        expireTimeLimits(now: now)
        reap(now: now)
    }

    /// A fixed order of peers and of a worker's leases, for every loop whose order reaches the
    /// outside (messages sent, tasks requeued): a Set's or Dictionary's iteration order differs
    /// between instances (per-instance hash seeds), and the simulator must replay a seed exactly.
    static func peerOrder(_ a: PeerID, _ b: PeerID) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }

    private func inTaskOrder(_ ids: Set<TaskID>) -> [TaskID] {
        if ids.count < 2 { return Array(ids) }
        return ids.sorted { (leases[$0].map { Int($0.index) } ?? -1) < (leases[$1].map { Int($0.index) } ?? -1) }
    }

    private func expireTimeLimits(now: Double) {
        for id in undated {
            guard let lease = leases[id], !lease.deadlineKnown else { continue }
            leases[id]!.deadline = plan.timeLimit(at: Int(lease.index)).map { lease.sentAt + $0 }
            leases[id]!.deadlineKnown = true
        }
        undated.removeAll(keepingCapacity: true)
        var expired: [Lease] = []
        for lease in leases.values where lease.deadline.map({ now >= $0 }) ?? false { expired.append(lease) }
        // Dictionary order differs between instances (per-instance hash seeds): act in task order,
        // so that a run is a function of its inputs (the simulator replays seeds).
        expired.sort { $0.index < $1.index }
        for lease in expired {
            counters.timedOutLeases += 1
            send(.cancel(lease.ref), to: lease.worker)
            let limit = lease.deadline! - lease.sentAt
            let error = "time limit of \(format(limit)) s exceeded (cancelled)"
            log(.warning, "task ran past its time limit: cancelled", [
                "task.id": "\(lease.ref.taskID)", "worker": workers[lease.worker]?.label ?? "?", "limit.seconds": format(limit),
            ])
            release(lease)
            endedAttempt[lease.index] = max(endedAttempt[lease.index] ?? 0, UInt16(lease.ref.attempt))
            noteFailure(index: lease.index, on: lease.worker)
            charge(lease.index, host: workers[lease.worker]?.hello.host ?? "?", error: error, now: now)
        }
    }

    private func reap(now: Double) {
        let deadline = rules.leaseTimeout
        var dead: [(PeerID, WorkerState)] = []
        for (peer, worker) in workers where now - worker.lastSeen > deadline { dead.append((peer, worker)) }
        guard !dead.isEmpty else { return }
        dead.sort { Self.peerOrder($0.0, $1.0) }
        let before = workers.count
        recentDeaths.removeAll { now - $0 > deadline }
        let window = recentDeaths.count + dead.count
        let mass = window >= max(2, Int((rules.massDeathFraction * Double(before)).rounded(.up)))
        for _ in dead { recentDeaths.append(now) }
        if mass {
            counters.massDeaths += dead.count
            log(.warning, "many workers went silent at once (partition, overloaded hosts?): all declared dead; their tasks go back to the queue uncharged", [
                "workers.silent": "\(dead.count)", "workers.silent.in.window": "\(window)", "workers.before": "\(before)",
            ])
        }
        for (peer, worker) in dead {
            forget(peer)
            if !mass {
                log(.warning, "worker silent: declared dead", [
                    "worker": worker.label, "silent.seconds": format(now - worker.lastSeen), "leases.requeued": "\(worker.leases.count)",
                ])
            }
            var evidence: [(Int32, Bool)] = []
            for id in inTaskOrder(worker.leases) {
                guard let lease = leases[id] else { continue }
                // Only a lease the worker confirmed running says something about the task.
                let isEvidence = !mass && lease.confirmed
                let charged = lost(lease, host: worker.hello.host, evidence: isEvidence, now: now)
                if isEvidence { evidence.append((lease.index, charged)) }
            }
            if !evidence.isEmpty { rememberDeath(worker.label, tasks: evidence) }
        }
    }

    /// Remembers an isolated death's losses, in case the worker comes back (at most 4,096 deaths).
    private func rememberDeath(_ identity: String, tasks: [(Int32, Bool)]) {
        if deaths.count >= 4_096, let oldest = deathOrder.first {
            deathOrder.removeFirst()
            deaths[oldest] = nil
        }
        if deaths[identity] == nil { deathOrder.append(identity) }
        deaths[identity] = tasks
    }

    /// Heartbeats go out spread over the interval: each worker belongs to one of
    /// ``heartbeatBuckets`` buckets (by join order), and each tick sends to the buckets whose
    /// turn has come since the last tick, so 10,000 workers get 10,000 heartbeats a second in 16
    /// small bursts instead of one large one (which held task messages back behind it).
    static let heartbeatBuckets = 16

    private func sendDueHeartbeats(now: Double) {
        let slot = Int((now / rules.heartbeatInterval * Double(Self.heartbeatBuckets)).rounded(.down))
        guard let last = lastBeatSlot, slot > last else {
            if lastBeatSlot.map({ slot < $0 }) ?? true { lastBeatSlot = slot }  // first tick, or a clock jump back
            return
        }
        lastBeatSlot = slot
        let beat = Message.heartbeat(Heartbeat(held: []))
        for s in max(last + 1, slot - Self.heartbeatBuckets + 1)...slot {
            let b = ((s % Self.heartbeatBuckets) + Self.heartbeatBuckets) % Self.heartbeatBuckets
            var kept = 0
            for peer in beatBuckets[b] where workers[peer]?.bucket == b {
                send(beat, to: peer)
                beatBuckets[b][kept] = peer
                kept += 1
            }
            beatBuckets[b].removeLast(beatBuckets[b].count - kept)  // forgotten workers
        }
    }

    /// Ends the sweep: tells every worker goodbye (`final` when the sweep is finished).
    public func finish(final: Bool, reason: String) {
        let goodbye = Message.goodbye(Goodbye(final: final, reason: reason))
        for peer in workers.keys.sorted(by: Self.peerOrder) { send(goodbye, to: peer) }
    }

    // MARK: - Hello, reconcile, goodbye

    private func greet(_ peer: PeerID, _ hello: Hello, now: Double) {
        guard hello.slots >= 1, hello.threadsPerSlot >= 1 else {
            counters.refusedHellos += 1
            send(.goodbye(Goodbye(final: true, reason: "refused: hello must declare slots and threads_per_slot in 1...\(WireLimits.maxHeldLeases) (got slots \(hello.slots), threads \(hello.threadsPerSlot))")), to: peer)
            log(.warning, "refused a worker's hello: 0 slots or threads", ["worker": "\(hello.host):\(hello.pid)"])
            return
        }
        var state = WorkerState(hello: hello, lastSeen: now)
        comeBack(state.label, host: hello.host)
        var dropped: [TaskID] = []
        let held = Set(hello.held.map(\.taskID))
        // The same worker process on a new connection (it reconnected while its old one still
        // looked alive here): carry its leases over and forget the old connection.
        if let other = byIdentity[state.label], other != peer, let previous = forget(other) {
            // Only leases the new connection lists exactly (attempt and token): a hello that
            // merely names another worker's host and pid takes nothing over.
            let heldRefs = Set(hello.held)
            for id in inTaskOrder(previous.leases) {
                if let lease = leases[id], heldRefs.contains(lease.ref) {
                    leases[id]!.worker = peer
                    state.leases.insert(id)
                } else {
                    dropped.append(id)
                }
            }
            state.inheritRecord(of: previous)
            log(.info, "worker reconnected", ["worker": previous.label, "leases.kept": "\(state.leases.count)"])
        }
        if let old = workers[peer] {
            // The same connection said hello again: its leases are whatever it holds now; the
            // others go back to the queue uncharged (repeating hello cannot quarantine tasks).
            // A lease sent since is not listed yet: it stays unless it is overdue (as in reconcile).
            for id in inTaskOrder(old.leases) {
                if held.contains(id) || leases[id].map({ !$0.confirmed && now - $0.sentAt <= rules.leaseTimeout }) ?? false {
                    state.leases.insert(id)
                } else {
                    dropped.append(id)
                }
            }
            state.inheritRecord(of: old)
        }
        remember(peer, state)
        for id in dropped {
            guard let lease = leases[id] else { continue }
            release(lease)
            requeue(lease.index)
        }
        updateHunger(peer)
        if let ours = rules.softwareVersion, hello.softwareVersion != ours, otherVersions.insert(hello.softwareVersion).inserted {
            log(.warning, "a worker runs another grainsweep version: its results are accepted, but a task's bits may differ between versions", [
                "worker": "\(hello.host):\(hello.pid)", "version.worker": hello.softwareVersion, "version.coordinator": ours,
            ])
        }
        log(.info, "worker joined", [
            "worker": "\(hello.host):\(hello.pid)", "slots": "\(hello.slots)", "threads": "\(hello.threadsPerSlot)",
            "version": hello.softwareVersion, "held": "\(hello.held.count)",
        ])
        send(.welcome(Welcome(
            heartbeatIntervalMs: max(1, Int((rules.heartbeatInterval * 1000).rounded())), liveness: rules.liveness,
            sweepName: sweepName)), to: peer)
        reconcile(peer, held: hello.held, now: now)
    }

    /// Brings the view of a worker's leases in line with what it says it holds.
    private func reconcile(_ peer: PeerID, held: [LeaseRef], now: Double) {
        guard workers[peer] != nil else { return }
        var forged = 0
        for ref in held {
            if let mine = leases[ref.taskID], mine.worker == peer, mine.ref == ref {
                leases[ref.taskID]!.confirmed = true
                continue
            }
            guard ref.attempt >= 1, ref.attempt <= WireLimits.maxAttempt,
                  signer.token(ref.taskID, attempt: ref.attempt) == ref.token else {
                // Never issued here (another results directory's lease, or forged): counted, and
                // cancelled so an honest worker frees the slot, at most `slots` per message.
                counters.forgedClaims += 1
                forged += 1
                if forged <= workers[peer]!.hello.slots { send(.cancel(ref), to: peer) }
                continue
            }
            if let i = plan.index(of: ref.taskID), status[i] == .pending, leases[ref.taskID] == nil,
               ref.attempt > Int(endedAttempt[Int32(i)] ?? 0),
               workers[peer]!.leases.count < workers[peer]!.hello.slots {
                // A task this worker kept running while we did not know it (coordinator restart,
                // link cut): adopt the lease instead of running it twice.
                status[i] = .leased
                issued[i] = max(issued[i], UInt16(ref.attempt))
                leases[ref.taskID] = Lease(
                    ref: ref, worker: peer, index: Int32(i), sentAt: now, deadline: nil, confirmed: true, epochs: nil)
                workers[peer]!.leases.insert(ref.taskID)
                undated.append(ref.taskID)
                counters.adoptedLeases += 1
                log(.info, "adopted a running task", ["task.id": "\(ref.taskID)", "worker": workers[peer]!.label])
            } else {
                // Done, quarantined, leased to another, or beyond the slots: the worker drops it
                // (for a finished task this is also the acknowledgement of its result).
                send(.cancel(ref), to: peer)
            }
        }
        let heldIDs = Set(held.map(\.taskID))
        let worker = workers[peer]!
        for id in inTaskOrder(worker.leases) {
            guard !heldIDs.contains(id), let lease = leases[id] else { continue }
            // It held the task and no longer does, or never acknowledged it in time: lost.
                // Only a confirmed lease that vanished says something about the task; one never
            // acknowledged may simply not have arrived.
            guard lease.confirmed || now - lease.sentAt > rules.leaseTimeout else { continue }
            log(.warning, "worker lost a task", ["task.id": "\(id)", "worker": worker.label])
            lost(lease, host: worker.hello.host, evidence: lease.confirmed, now: now)
        }
        updateHunger(peer)
    }

    private func farewell(_ peer: PeerID, reason: String) {
        guard let worker = forget(peer) else { return }
        log(.info, "worker left", ["worker": worker.label, "reason": reason, "handed.back": "\(worker.leases.count)"])
        for id in inTaskOrder(worker.leases) {
            guard let lease = leases[id] else { continue }
            release(lease)
            requeue(lease.index)
        }
    }

    // MARK: - Metrics, results, failures

    /// Whether `peer` holds exactly this lease; otherwise counts it and tells the peer to drop it.
    private func holds(_ peer: PeerID, _ ref: LeaseRef) -> Bool {
        if let lease = leases[ref.taskID], lease.worker == peer, lease.ref == ref { return true }
        if let i = plan.index(of: ref.taskID), status[i] == .done { counters.stale += 1 } else { counters.rejected += 1 }
        send(.cancel(ref), to: peer)
        return false
    }

    private func record(_ report: MetricsReport, from peer: PeerID) {
        guard holds(peer, report.lease) else { return }
        let id = report.lease.taskID
        let metrics = report.point.metrics
        guard metrics.count == curveNames.count, zip(metrics, curveNames).allSatisfy({ $0.name == $1 }) else {
            counters.badResults += 1
            return
        }
        if leases[id]!.epochs == nil { leases[id]!.epochs = plan.curveEpochs(at: Int(leases[id]!.index)) }
        guard let last = leases[id]!.epochs![report.point.phase], report.point.epoch >= 1, report.point.epoch <= last else {
            counters.badCurvePoints += 1
            return
        }
        leases[id]!.confirmed = true
        let key = CurveKey(attempt: report.lease.attempt, phase: report.point.phase, epoch: report.point.epoch)
        guard curvesWritten[id, default: []].insert(key).inserted else { return }
        actions.append(.recordCurve(taskID: id, attempt: report.lease.attempt, point: report.point))
    }

    private func complete(_ result: TaskResult, from peer: PeerID, now: Double) {
        guard holds(peer, result.lease) else { return }
        let id = result.lease.taskID
        let lease = leases[id]!
        guard result.metrics.count == resultNames.count, zip(result.metrics, resultNames).allSatisfy({ $0.name == $1 }) else {
            counters.badResults += 1
            fail(TaskFailure(lease: result.lease, error: "result with metrics \(result.metrics.map(\.name)), expected \(resultNames)"),
                 from: peer, now: now)
            return
        }
        let worker = workers[peer]!
        release(lease)
        workers[peer]!.failureStreak.removeAll()
        workers[peer]!.failedButFineElsewhere = 0
        status[Int(lease.index)] = .done
        done += 1
        remaining -= 1
        ranThisSession += 1
        // Workers that failed this task elsewhere failed a task that is fine: evidence against them.
        if let others = failedBy.removeValue(forKey: lease.index) {
            for other in others where other != peer {
                guard var w = workers[other], w.hello.host != worker.hello.host, w.failureStreak.contains(lease.index) else { continue }
                w.failedButFineElsewhere += 1
                workers[other] = w
                drainIfBad(other)
            }
        }
        failureHosts[lease.index] = nil
        lossHosts[lease.index] = nil
        retryNotBefore[lease.index] = nil
        endedAttempt[lease.index] = nil
        curvesWritten[id] = nil
        actions.append(.recordResult(
            index: Int(lease.index), lease: lease.ref, host: worker.hello.host, threads: worker.hello.threadsPerSlot,
            wallSeconds: result.wallSeconds, metrics: result.metrics, leaseSeconds: max(0, now - lease.sentAt)))
        updateHunger(peer)
    }

    private func fail(_ failure: TaskFailure, from peer: PeerID, now: Double) {
        guard holds(peer, failure.lease) else { return }
        let lease = leases[failure.lease.taskID]!
        let worker = workers[peer]!
        log(.warning, "task failed", [
            "task.id": "\(failure.lease.taskID)", "attempt": "\(failure.lease.attempt)", "worker": worker.label, "error": failure.error,
        ])
        release(lease)
        endedAttempt[lease.index] = max(endedAttempt[lease.index] ?? 0, UInt16(lease.ref.attempt))
        noteFailure(index: lease.index, on: peer)
        charge(lease.index, host: worker.hello.host, error: failure.error, now: now)
        updateHunger(peer)
    }

    /// Remembers that `peer` failed task `index` (for the drain rule).
    private func noteFailure(index: Int32, on peer: PeerID) {
        guard workers[peer] != nil else { return }
        workers[peer]!.failureStreak.append(index)
        if workers[peer]!.failureStreak.count > rules.drainAfterFailures + 8 { workers[peer]!.failureStreak.removeFirst() }
        var by = failedBy[index] ?? []
        if !by.contains(peer) {
            by.append(peer)
            if by.count > 8 { by.removeFirst() }
            failedBy[index] = by
        }
    }

    /// Drains a worker whose failures are of tasks that succeed elsewhere, as long as another
    /// worker remains to do the work.
    private func drainIfBad(_ peer: PeerID) {
        guard let w = workers[peer], !w.drained, w.failedButFineElsewhere >= rules.drainAfterFailures else { return }
        guard activeCount > 1 else { return }
        workers[peer]!.drained = true
        deactivate(w.hello.host)
        hungry.remove(peer)
        counters.drainedWorkers += 1
        log(.error, "draining worker: \(w.failedButFineElsewhere) tasks it failed succeeded on other hosts; it gets no new tasks", [
            "worker": w.label,
        ])
    }

    // MARK: - Leases

    /// Forgets a lease (the task's status is the caller's to set).
    private func release(_ lease: Lease) {
        leases[lease.ref.taskID] = nil
        workers[lease.worker]?.leases.remove(lease.ref.taskID)
        updateHunger(lease.worker)
    }

    /// A lease whose worker died, went silent, or stopped listing it. With `evidence` (an isolated
    /// loss, not a mass event), a loss that repeats on a second host is charged to the task: a
    /// task that kills its worker wherever it runs is quarantined instead of killing every host.
    /// - Returns: whether the loss was charged to the task.
    @discardableResult
    private func lost(_ lease: Lease, host: String, evidence: Bool, now: Double) -> Bool {
        counters.expiredLeases += 1
        release(lease)
        guard evidence else {
            requeue(lease.index)
            return false
        }
        var hosts = lossHosts[lease.index] ?? []
        let newHost = !hosts.contains(host)
        if newHost { hosts.append(host) }
        if hosts.count > 8 { hosts.removeFirst() }
        lossHosts[lease.index] = hosts
        // Charged once per further host: losing it again where it was lost before says nothing new.
        if newHost && hosts.count >= 2 {
            charge(lease.index, host: host, error: "lost with its worker on \(hosts.count) hosts (\(hosts.joined(separator: ", ")))", now: now)
            return true
        }
        requeue(lease.index)
        return false
    }

    /// A worker declared dead that says hello again with the same host and pid was stopped or
    /// starved, not crashed: its tasks are innocent. Their losses are forgotten and any charge
    /// they caused is refunded (unless the task has ended meanwhile).
    private func comeBack(_ identity: String, host: String) {
        guard let losses = deaths.removeValue(forKey: identity) else { return }
        var refunded = 0
        for (index, wasCharged) in losses {
            lossHosts[index]?.removeAll { $0 == host }
            if lossHosts[index]?.isEmpty == true { lossHosts[index] = nil }
            guard wasCharged, status[Int(index)] == .pending || status[Int(index)] == .leased, charged[Int(index)] > 0 else { continue }
            charged[Int(index)] -= 1
            refunded += 1
            actions.append(.recordCharge(index: Int(index), attempt: Int(issued[Int(index)]), delta: -1, host: host,
                                         reason: "refunded: \(identity) came back after being declared dead"))
        }
        log(.notice, "a worker declared dead came back (stopped or starved, not crashed): its tasks' losses are not held against them", [
            "worker": identity, "tasks": "\(losses.count)", "refunded": "\(refunded)",
        ])
    }

    /// Back to the queue, uncharged.
    private func requeue(_ index: Int32) {
        status[Int(index)] = .pending
        retryQueue.append(index)
    }

    /// One failure of the task's own: retry after a backoff, or quarantine.
    private func charge(_ index: Int32, host: String, error: String, now: Double) {
        actions.append(.recordCharge(index: Int(index), attempt: Int(issued[Int(index)]), delta: 1, host: host, reason: error))
        let (n, overflow) = charged[Int(index)].addingReportingOverflow(1)
        charged[Int(index)] = overflow ? .max : n
        var hosts = failureHosts[index] ?? []
        hosts.append(host)
        if hosts.count > 8 { hosts.removeFirst() }
        failureHosts[index] = hosts
        if Int(charged[Int(index)]) >= rules.maxAttempts || Int(issued[Int(index)]) >= WireLimits.maxAttempt {
            quarantine(index, error: error)
        } else {
            status[Int(index)] = .pending
            retryQueue.append(index)
            retryNotBefore[index] = now + min(60, rules.heartbeatInterval * Double(1 << min(Int(charged[Int(index)]), 6)))
        }
    }

    private func quarantine(_ index: Int32, error: String) {
        status[Int(index)] = .quarantined
        quarantined += 1
        remaining -= 1
        let hosts = failureHosts.removeValue(forKey: index) ?? []
        lossHosts[index] = nil
        failedBy[index] = nil
        retryNotBefore[index] = nil
        endedAttempt[index] = nil
        curvesWritten[plan.taskID(at: Int(index))] = nil
        actions.append(.quarantine(index: Int(index), attempts: Int(charged[Int(index)]), hosts: hosts, lastError: error))
        log(.error, "task quarantined after \(charged[Int(index)]) failure(s)", [
            "task.id": "\(plan.taskID(at: Int(index)))", "error": error,
        ])
    }

    /// Records a worker's state (new or replacing), keeping the indexes in step.
    private func remember(_ peer: PeerID, _ state: WorkerState) {
        var state = state
        if let old = workers[peer] {
            state.bucket = old.bucket  // already in its bucket
        } else {
            joins += 1
            state.bucket = joins % Self.heartbeatBuckets
            beatBuckets[state.bucket].append(peer)
        }
        if let old = workers[peer] {
            if !old.drained { deactivate(old.hello.host) }
            if old.label != state.label, byIdentity[old.label] == peer { byIdentity[old.label] = nil }
        }
        workers[peer] = state
        byIdentity[state.label] = peer
        if !state.drained {
            activeByHost[state.hello.host, default: 0] += 1
            activeCount += 1
        }
    }

    /// Forgets a worker's connection, keeping the indexes in step.
    @discardableResult
    private func forget(_ peer: PeerID) -> WorkerState? {
        guard let state = workers.removeValue(forKey: peer) else { return nil }
        hungry.remove(peer)
        if byIdentity[state.label] == peer { byIdentity[state.label] = nil }
        if !state.drained { deactivate(state.hello.host) }
        return state
    }

    private func deactivate(_ host: String) {
        activeCount -= 1
        if let n = activeByHost[host], n > 1 { activeByHost[host] = n - 1 } else { activeByHost[host] = nil }
    }

    private func updateHunger(_ peer: PeerID) {
        if let w = workers[peer], w.credit > 0 { hungry.insert(peer) } else { hungry.remove(peer) }
    }

    /// The next task for a worker on `host`: retries first, then the plan in order. A retry is
    /// not given to a host where it already failed while another host could take it, nor before
    /// its backoff has passed.
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
                || activeByHost.count > failedOn.count || activeByHost.keys.contains(where: { !failedOn.contains($0) }) {
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

    /// Hands out tasks to workers with free slots.
    public func dispatch(now: Double) {
        guard remaining > leases.count, !hungry.isEmpty else { return }
        for peer in hungry.count == 1 ? Array(hungry) : hungry.sorted(by: Self.peerOrder) {
            guard let worker = workers[peer] else { continue }
            var credit = worker.credit
            while credit > 0, let index = nextTask(for: worker.hello.host, now: now) {
                let i = Int(index)
                guard issued[i] < UInt16.max else {
                    quarantine(index, error: "attempt numbers exhausted (\(WireLimits.maxAttempt) leases)")
                    continue
                }
                issued[i] += 1
                let id = plan.taskID(at: i)
                let ref = LeaseRef(taskID: id, attempt: Int(issued[i]), token: signer.token(id, attempt: Int(issued[i])))
                status[i] = .leased
                if firstDispatch == nil { firstDispatch = now }
                leases[id] = Lease(
                    ref: ref, worker: peer, index: index, sentAt: now, deadline: nil, confirmed: false, epochs: nil)
                workers[peer]!.leases.insert(id)
                undated.append(id)
                actions.append(.assign(peer, plan.assignment(at: i, lease: ref)))
                credit -= 1
            }
            if remaining <= leases.count { break }
        }
        for peer in hungry where (workers[peer]?.credit ?? 0) == 0 { hungry.remove(peer) }
    }

    /// Counts the CURVE authenticator's refusals (the shell reads them from libzmq).
    public func setDeniedConnections(_ n: Int) { counters.deniedConnections = n }
}

func format(_ x: Double) -> String {
    let r = (x * 10).rounded() / 10
    return r == r.rounded() ? "\(Int(r))" : "\(r)"
}
