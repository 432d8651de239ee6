import ExperimentAPI
import Foundation
import Testing
import WireProtocol
import ZeroMQ

/// A sleep-family spec with `seeds` tasks of `sleepMs` each (plus extra YAML lines).
func sleepSpec(name: String, sleepMs: Double, epochs: Int = 1, seeds: Int, extraAxes: String = "") -> String {
    """
    name: \(name)
    experiment: sleep
    base:
      sleep_ms: \(sleepMs)
      epochs: \(epochs)
    axes:
    \(extraAxes.isEmpty ? "  fail: [never]" : extraAxes)
    seeds: \(seeds)

    """
}

/// Timing options that make failure detection fast in tests.
let fastTiming = ["--heartbeat-ms", "100", "--liveness", "10", "--progress", "log", "--progress-interval", "1"]

func startCoordinator(_ spec: String, out: String, port: Int, in dir: String, tag: String, extra: [String] = []) throws -> Child {
    try Child(["coordinator", spec, "--out", out, "--bind", "tcp://127.0.0.1:\(port)"] + fastTiming + extra, in: dir, tag: tag)
}

func startWorker(port: Int, in dir: String, tag: String, extra: [String] = []) throws -> Child {
    try Child(["worker", "--connect", "tcp://127.0.0.1:\(port)", "--threads", "1", "--give-up-after", "60", "--host", tag] + extra, in: dir, tag: tag)
}

func resultRows(_ out: String) throws -> [[String: String]] {
    let (header, rows) = try readCSV(out + "/results.csv")
    return rows.map { Dictionary(uniqueKeysWithValues: zip(header, $0)) }
}

@Suite(.serialized) struct CoordinatorProcessTests {
    @Test func killedWorkerTaskIsHandedOutAgain() throws {
        let dir = scratchDirectory("kill-worker")
        write(sleepSpec(name: "killw", sleepMs: 300, epochs: 3, seeds: 12), to: dir + "/s.yaml")
        let port = freePort()
        let coordinator = try startCoordinator(dir + "/s.yaml", out: dir + "/out", port: port, in: dir, tag: "coord")
        let w1 = try startWorker(port: port, in: dir, tag: "w1")
        let w2 = try startWorker(port: port, in: dir, tag: "w2")
        // Once w1 has streamed metrics, it is mid-task: kill it there.
        #expect(eventually(timeout: 30) {
            (try? readCSV(dir + "/out/curves.csv").rows.count) ?? 0 >= 4 && ((try? resultRows(dir + "/out")) ?? []).contains { $0["host"] == "w1" }
        })
        usleep(150_000)
        w1.signal(SIGKILL)
        #expect(coordinator.wait(timeout: 60) == 0, "coordinator: \(coordinator.stderr)")
        w2.wait(timeout: 10)
        let rows = try resultRows(dir + "/out")
        let planned = try plannedTaskIDs(dir + "/s.yaml", in: dir)
        #expect(rows.count == planned.count)
        #expect(Set(rows.map { $0["task_id"]! }) == Set(planned))
        #expect(rows.contains { Int($0["attempt"]!)! >= 2 }, "no task was re-run: \(coordinator.stderr)")
        #expect(coordinator.stderr.contains("declared dead"))
    }

    @Test func malformedAndUnknownFramesAreDroppedAndTheSweepCompletes() throws {
        let dir = scratchDirectory("malformed")
        write(sleepSpec(name: "bad-frames", sleepMs: 50, seeds: 20), to: dir + "/s.yaml")
        let port = freePort()
        let coordinator = try startCoordinator(dir + "/s.yaml", out: dir + "/out", port: port, in: dir, tag: "coord")
        let context = try ZMQContext()
        let rogue = try ZMQSocket(context, .dealer)
        try rogue.set(.linger(milliseconds: 0))
        try rogue.connect("tcp://127.0.0.1:\(port)")
        try rogue.send([[0xde, 0xad, 0xbe, 0xef]])                   // garbage
        try rogue.send([[UInt8(ascii: "G"), UInt8(ascii: "S"), protocolVersion, 0xEE]])  // unknown type
        try rogue.send([[UInt8(ascii: "G"), UInt8(ascii: "S"), 99, 7]])                  // bad version
        try rogue.send([[], [1, 2, 3]])                                // two frames
        let worker = try startWorker(port: port, in: dir, tag: "w1")
        #expect(coordinator.wait(timeout: 60) == 0, "coordinator: \(coordinator.stderr)")
        worker.wait(timeout: 10)
        rogue.close()
        context.shutdown()
        #expect(try resultRows(dir + "/out").count == 20)
        #expect(coordinator.stderr.contains("malformed"), "summary should count dropped frames: \(coordinator.stderr)")
    }

    @Test func poisonTaskIsQuarantinedAndTheSweepEndsNonZero() throws {
        let dir = scratchDirectory("poison")
        write(sleepSpec(name: "poison", sleepMs: 10, seeds: 3, extraAxes: "  fail: [never, always]"), to: dir + "/s.yaml")
        let port = freePort()
        let coordinator = try startCoordinator(dir + "/s.yaml", out: dir + "/out", port: port, in: dir, tag: "coord", extra: ["--max-attempts", "2"])
        let w1 = try startWorker(port: port, in: dir, tag: "w1")
        let w2 = try startWorker(port: port, in: dir, tag: "w2")
        #expect(coordinator.wait(timeout: 60) == 3, "coordinator: \(coordinator.stderr)")
        w1.wait(timeout: 10)
        w2.wait(timeout: 10)
        let rows = try resultRows(dir + "/out")
        #expect(rows.count == 3 && rows.allSatisfy { $0["fail"] == "never" })
        let (header, failures) = try readCSV(dir + "/out/failures.csv")
        #expect(failures.count == 3)
        let attempts = header.firstIndex(of: "attempts")!, error = header.firstIndex(of: "last_error")!
        #expect(failures.allSatisfy { $0[attempts] == "2" && $0[error].contains("poison") })
        #expect(coordinator.stderr.contains("quarantined"))
    }

    /// Chaos: kill -9 workers and the coordinator at random (seeded) moments and restart them;
    /// the end result must equal an undisturbed run's, row for row, with nothing twice.
    @Test func sweepSurvivesRandomKillsAndMatchesAnUndisturbedRun() throws {
        let dir = scratchDirectory("chaos")
        write(sleepSpec(name: "chaos", sleepMs: 40, epochs: 2, seeds: 300), to: dir + "/s.yaml")
        let port = freePort()
        let out = dir + "/out"
        let extra = ["--max-attempts", "10"]
        var coordinator = try startCoordinator(dir + "/s.yaml", out: out, port: port, in: dir, tag: "coord0", extra: extra)
        var workers = try (1...3).map { try startWorker(port: port, in: dir, tag: "w\($0)", extra: ["--slots", "2"]) }
        var rng = SplitMix(seed: 7)
        var kills = 0
        for round in 1...8 {
            usleep(UInt32(150_000 + rng.below(350_000)))
            guard coordinator.process.isRunning else { break }
            let victim = rng.below(4)
            kills += 1
            if victim == 0 {
                coordinator.signal(SIGKILL)
                coordinator.wait(timeout: 5)
                coordinator = try startCoordinator(dir + "/s.yaml", out: out, port: port, in: dir, tag: "coord\(round)", extra: extra)
            } else {
                workers[victim - 1].signal(SIGKILL)
                workers[victim - 1].wait(timeout: 5)
                workers[victim - 1] = try startWorker(port: port, in: dir, tag: "w\(victim)", extra: ["--slots", "2"])
            }
        }
        #expect(kills >= 3)
        #expect(coordinator.wait(timeout: 120) == 0, "coordinator: \(coordinator.stderr)")
        for w in workers { w.wait(timeout: 10) }

        let calm = dir + "/calm"
        let r = try grainsweep(["run", dir + "/s.yaml", "--out", calm, "--workers", "2"] + fastTiming, in: dir)
        #expect(r.status == 0, "\(r.err)")
        let disturbed = try resultRows(out), undisturbed = try resultRows(calm)
        #expect(disturbed.count == 300 && Set(disturbed.map { $0["task_id"]! }).count == 300)
        let expected = Dictionary(uniqueKeysWithValues: undisturbed.map { ($0["task_id"]!, $0["value"]!) })
        #expect(disturbed.allSatisfy { expected[$0["task_id"]!] == $0["value"] })
        // Curves: exactly the accepted attempt's two epochs of every task, each once. Rows of
        // superseded attempts may remain (readers keep the attempt results.csv records).
        let attemptOf = Dictionary(uniqueKeysWithValues: disturbed.map { ($0["task_id"]!, $0["attempt"]!) })
        let curves = try readCSV(out + "/curves.csv").rows.filter { attemptOf[$0[0]] == $0[1] }
        #expect(curves.count == 600)
        #expect(Set(curves.map { $0[0] + "/" + $0[2] + "/" + $0[3] }).count == 600)
    }

    /// Busy and idle workers both heartbeat at the coordinator's interval (a long epoch or an
    /// empty queue never looks like a dead worker).
    @Test func busyAndIdleWorkersAreNeverDeclaredDead() throws {
        let dir = scratchDirectory("alive")
        write(sleepSpec(name: "alive", sleepMs: 1500, epochs: 1, seeds: 1), to: dir + "/s.yaml")
        let port = freePort()
        let c = try startCoordinator(dir + "/s.yaml", out: dir + "/out", port: port, in: dir, tag: "coord")
        let w1 = try startWorker(port: port, in: dir, tag: "w1")
        let w2 = try startWorker(port: port, in: dir, tag: "w2")
        #expect(c.wait(timeout: 30) == 0, "\(c.stderr)")
        w1.wait(timeout: 10)
        w2.wait(timeout: 10)
        #expect(!c.stderr.contains("declared dead"), "\(c.stderr)")
        #expect(!w1.stderr.contains("reconnecting") && !w2.stderr.contains("reconnecting"))
        #expect(try resultRows(dir + "/out").count == 1)
    }

    @Test func workerWhoseTasksAllFailIsDrained() throws {
        let dir = scratchDirectory("drain")
        write(sleepSpec(name: "drain", sleepMs: 30, seeds: 20), to: dir + "/s.yaml")
        let port = freePort()
        let c = try startCoordinator(dir + "/s.yaml", out: dir + "/out", port: port, in: dir, tag: "coord")
        let good = try startWorker(port: port, in: dir, tag: "good")
        let bad = try startWorker(port: port, in: dir, tag: "bad", extra: ["--slots", "2", "--inject-failures"])
        #expect(c.wait(timeout: 60) == 0, "\(c.stderr)")
        good.wait(timeout: 10)
        bad.wait(timeout: 10)
        let rows = try resultRows(dir + "/out")
        #expect(rows.count == 20 && rows.allSatisfy { $0["host"] == "good" })
        #expect(c.stderr.contains("draining worker"), "\(c.stderr)")
        #expect(try readCSV(dir + "/out/failures.csv").rows.isEmpty)
    }

    @Test func grownSpecRunsOnlyNewTasksAndTornLineIsRepaired() throws {
        let dir = scratchDirectory("grow")
        let out = dir + "/out"
        write(sleepSpec(name: "grow", sleepMs: 5, seeds: 4), to: dir + "/s.yaml")
        var r = try grainsweep(["run", dir + "/s.yaml", "--out", out, "--workers", "2"] + fastTiming, in: dir)
        #expect(r.status == 0, "\(r.err)")
        let before = try String(contentsOfFile: out + "/results.csv", encoding: .utf8)
        #expect(try resultRows(out).count == 4)
        // Grow the spec and leave a torn line, as a crash mid-write would.
        write(sleepSpec(name: "grow", sleepMs: 5, seeds: 6), to: dir + "/s.yaml")
        let handle = FileHandle(forWritingAtPath: out + "/results.csv")!
        handle.seekToEndOfFile()
        handle.write(Data("0123456789abcdef0123456789abcdef,sleep,5.0".utf8))
        handle.closeFile()
        r = try grainsweep(["run", dir + "/s.yaml", "--out", out, "--workers", "2"] + fastTiming, in: dir)
        #expect(r.status == 0, "\(r.err)")
        #expect(r.err.contains("(2 this run)"), "\(r.err)")
        #expect(r.err.contains("repaired"), "\(r.err)")
        let after = try String(contentsOfFile: out + "/results.csv", encoding: .utf8)
        #expect(after.hasPrefix(before))
        let ids = try resultRows(out).map { $0["task_id"]! }
        let planned = try plannedTaskIDs(dir + "/s.yaml", in: dir)
        #expect(ids.count == 6 && Set(ids) == Set(planned))
    }

    @Test func changedBaseIsRefusedClearly() throws {
        let dir = scratchDirectory("base")
        let out = dir + "/out"
        write(sleepSpec(name: "base", sleepMs: 5, seeds: 2), to: dir + "/s.yaml")
        #expect(try grainsweep(["run", dir + "/s.yaml", "--out", out, "--workers", "1"] + fastTiming, in: dir).status == 0)
        write(sleepSpec(name: "base", sleepMs: 7, seeds: 2), to: dir + "/s.yaml")
        let r = try grainsweep(["run", dir + "/s.yaml", "--out", out, "--workers", "1"] + fastTiming, in: dir)
        #expect(r.status != 0)
        #expect(r.err.contains("different sweep"), "\(r.err)")
        #expect(try resultRows(out).count == 2)
    }

    @Test func sigtermStopsGracefullyAndTheSweepResumes() throws {
        let dir = scratchDirectory("sigterm")
        let out = dir + "/out"
        write(sleepSpec(name: "term", sleepMs: 100, seeds: 30), to: dir + "/s.yaml")
        let port = freePort()
        let c = try startCoordinator(dir + "/s.yaml", out: out, port: port, in: dir, tag: "coord")
        let w = try startWorker(port: port, in: dir, tag: "w1", extra: ["--slots", "2"])
        #expect(eventually(timeout: 20) { ((try? resultRows(out)) ?? []).count >= 3 })
        c.signal(SIGTERM)
        // Stopped before the end by SIGTERM: 128 + 15, so that scripts tell it from a finished sweep.
        #expect(c.wait(timeout: 20) == 143, "\(c.stderr)")
        let partial = try resultRows(out).count
        #expect(partial < 30)
        let c2 = try startCoordinator(dir + "/s.yaml", out: out, port: port, in: dir, tag: "coord2")
        #expect(c2.wait(timeout: 60) == 0, "\(c2.stderr)")
        w.wait(timeout: 10)
        let ids = try resultRows(out).map { $0["task_id"]! }
        #expect(ids.count == 30 && Set(ids).count == 30)
    }

    @Test func workerSigtermHandsItsTaskBack() throws {
        let dir = scratchDirectory("worker-term")
        let out = dir + "/out"
        write(sleepSpec(name: "wterm", sleepMs: 400, epochs: 4, seeds: 6), to: dir + "/s.yaml")
        let port = freePort()
        let c = try startCoordinator(dir + "/s.yaml", out: out, port: port, in: dir, tag: "coord", extra: ["--max-attempts", "1"])
        let w1 = try startWorker(port: port, in: dir, tag: "w1")
        #expect(eventually(timeout: 20) { ((try? readCSV(out + "/curves.csv").rows.count) ?? 0) >= 1 })
        w1.signal(SIGTERM)
        #expect(w1.wait(timeout: 10) == 0, "\(w1.stderr)")
        let w2 = try startWorker(port: port, in: dir, tag: "w2")
        // With one attempt allowed, a handed-back task must not have used it up.
        #expect(c.wait(timeout: 60) == 0, "\(c.stderr)")
        w2.wait(timeout: 10)
        #expect(try resultRows(out).count == 6)
    }
}

/// Whether a process exists and is not a zombie waiting to be reaped.
func isAlive(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return false }
    return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
}

/// Pids of the live children of `parent` (from /proc).
func childPIDs(of parent: Int32) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap(Int32.init).filter { pid in
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 2 && fields[0] != "Z" && Int32(fields[1]) == parent
    }
}

@Suite(.serialized) struct RunCommandTests {
    @Test func localWorkersLeaveWhenRunIsKilled() throws {
        let dir = scratchDirectory("run-kill")
        write(sleepSpec(name: "runkill", sleepMs: 2000, seeds: 10), to: dir + "/s.yaml")
        let run = try Child(["run", dir + "/s.yaml", "--out", dir + "/out", "--workers", "2"] + fastTiming, in: dir, tag: "run")
        var workers: [Int32] = []
        #expect(eventually(timeout: 20) {
            workers = childPIDs(of: run.pid)
            return workers.count == 2
        })
        run.signal(SIGKILL)
        run.wait(timeout: 5)
        #expect(eventually(timeout: 10) { workers.allSatisfy { !isAlive($0) } }, "local workers outlived grainsweep run")
    }
}
