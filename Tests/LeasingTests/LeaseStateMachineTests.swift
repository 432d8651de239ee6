import ExperimentAPI
import Leasing
import Testing
import WireProtocol

/// A plan of `count` tasks of two curve epochs each, ids from the index.
private struct TinyPlan: LeasePlan {
    let count: Int
    var limit: Double? = nil
    func taskID(at index: Int) -> TaskID { TaskID(high: 0xABCD, low: UInt64(index)) }
    func index(of id: TaskID) -> Int? { id.high == 0xABCD && id.low < UInt64(count) ? Int(id.low) : nil }
    func assignment(at index: Int, lease: LeaseRef) -> TaskAssignment {
        TaskAssignment(lease: lease, experiment: "tiny", parameters: [("index", .integer(index))])
    }
    func curveEpochs(at index: Int) -> [String: Int] { ["train": 2] }
    func timeLimit(at index: Int) -> Double? { limit }
    var resultMetricNames: [String] { ["value"] }
    var curveMetricNames: [String] { ["value"] }
}

/// Drives one state machine by hand, as swift-nio's state machine tests do: events in, the
/// actions it asks for out, and assertions on both.
private final class Harness {
    let machine: LeaseStateMachine
    let signer = LeaseSigner(key: [UInt8](repeating: 7, count: 32))
    var now = 100.0
    var sent: [(PeerID, Message)] = []
    var assigned: [(PeerID, TaskAssignment)] = []
    var results: [Int] = []
    var curves: [(TaskID, Int, CurvePoint)] = []
    var quarantined: [Int] = []
    var charges: [(Int, Int)] = []
    var logs: [String] = []

    init(tasks: Int = 4, maxAttempts: Int = 3, limit: Double? = nil, charges: [Int: Int] = [:], version: String? = nil) {
        var rules = LeaseRules()
        rules.softwareVersion = version
        rules.heartbeatInterval = 1
        rules.liveness = 3
        rules.maxAttempts = maxAttempts
        machine = LeaseStateMachine(plan: TinyPlan(count: tasks, limit: limit), sweepName: "t", rules: rules, signer: signer,
                                    finished: [], quarantined: [], charges: charges)
        machine.tick(now: now)
    }

    func drain() {
        machine.drainActions { action in
            switch action {
            case .send(let p, let m): sent.append((p, m))
            case .assign(let p, let a): assigned.append((p, a))
            case .recordResult(let i, _, _, _, _, _, _): results.append(i)
            case .recordCurve(let id, let attempt, let point): curves.append((id, attempt, point))
            case .quarantine(let i, _, _, _): quarantined.append(i)
            case .recordCharge(let i, _, let delta, _, _): charges.append((i, delta))
            case .log(_, let text, _): logs.append(text)
            }
        }
    }

    func peer(_ name: String) -> PeerID { PeerID(bytes: Array(name.utf8)) }

    /// A worker says hello and receives its tasks.
    @discardableResult
    func join(_ name: String, slots: Int = 1, pid: Int = 1, held: [LeaseRef] = []) -> [TaskAssignment] {
        let before = assigned.count
        machine.receive(.hello(Hello(host: name, pid: pid, cores: 1, slots: slots, threadsPerSlot: 1, softwareVersion: "t", held: held)),
                        from: peer(name), now: now)
        machine.dispatch(now: now)
        drain()
        return assigned[before...].filter { $0.0 == peer(name) }.map(\.1)
    }

    func send(_ message: Message, from name: String) {
        machine.receive(message, from: peer(name), now: now)
        drain()
    }

    /// Lets `seconds` pass in ticks of 0.1 s, with `alive` workers heartbeating their leases.
    func pass(_ seconds: Double, alive: [String: [LeaseRef]] = [:]) {
        let end = now + seconds
        while now < end {
            now += 0.1
            for (name, held) in alive { machine.receive(.heartbeat(Heartbeat(held: held)), from: peer(name), now: now) }
            machine.tick(now: now)
            machine.dispatch(now: now)
            drain()
        }
    }

    func result(_ lease: LeaseRef, value: Double = 1) -> Message {
        .result(TaskResult(lease: lease, wallSeconds: 0.1, metrics: [Metric("value", value)]))
    }
}

@Suite struct LeaseStateMachineTests {
    /// Workers of another software version are served (the protocol version decides), and the
    /// difference is logged once per version, not once per worker.
    @Test func anotherSoftwareVersionIsServedAndLoggedOnce() {
        let h = Harness(tasks: 4, version: "0.2.0")
        #expect(h.join("a").count == 1)
        #expect(h.join("b").count == 1)
        #expect(h.logs.filter { $0.contains("another grainsweep version") }.count == 1)
        let same = Harness(tasks: 4, version: "t")
        same.join("a")
        #expect(!same.logs.contains { $0.contains("another grainsweep version") })
    }

    @Test func aLeaseIsIssuedSignedAndCompletedOnce() {
        let h = Harness(tasks: 1)
        let tasks = h.join("a")
        #expect(tasks.count == 1)
        let lease = tasks[0].lease
        #expect(lease.attempt == 1 && lease.token == h.signer.token(lease.taskID, attempt: 1))
        h.send(h.result(lease), from: "a")
        h.send(h.result(lease), from: "a")  // a duplicate: stale, cancelled, not recorded
        #expect(h.results == [0] && h.machine.isFinished)
        #expect(h.machine.counters.stale == 1)
    }

    @Test func aClaimAtAttemptZeroThenGoodbyeIsHarmless() {
        let h = Harness(tasks: 2)
        let id = TaskID(high: 0xABCD, low: 0)
        h.join("rogue", slots: 4, held: [LeaseRef(taskID: id, attempt: 0, token: h.signer.token(id, attempt: 0)),
                                         LeaseRef(taskID: id, attempt: 65_535, token: 9)])
        h.send(.goodbye(Goodbye(final: false, reason: "bye")), from: "rogue")
        #expect(h.machine.counters.forgedClaims == 2 && h.machine.counters.adoptedLeases == 0)
        #expect(h.machine.charges(ofTask: 0) == 0 && h.machine.remaining == 2)
    }

    @Test func aForgedClaimIsNeitherAdoptedNorReportable() {
        let h = Harness(tasks: 1)
        let forged = LeaseRef(taskID: TaskID(high: 0xABCD, low: 0), attempt: 1, token: 12345)
        h.join("forger", held: [forged])
        h.send(h.result(forged, value: 999), from: "forger")
        #expect(h.results.isEmpty && h.machine.counters.forgedClaims == 1 && h.machine.counters.rejected == 1)
        // The same lease, really issued to someone else, cannot be reported by the forger either.
        let real = h.join("honest")
        h.send(h.result(real.first?.lease ?? forged, value: 999), from: "forger")
        #expect(h.results.isEmpty)
    }

    @Test func aRunningLeaseIsAdoptedAfterARestartWithTheSameKey() {
        let h = Harness(tasks: 1)
        let lease = h.join("a")[0].lease
        // A new coordinator on the same results directory (same key): the worker says hello with its lease.
        let restarted = Harness(tasks: 1)
        restarted.join("a", held: [lease])
        #expect(restarted.machine.counters.adoptedLeases == 1)
        restarted.send(restarted.result(lease), from: "a")
        #expect(restarted.results == [0])
    }

    @Test func aGoodbyeRequeuesUncharged() {
        let h = Harness(tasks: 1, maxAttempts: 1)
        h.join("a")
        h.send(.goodbye(Goodbye(final: false, reason: "stopping")), from: "a")
        let again = h.join("b")
        #expect(again.count == 1 && again[0].lease.attempt == 2 && h.machine.charges(ofTask: 0) == 0)
    }

    @Test func failuresAreChargedAndQuarantineAfterMaxAttempts() {
        let h = Harness(tasks: 1, maxAttempts: 2)
        var lease = h.join("a")[0].lease
        h.send(.failure(TaskFailure(lease: lease, error: "boom")), from: "a")
        #expect(h.machine.charges(ofTask: 0) == 1 && h.charges.count == 1)
        h.pass(5, alive: ["a": []])  // the retry's backoff
        lease = h.assigned.last!.1.lease
        h.send(.failure(TaskFailure(lease: lease, error: "boom")), from: "a")
        #expect(h.quarantined == [0] && h.machine.isFinished)
    }

    @Test func durableChargesCountAfterARestart() {
        let h = Harness(tasks: 1, maxAttempts: 2, charges: [0: 1])
        let lease = h.join("a")[0].lease
        h.send(.failure(TaskFailure(lease: lease, error: "boom")), from: "a")
        #expect(h.quarantined == [0])
    }

    @Test func aLoneDeathIsNotChargedButACrashOnASecondHostIs() {
        let h = Harness(tasks: 1)
        let first = h.join("a")[0].lease
        h.join("b")
        h.join("c")
        h.send(.heartbeat(Heartbeat(held: [first])), from: "a")  // confirmed running
        h.pass(4, alive: ["b": [], "c": []])  // a goes silent past the liveness window
        #expect(h.machine.charges(ofTask: 0) == 0)
        let second = h.assigned.last!
        h.send(.heartbeat(Heartbeat(held: [second.1.lease])), from: String(decoding: second.0.bytes, as: UTF8.self))
        let survivor = second.0 == h.peer("b") ? "c" : "b"
        h.pass(4, alive: [survivor: []])
        #expect(h.machine.charges(ofTask: 0) == 1, "\(h.logs)")
    }

    @Test func workersLostTogetherAreAMassEventAndChargeNothing() {
        let h = Harness(tasks: 4, maxAttempts: 1)
        var held: [String: [LeaseRef]] = [:]
        for name in ["a", "b", "c", "d"] { held[name] = h.join(name).map(\.lease) }
        for (name, leases) in held { h.send(.heartbeat(Heartbeat(held: leases)), from: name) }
        h.pass(4)  // everyone silent at once
        #expect(h.machine.counters.massDeaths == 4 && h.quarantined.isEmpty)
        #expect((0..<4).allSatisfy { h.machine.charges(ofTask: $0) == 0 })
    }

    @Test func aStalledCoordinatorDeclaresNobodyDead() {
        let h = Harness(tasks: 1, maxAttempts: 1)
        let lease = h.join("a")[0].lease
        h.send(.heartbeat(Heartbeat(held: [lease])), from: "a")
        h.now += 30  // SIGSTOP for 30 s, ten liveness windows
        h.machine.tick(now: h.now)
        h.drain()
        #expect(h.machine.counters.stalls == 1 && h.machine.workerCount == 1 && h.machine.running == 1)
        h.send(h.result(lease), from: "a")
        #expect(h.results == [0])
    }

    @Test func aStoppedWorkerThatComesBackIsRefunded() {
        let h = Harness(tasks: 1)
        let first = h.join("a", pid: 1)[0].lease
        h.join("b")
        h.join("c")
        h.send(.heartbeat(Heartbeat(held: [first])), from: "a")
        h.pass(4, alive: ["b": [], "c": []])
        let second = h.assigned.last!
        let secondName = String(decoding: second.0.bytes, as: UTF8.self)
        h.send(.heartbeat(Heartbeat(held: [second.1.lease])), from: secondName)
        let survivor = secondName == "b" ? "c" : "b"
        h.pass(4, alive: [survivor: []])
        #expect(h.machine.charges(ofTask: 0) == 1)
        // The second worker was only stopped: it says hello again with the same host and pid.
        h.join(secondName)
        #expect(h.machine.charges(ofTask: 0) == 0 && h.charges.contains { $0 == (0, -1) })
    }

    @Test func aHungLeaseIsCancelledAtItsTimeLimitAndCharged() {
        let h = Harness(tasks: 1, limit: 2)
        let lease = h.join("a")[0].lease
        h.pass(3, alive: ["a": [lease]])
        #expect(h.machine.counters.timedOutLeases == 1 && h.machine.charges(ofTask: 0) == 1)
        #expect(h.sent.contains { $0.1 == .cancel(lease) })
    }

    @Test func aHostIsDrainedOnlyWhenWhatItFailedSucceedsElsewhere() {
        // Tasks that fail everywhere drain nobody.
        let everywhere = Harness(tasks: 6, maxAttempts: 1)
        for name in ["a", "b"] {
            for task in everywhere.join(name, slots: 3) { everywhere.send(.failure(TaskFailure(lease: task.lease, error: "x")), from: name) }
        }
        #expect(everywhere.machine.counters.drainedWorkers == 0)
        // A host whose failures succeed elsewhere is drained.
        let h = Harness(tasks: 6, maxAttempts: 3)
        let bad = h.join("bad", slots: 3)
        for task in bad { h.send(.failure(TaskFailure(lease: task.lease, error: "x")), from: "bad") }
        for task in h.join("good", slots: 3) { h.send(h.result(task.lease), from: "good") }
        h.pass(10, alive: ["bad": [], "good": []])
        for (peer, task) in h.assigned where peer == h.peer("good") && !h.results.contains(Int(task.lease.taskID.low)) {
            h.send(h.result(task.lease), from: "good")
        }
        #expect(h.machine.isDrained(h.peer("bad")), "\(h.logs)")
    }

    @Test func zeroSlotsAreRefusedClearly() {
        let h = Harness()
        h.join("empty", slots: 0)
        guard case .goodbye(let g)? = h.sent.last?.1 else {
            Issue.record("no goodbye")
            return
        }
        #expect(g.final && g.reason.hasPrefix("refused") && h.machine.counters.refusedHellos == 1)
    }

    @Test func curvePointsOutsideTheTaskAreDropped() {
        let h = Harness(tasks: 1)
        let lease = h.join("a")[0].lease
        for (phase, epoch) in [("train", 1), ("train", 1), ("evil", 1), ("train", 0), ("train", 3)] {
            h.send(.metrics(MetricsReport(lease: lease, point: CurvePoint(phase: phase, epoch: epoch, metrics: [Metric("value", 0)]))), from: "a")
        }
        #expect(h.curves.count == 1 && h.machine.counters.badCurvePoints == 3)
    }

    @Test func unknownPeersGetOneResetPerInterval() {
        let h = Harness()
        for _ in 0..<50 { h.send(.heartbeat(Heartbeat(held: [])), from: "ghost") }
        #expect(h.sent.filter { $0.1 == .reset }.count == 1 && h.machine.counters.unknownPeer == 50)
    }
}
