import ExperimentAPI
import Foundation
import Testing
import WireProtocol
import ZeroMQ

/// The lease rules of issue 12, against a real coordinator process over real ZeroMQ: hostile
/// peers written from docs/PROTOCOL.md, stalls made with SIGSTOP, hung tasks and time limits.
@Suite(.serialized) struct LeaseRulesProcessTests {
    private func hello(_ host: String, slots: Int = 1, held: [LeaseRef] = []) -> Message {
        .hello(Hello(host: host, pid: 1, cores: 1, slots: slots, threadsPerSlot: 1, softwareVersion: "test", held: held))
    }

    /// Before: a hello claiming a pending task at attempt 0, then a goodbye, decremented the
    /// attempt counter below zero and killed the coordinator ("arithmetic overflow").
    @Test func aClaimAtAttemptZeroThenGoodbyeNeitherCrashesNorCounts() throws {
        let dir = scratchDirectory("attempt0")
        let out = dir + "/out"
        write(sleepSpec(name: "attempt0", sleepMs: 50, seeds: 6), to: dir + "/s.yaml")
        let ids = try plannedTaskIDs(dir + "/s.yaml", in: dir)
        let port = freePort()
        let c = try startCoordinator(dir + "/s.yaml", out: out, port: port, in: dir, tag: "coord", extra: ["--max-attempts", "1"])
        let rogue = try RawClient(port: port)
        let claims = ids.map { LeaseRef(taskID: TaskID(hex: $0)!, attempt: 0, token: 0) }
            + ids.map { LeaseRef(taskID: TaskID(hex: $0)!, attempt: 65_535, token: 1) }
        try rogue.send(hello("rogue", slots: 64, held: claims))
        #expect(try rogue.next(timeout: 5) { if case .welcome = $0 { true } else { false } } != nil)
        try rogue.send(.goodbye(Goodbye(final: false, reason: "bye")))
        usleep(300_000)
        #expect(isAlive(c.pid), "the coordinator died: \(c.stderr)")
        let w = try startWorker(port: port, in: dir, tag: "w1")
        #expect(c.wait(timeout: 60) == 0, "\(c.stderr)")
        w.wait(timeout: 10)
        #expect(try resultRows(out).count == 6)
        #expect(c.stderr.contains("claims of leases never issued"), "\(c.stderr)")
    }

    /// Before: a peer never handed a task claimed it in its hello, was "adopted", and its result
    /// was written with its values.
    @Test func aPeerCanNeitherClaimNorReportALeaseItWasNeverHanded() throws {
        let dir = scratchDirectory("forge")
        let out = dir + "/out"
        write(sleepSpec(name: "forge", sleepMs: 100, seeds: 8), to: dir + "/s.yaml")
        let ids = try plannedTaskIDs(dir + "/s.yaml", in: dir)
        let port = freePort()
        let c = try startCoordinator(dir + "/s.yaml", out: out, port: port, in: dir, tag: "coord")
        let forger = try RawClient(port: port)
        var rng = SystemRandomNumberGenerator()
        let forged = ids.map { LeaseRef(taskID: TaskID(hex: $0)!, attempt: 1, token: rng.next()) }
        try forger.send(hello("forger", slots: 8, held: forged))
        for lease in forged { try forger.send(.result(TaskResult(lease: lease, wallSeconds: 0.1, metrics: [Metric("value", 12345)]))) }
        // A real worker finishes the sweep; the forger's claims get no task of theirs.
        let w = try startWorker(port: port, in: dir, tag: "w1")
        #expect(c.wait(timeout: 60) == 0, "\(c.stderr)")
        w.wait(timeout: 10)
        let rows = try resultRows(out)
        #expect(rows.count == 8)
        #expect(rows.allSatisfy { $0["value"] != "12345.0" && $0["host"] != "forger" }, "\(rows)")
        #expect(!c.stderr.contains("adopted a running task"), "\(c.stderr)")
    }

    @Test func aHelloWithZeroSlotsGetsAClearRefusal() throws {
        let dir = scratchDirectory("zeroslots")
        write(sleepSpec(name: "zero", sleepMs: 10, seeds: 2), to: dir + "/s.yaml")
        let port = freePort()
        let c = try startCoordinator(dir + "/s.yaml", out: dir + "/out", port: port, in: dir, tag: "coord")
        let client = try RawClient(port: port)
        try client.send(hello("empty", slots: 0))
        let answer = try client.next(timeout: 5) { if case .goodbye = $0 { true } else { false } }
        guard case .goodbye(let goodbye)? = answer else {
            Issue.record("no goodbye for a 0-slot hello: \(c.stderr)")
            return
        }
        #expect(goodbye.final && goodbye.reason.contains("refused") && goodbye.reason.contains("slots"))
        c.signal(SIGTERM)
        c.wait(timeout: 20)
    }

    /// A worker of protocol version 1 is told, in a frame it can decode, why it is not served.
    @Test func aVersionOnePeerGetsAGoodbyeItCanRead() throws {
        let dir = scratchDirectory("v1")
        write(sleepSpec(name: "v1", sleepMs: 10, seeds: 2), to: dir + "/s.yaml")
        let port = freePort()
        let c = try startCoordinator(dir + "/s.yaml", out: dir + "/out", port: port, in: dir, tag: "coord")
        let client = try RawClient(port: port)
        try client.socket.send([[0x47, 0x53, 0x01, 0x07, 0x00, 0x00]])  // a version-1 heartbeat
        var answer: [UInt8]?
        var items = [client.socket.pollItem(.readable)]
        let deadline = Date().addingTimeInterval(5)
        while answer == nil && Date() < deadline {
            _ = try zmqPoll(&items, timeoutMilliseconds: 50)
            if let frames = try client.socket.receive(dontWait: true) { answer = frames.first }
        }
        let frame = try #require(answer)
        #expect(Array(frame.prefix(5)) == [0x47, 0x53, 0x01, 0x08, 0x01], "\(frame)")  // v1 goodbye, final
        var v2 = frame
        v2[2] = protocolVersion
        guard case .goodbye(let goodbye) = try WireCodec.decode(v2) else {
            Issue.record("not a goodbye")
            return
        }
        #expect(goodbye.reason.contains("version 2") && goodbye.reason.contains("worker 1"), "\(goodbye.reason)")
        c.signal(SIGTERM)
        c.wait(timeout: 20)
        #expect(c.stderr.contains("another protocol version"), "\(c.stderr)")
    }

    @Test func curvePointsOutsideTheirTaskAreDroppedAndCounted() throws {
        let dir = scratchDirectory("badcurves")
        let out = dir + "/out"
        write(sleepSpec(name: "curves", sleepMs: 10, epochs: 2, seeds: 1), to: dir + "/s.yaml")
        let port = freePort()
        let c = try startCoordinator(dir + "/s.yaml", out: out, port: port, in: dir, tag: "coord")
        let peer = try RawClient(port: port)
        try peer.send(hello("peer"))
        guard case .task(let task)? = try peer.next(timeout: 10, { if case .task = $0 { true } else { false } }) else {
            Issue.record("no task: \(c.stderr)")
            return
        }
        for (phase, epoch) in [("evil", 1), ("sleep", 0), ("sleep", 3), ("sleep", 1_000_000), ("sleep", 1), ("sleep", 2)] {
            try peer.send(.metrics(MetricsReport(lease: task.lease, point: CurvePoint(phase: phase, epoch: epoch, metrics: [Metric("value", 1)]))))
        }
        try peer.send(.result(TaskResult(lease: task.lease, wallSeconds: 0.01, metrics: [Metric("value", 1)])))
        #expect(c.wait(timeout: 30) == 0, "\(c.stderr)")
        let curves = try readCSV(out + "/curves.csv").rows
        #expect(curves.map { "\($0[2]) \($0[3])" }.sorted() == ["sleep 1", "sleep 2"])
        #expect(c.stderr.contains("4 curve points outside their task"), "\(c.stderr)")
    }

    /// A hung task is cancelled at its time limit: training stops, the slot takes the next task,
    /// and the task counts as failed.
    @Test func aHungTaskIsCancelledAtItsTimeLimitAndItsSlotFreed() throws {
        let dir = scratchDirectory("timelimit")
        let out = dir + "/out"
        write("""
            name: hung
            experiment: sleep
            time_limit: 1s
            axes:
              sleep_ms: [600000, 20]
            seeds: 3

            """, to: dir + "/s.yaml")
        let port = freePort()
        let started = Date()
        let c = try startCoordinator(dir + "/s.yaml", out: out, port: port, in: dir, tag: "coord", extra: ["--max-attempts", "1"])
        let w = try startWorker(port: port, in: dir, tag: "w1", extra: ["--slots", "1"])
        #expect(c.wait(timeout: 60) == 3, "\(c.stderr)")  // finished, with quarantined tasks
        w.wait(timeout: 10)
        // Three hung tasks of 10 minutes each, one slot: only cancellation lets it end this soon.
        #expect(Date().timeIntervalSince(started) < 30)
        #expect(try resultRows(out).count == 3)
        let failures = try readCSV(out + "/failures.csv").rows
        #expect(failures.count == 3 && failures.allSatisfy { $0.joined().contains("time limit") }, "\(failures)")
    }

    /// A coordinator stopped for longer than the liveness window charges nobody on resuming,
    /// even with one attempt per task.
    @Test func aStoppedCoordinatorResumesWithoutChargingAnyTask() throws {
        let dir = scratchDirectory("sigstop")
        let out = dir + "/out"
        write(sleepSpec(name: "stop", sleepMs: 400, seeds: 16), to: dir + "/s.yaml")
        let port = freePort()
        let c = try startCoordinator(dir + "/s.yaml", out: out, port: port, in: dir, tag: "coord",
                                     extra: ["--max-attempts", "1", "--liveness", "3"])
        let workers = try (1...2).map { try startWorker(port: port, in: dir, tag: "w\($0)", extra: ["--slots", "2"]) }
        #expect(eventually(timeout: 20) { ((try? resultRows(out)) ?? []).count >= 2 })
        c.signal(SIGSTOP)
        sleep(2)  // 20 heartbeat intervals, over 6 liveness windows
        c.signal(SIGCONT)
        #expect(c.wait(timeout: 60) == 0, "\(c.stderr)")
        for w in workers { w.wait(timeout: 10) }
        #expect(try resultRows(out).count == 16)
        let failures = FileManager.default.fileExists(atPath: out + "/failures.csv") ? try readCSV(out + "/failures.csv").rows : []
        #expect(failures.isEmpty, "\(failures)")
    }

    /// Workers stopped together for longer than the liveness window (an overloaded host, a
    /// partition) are a mass event: their tasks go back to the queue uncharged.
    @Test func workersLostTogetherChargeNoTask() throws {
        let dir = scratchDirectory("massloss")
        let out = dir + "/out"
        write(sleepSpec(name: "mass", sleepMs: 500, seeds: 12), to: dir + "/s.yaml")
        let port = freePort()
        let c = try startCoordinator(dir + "/s.yaml", out: out, port: port, in: dir, tag: "coord",
                                     extra: ["--max-attempts", "1", "--liveness", "3"])
        let workers = try (1...3).map { try startWorker(port: port, in: dir, tag: "w\($0)", extra: ["--slots", "2"]) }
        #expect(eventually(timeout: 20) { ((try? readCSV(out + "/curves.csv").rows.count) ?? 0) >= 2 })
        for w in workers { w.signal(SIGSTOP) }
        sleep(2)
        for w in workers { w.signal(SIGCONT) }
        #expect(c.wait(timeout: 60) == 0, "\(c.stderr)")
        for w in workers { w.wait(timeout: 10) }
        #expect(try resultRows(out).count == 12)
        #expect(c.stderr.contains("many workers went silent at once"), "\(c.stderr)")
    }

    /// Charges are durable: a coordinator killed after a task's first time-out counts it on
    /// restart, so a hung task is quarantined after `--max-attempts` charges in all, not per run.
    @Test func chargesSurviveACoordinatorKill() throws {
        let dir = scratchDirectory("charges")
        let out = dir + "/out"
        write("""
            name: charges
            experiment: sleep
            time_limit: 1s
            base:
              sleep_ms: 600000
            seeds: 1

            """, to: dir + "/s.yaml")
        let port = freePort()
        let first = try startCoordinator(dir + "/s.yaml", out: out, port: port, in: dir, tag: "coord1", extra: ["--max-attempts", "2"])
        let w = try startWorker(port: port, in: dir, tag: "w1", extra: ["--give-up-after", "120"])
        #expect(eventually(timeout: 20) { ((try? readCSV(out + "/charges.csv").rows.count) ?? 0) >= 1 }, "\(first.stderr)")
        first.signal(SIGKILL)
        first.wait(timeout: 10)
        let second = try startCoordinator(dir + "/s.yaml", out: out, port: port, in: dir, tag: "coord2", extra: ["--max-attempts", "2"])
        #expect(second.wait(timeout: 60) == 3, "\(second.stderr)")
        w.wait(timeout: 20)
        let charges = try readCSV(out + "/charges.csv").rows
        let failures = try readCSV(out + "/failures.csv").rows
        #expect(charges.count == 2 && charges.allSatisfy { $0[2] == "1" && $0[4].contains("time limit") }, "\(charges)")
        #expect(failures.count == 1)
    }
}
