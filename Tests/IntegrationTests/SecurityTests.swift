import ExperimentAPI
import Foundation
import Testing
import WireProtocol
import ZeroMQ

/// Resident memory of a process, in kB (VmRSS), or nil when it has exited.
func residentKilobytes(_ pid: Int32) -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1])
    }
    return nil
}

@Suite(.serialized) struct SecurityTests {
    @Test func onlyAuthorisedWorkersGetTasks() throws {
        let dir = scratchDirectory("curve")
        for (out, name) in [("keys", "coordinator"), ("keys/workers", "good"), ("keys/other", "intruder")] {
            let r = try grainsweep(["keygen", "--out", dir + "/" + out, "--name", name], in: dir)
            #expect(r.status == 0, "\(r.err)")
        }
        let attributes = try FileManager.default.attributesOfItem(atPath: dir + "/keys/coordinator.key")
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        write(sleepSpec(name: "curve", sleepMs: 20, seeds: 20), to: dir + "/s.yaml")
        let port = freePort()
        let c = try startCoordinator(
            dir + "/s.yaml", out: dir + "/out", port: port, in: dir, tag: "coord",
            extra: ["--secret-key", dir + "/keys/coordinator.key", "--authorized-keys", dir + "/keys/workers"])
        // An intruder with a key of its own, and one with no keys at all, start first.
        let intruder = try startWorker(port: port, in: dir, tag: "intruder", extra: [
            "--server-key", dir + "/keys/coordinator.pub", "--secret-key", dir + "/keys/other/intruder.key",
        ])
        let plain = try startWorker(port: port, in: dir, tag: "plain")
        let rogue = try RawClient(port: port)
        try rogue.send(.hello(Hello(host: "rogue", pid: 1, cores: 1, slots: 4, threadsPerSlot: 1, softwareVersion: "x", held: [])))
        let gotTask = try rogue.next(timeout: 1.5) { _ in true }
        #expect(gotTask == nil, "a client without CURVE keys got a message")
        let good = try startWorker(port: port, in: dir, tag: "good", extra: [
            "--server-key", dir + "/keys/coordinator.pub", "--secret-key", dir + "/keys/workers/good.key",
        ])
        #expect(c.wait(timeout: 60) == 0, "\(c.stderr)")
        good.wait(timeout: 10)
        let rows = try resultRows(dir + "/out")
        #expect(rows.count == 20)
        #expect(Set(rows.map { $0["host"]! }) == ["good"])
        #expect(c.stderr.contains("denied by CURVE"), "\(c.stderr)")
        #expect(intruder.stderr.contains("refused this worker's CURVE key"), "\(intruder.stderr)")
        #expect(intruder.process.isRunning && plain.process.isRunning)  // never welcomed, never told to leave
        intruder.signal(SIGKILL)
        plain.signal(SIGKILL)
    }

    @Test func sighupAdmitsANewlyAuthorisedWorker() throws {
        let dir = scratchDirectory("curve-reload")
        for (out, name) in [("keys", "coordinator"), ("keys/workers", "first"), ("keys/later", "second")] {
            #expect(try grainsweep(["keygen", "--out", dir + "/" + out, "--name", name], in: dir).status == 0)
        }
        write(sleepSpec(name: "reload", sleepMs: 20, seeds: 10), to: dir + "/s.yaml")
        let port = freePort()
        let c = try startCoordinator(
            dir + "/s.yaml", out: dir + "/out", port: port, in: dir, tag: "coord",
            extra: ["--secret-key", dir + "/keys/coordinator.key", "--authorized-keys", dir + "/keys/workers"])
        let second = try startWorker(port: port, in: dir, tag: "second", extra: [
            "--server-key", dir + "/keys/coordinator.pub", "--secret-key", dir + "/keys/later/second.key",
        ])
        #expect(eventually(timeout: 10) { c.stderr.contains("not authorised") }, "\(c.stderr)")
        #expect(((try? resultRows(dir + "/out")) ?? []).isEmpty)
        try FileManager.default.copyItem(atPath: dir + "/keys/later/second.pub", toPath: dir + "/keys/workers/second.pub")
        c.signal(SIGHUP)
        #expect(c.wait(timeout: 60) == 0, "\(c.stderr)")
        second.wait(timeout: 10)
        #expect(c.stderr.contains("authorised keys reloaded"))
        let rows = try resultRows(dir + "/out")
        #expect(rows.count == 10 && rows.allSatisfy { $0["host"] == "second" })
    }

    @Test func plainTCPOnANetworkAddressIsRefusedWithAHint() throws {
        let dir = scratchDirectory("insecure")
        write(sleepSpec(name: "insecure", sleepMs: 1, seeds: 1), to: dir + "/s.yaml")
        let r = try grainsweep(["coordinator", dir + "/s.yaml", "--out", dir + "/out", "--bind", "tcp://0.0.0.0:\(freePort())"], in: dir)
        #expect(r.status != 0)
        #expect(r.err.contains("grainsweep keygen") && r.err.contains("--insecure"), "\(r.err)")
    }

    @Test func withoutKeysTheDefaultBindIsLoopback() throws {
        let dir = scratchDirectory("default-bind")
        write(sleepSpec(name: "defaultbind", sleepMs: 1, seeds: 3), to: dir + "/s.yaml")
        let c = try Child(["coordinator", dir + "/s.yaml", "--out", dir + "/out"] + fastTiming, in: dir, tag: "coord")
        #expect(eventually(timeout: 10) { c.stderr.contains("serving sweep") }, "\(c.stderr)")
        #expect(c.stderr.contains("endpoint=tcp://127.0.0.1:5555"), "\(c.stderr)")
        let w = try Child(["worker", "--connect", "tcp://127.0.0.1:5555", "--give-up-after", "20"], in: dir, tag: "w")
        #expect(c.wait(timeout: 30) == 0, "\(c.stderr)")
        w.wait(timeout: 10)
        #expect(try resultRows(dir + "/out").count == 3)
    }

    @Test func fuzzedFramesFromARogueChangeNothing() throws {
        let dir = scratchDirectory("fuzz")
        write(sleepSpec(name: "fuzz", sleepMs: 40, seeds: 240), to: dir + "/s.yaml")
        let port = freePort()
        let c = try startCoordinator(dir + "/s.yaml", out: dir + "/out", port: port, in: dir, tag: "coord")
        let w1 = try startWorker(port: port, in: dir, tag: "w1", extra: ["--slots", "2"])
        let w2 = try startWorker(port: port, in: dir, tag: "w2", extra: ["--slots", "2"])
        #expect(eventually(timeout: 20) { ((try? resultRows(dir + "/out")) ?? []).count >= 5 })
        let baseline = residentKilobytes(c.pid) ?? 0

        let context = try ZMQContext()
        let rogue = try ZMQSocket(context, .dealer)
        try rogue.set(.linger(milliseconds: 0))
        try rogue.set(.sendHighWaterMark(0))
        try rogue.connect("tcp://127.0.0.1:\(port)")
        var rng = SplitMix(seed: 2026)
        let samples = validMessages(&rng)
        var peak = baseline
        var sent = 0
        for i in 0..<100_000 {
            var frame: [UInt8]
            switch rng.below(10) {
            case 0, 1:  // random bytes
                frame = (0..<rng.below(120)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            case 2, 3:  // a valid message, truncated
                frame = samples[rng.below(samples.count)]
                frame = Array(frame.prefix(rng.below(frame.count + 1)))
            case 4, 5, 6:  // a valid message with a few bytes changed (ids, lengths, counts, tags)
                frame = samples[rng.below(samples.count)]
                for _ in 0...rng.below(4) where !frame.isEmpty { frame[rng.below(frame.count)] = UInt8(truncatingIfNeeded: rng.next()) }
            case 7:  // huge length fields
                frame = samples[rng.below(samples.count)]
                if frame.count > 8 { let at = 4 + rng.below(frame.count - 5); frame[at] = 0xff; frame[at + 1] = 0xff }
            case 8:  // valid messages for tasks the rogue does not hold
                frame = samples[rng.below(samples.count)]
            default:  // extra bytes after a valid message
                frame = samples[rng.below(samples.count)] + [UInt8(truncatingIfNeeded: rng.next())]
            }
            if i % 25_000 == 0 { frame = [UInt8](repeating: 0x47, count: 70_000) }  // over ZMQ_MAXMSGSIZE
            if (try? rogue.send([frame], dontWait: true)) == true { sent += 1 }
            if i % 2000 == 0 {
                _ = try? rogue.receive(dontWait: true)
                peak = max(peak, residentKilobytes(c.pid) ?? 0)
                usleep(1000)
            }
        }
        #expect(sent > 90_000)
        #expect(c.wait(timeout: 120) == 0, "\(c.stderr)")
        w1.wait(timeout: 10)
        w2.wait(timeout: 10)
        rogue.close()
        context.shutdown()
        let rows = try resultRows(dir + "/out")
        #expect(rows.count == 240)
        #expect(Set(rows.map { $0["task_id"]! }).count == 240)
        #expect(Set(rows.map { $0["host"]! }).isSubset(of: ["w1", "w2"]))
        // The value of a sleep task is seed/2 + sleep_ms: no forged numbers got in.
        #expect(rows.allSatisfy { Double($0["value"]!)! == Double($0["seed"]!)! * 0.5 + 40 })
        #expect(peak - baseline < 64_000, "coordinator grew from \(baseline) kB to \(peak) kB")
        // The frames reached the coordinator while the sweep ran, and were counted.
        // (A changed version byte is counted apart, as another protocol version; a changed lease
        // token leaves a well-formed frame, dropped as a claim or report of a lease never issued.)
        let malformed = c.stderr.firstMatch(of: /(\d+) malformed/).flatMap { Int($0.1) } ?? 0
        let otherVersion = c.stderr.firstMatch(of: /(\d+) of another protocol version/).flatMap { Int($0.1) } ?? 0
        #expect(malformed + otherVersion > 20_000, "\(c.stderr)")
    }
}

/// Seeded SplitMix64, for reproducible fuzzing.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }
}

/// One encoded message of every type a worker might send, with random task ids.
func validMessages(_ rng: inout SplitMix) -> [[UInt8]] {
    var out: [[UInt8]] = []
    for _ in 0..<50 {
        let ref = LeaseRef(taskID: TaskID(high: rng.next(), low: rng.next()), attempt: 1 + rng.below(3), token: rng.next())
        out.append(WireCodec.encode(.hello(Hello(host: "rogue", pid: 7, cores: 2, slots: 1 + rng.below(3), threadsPerSlot: 1, softwareVersion: "x", held: [ref]))))
        out.append(WireCodec.encode(.heartbeat(Heartbeat(held: [ref]))))
        out.append(WireCodec.encode(.result(TaskResult(lease: ref, wallSeconds: 1, metrics: [Metric("value", 1e9)]))))
        out.append(WireCodec.encode(.metrics(MetricsReport(lease: ref, point: CurvePoint(phase: "sleep", epoch: 1, metrics: [Metric("value", 3)])))))
        out.append(WireCodec.encode(.failure(TaskFailure(lease: ref, error: "forged"))))
        out.append(WireCodec.encode(.goodbye(Goodbye(final: false, reason: "bye"))))
        out.append(WireCodec.encode(.task(TaskAssignment(lease: ref, experiment: "sleep", parameters: [(name: "seed", value: .integer(1))]))))
    }
    return out
}
