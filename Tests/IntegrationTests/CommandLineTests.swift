import Foundation
import Testing

/// What a user meets first: exit statuses, error messages, signals to `grainsweep run`, and the
/// live status files. Real processes, real signals, real files.
@Suite(.serialized) struct CommandLineTests {
    // MARK: - Exit status 2 for every kind of invalid input, with "error:" messages

    @Test(arguments: [
        (["plan", "/nonexistent/spec.yaml"], "found no such file"),
        (["plan", "/tmp"], "found a directory"),
        (["run", "sweeps/smoke.yaml", "--out", "/tmp/x", "--workers", "0"], "--workers must be in 1...256"),
        (["run", "sweeps/smoke.yaml", "--out", "/tmp/x", "--progress", "fancy"], "--progress must be auto, bar or log"),
        (["coordinator", "sweeps/smoke.yaml", "--out", "/tmp/x", "--max-attempts", "0"], "--max-attempts must be in 1...100"),
        (["frobnicate"], "Unexpected argument 'frobnicate'"),
        (["worker"], "Missing expected argument '--connect"),
    ])
    func invalidInputExitsTwoWithAnErrorLine(arguments: [String], message: String) throws {
        let r = try grainsweep(arguments.map { $0.hasPrefix("sweeps/") ? packageRoot + "/" + $0 : $0 }, in: scratchDirectory("args"))
        #expect(r.status == 2, "\(arguments): \(r.err)")
        // Spec problems use the compiler form (FILE:LINE:COLUMN: error: ...) that editors jump to.
        #expect(r.err.hasPrefix("error: ") || r.err.hasPrefix(arguments[1] + ": error: "), "\(r.err)")
        #expect(r.err.contains(message), "\(r.err)")
        #expect(!r.err.contains("Error:") && !r.err.contains("NSCocoaErrorDomain"), "\(r.err)")
    }

    @Test func anInvalidSpecExitsTwoFromPlanRunAndCoordinator() throws {
        let dir = scratchDirectory("bad-spec")
        write("name: t\nbase:\n  widht: 4\naxes:\n  granularity: [3]\nseeds: 1\n", to: dir + "/bad.yaml")
        for command in [["plan", dir + "/bad.yaml"], ["run", dir + "/bad.yaml", "--out", dir + "/o"],
                        ["coordinator", dir + "/bad.yaml", "--out", dir + "/o"]] {
            let r = try grainsweep(command, in: dir)
            #expect(r.status == 2, "\(command): \(r.err)")
            // Both problems at once: the typo does not hide the rejected granularity.
            #expect(r.err.contains("base.widht") && r.err.contains("axes.granularity[0]") && r.err.contains("2 errors"), "\(r.err)")
        }
    }

    @Test func helpAndVersionExitZero() throws {
        let dir = scratchDirectory("help")
        let help = try grainsweep(["run", "--help"], in: dir)
        #expect(help.status == 0)
        #expect(help.out.contains("--max-attempts") && help.out.contains("1...100"), "\(help.out)")
        #expect(try grainsweep(["--version"], in: dir).status == 0)
    }

    @Test func keygenNamesTheFlagThatReplaces() throws {
        let dir = scratchDirectory("keygen")
        #expect(try grainsweep(["keygen", "--out", dir, "--name", "k"], in: dir).status == 0)
        let again = try grainsweep(["keygen", "--out", dir, "--name", "k"], in: dir)
        #expect(again.status == 1)
        #expect(again.err.hasPrefix("error: ") && again.err.contains("--force"), "\(again.err)")
        #expect(try grainsweep(["keygen", "--out", dir, "--name", "k", "--force"], in: dir).status == 0)
    }

    // MARK: - Signals to `grainsweep run`

    @Test func ctrlCExitsOneThirtyAndASecondOneLeavesAtOnce() throws {
        let dir = scratchDirectory("run-int")
        write(sleepSpec(name: "runint", sleepMs: 4000, seeds: 8), to: dir + "/s.yaml")
        let run = try Child(["run", dir + "/s.yaml", "--out", dir + "/out", "--workers", "2"] + fastTiming, in: dir, tag: "run")
        var workers: [Int32] = []
        #expect(eventually(timeout: 20) {
            workers = childPIDs(of: run.pid)
            return workers.count == 2 && (SweepStatusFile.load(dir + "/out")?.running ?? 0) == 2
        })
        run.signal(SIGINT)
        #expect(eventually(timeout: 5) { run.stderr.contains("stopping: no new tasks") })
        run.signal(SIGINT)
        let start = Date()
        let status = run.wait(timeout: 10)
        let seconds = Date().timeIntervalSince(start)
        #expect(status == 130, "\(run.stderr)")
        #expect(seconds < 2.5, "a second Ctrl-C took \(seconds) s to leave")
        #expect(eventually(timeout: 3) { workers.allSatisfy { !isAlive($0) } }, "local workers outlived run")
        #expect(SweepStatusFile.load(dir + "/out")?.state == "stopped")
    }

    @Test func sighupDoesNotEndTheSweepAndMovesTheLogToAFile() throws {
        let dir = scratchDirectory("run-hup")
        write(sleepSpec(name: "runhup", sleepMs: 150, seeds: 24), to: dir + "/s.yaml")
        let run = try Child(["run", dir + "/s.yaml", "--out", dir + "/out", "--workers", "2"] + fastTiming, in: dir, tag: "run")
        #expect(eventually(timeout: 20) { ((try? resultRows(dir + "/out")) ?? []).count >= 2 })
        run.signal(SIGHUP)
        #expect(run.wait(timeout: 60) == 0, "\(run.stderr)")
        #expect(run.stderr.contains("SIGHUP: the terminal hung up; the sweep goes on"), "\(run.stderr)")
        let log = String(decoding: FileManager.default.contents(atPath: dir + "/out/run.log") ?? Data(), as: UTF8.self)
        #expect(log.contains("SIGHUP") && log.contains("24/24 tasks done"), "\(log)")
        #expect(try resultRows(dir + "/out").count == 24)
    }

    /// A real hangup: `run` on a pseudo-terminal whose other end (script(1)) is killed.
    @Test func aClosedTerminalDoesNotEndTheSweep() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else {
            print("skipped: /usr/bin/script (util-linux) is not installed")
            return
        }
        let dir = scratchDirectory("run-pty")
        write(sleepSpec(name: "runpty", sleepMs: 150, seeds: 24), to: dir + "/s.yaml")
        let command = ([grainsweepBinary, "run", dir + "/s.yaml", "--out", dir + "/out", "--workers", "2"] + fastTiming)
            .joined(separator: " ")
        let script = Process()
        script.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        script.arguments = ["-qfc", command, "/dev/null"]
        script.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try script.run()
        #expect(eventually(timeout: 20) { ((try? resultRows(dir + "/out")) ?? []).count >= 2 })
        kill(script.processIdentifier, SIGKILL)
        script.waitUntilExit()
        #expect(eventually(timeout: 60) { SweepStatusFile.load(dir + "/out")?.state == "finished" },
                "the sweep did not finish after its terminal closed")
        #expect(try resultRows(dir + "/out").count == 24)
        let log = String(decoding: FileManager.default.contents(atPath: dir + "/out/run.log") ?? Data(), as: UTF8.self)
        #expect(log.contains("SIGHUP"), "\(log)")
    }

    @Test func rerunningAFinishedSweepStartsNoWorkers() throws {
        let dir = scratchDirectory("run-again")
        write(sleepSpec(name: "again", sleepMs: 10, seeds: 4), to: dir + "/s.yaml")
        let first = try grainsweep(["run", dir + "/s.yaml", "--out", dir + "/out", "--workers", "2"] + fastTiming, in: dir)
        #expect(first.status == 0, "\(first.err)")
        let start = Date()
        let again = try grainsweep(["run", dir + "/s.yaml", "--out", dir + "/out", "--workers", "2", "--log-level", "debug"] + fastTiming, in: dir)
        #expect(again.status == 0, "\(again.err)")
        #expect(Date().timeIntervalSince(start) < 2, "re-running a finished sweep took \(Date().timeIntervalSince(start)) s")
        #expect(!again.err.contains("starting local workers") && !again.err.contains("worker joined"), "\(again.err)")
        #expect(again.err.contains("4/4 tasks done (0 this run)"), "\(again.err)")
    }

    // MARK: - The terminal and the status files

    /// With a progress bar, each log line starts on a line of its own.
    @Test func logLinesNeverShareALineWithTheProgressBar() throws {
        let dir = scratchDirectory("bar")
        write(sleepSpec(name: "bar", sleepMs: 100, seeds: 16), to: dir + "/s.yaml")
        let r = try grainsweep(["run", dir + "/s.yaml", "--out", dir + "/out", "--workers", "2", "--progress", "bar",
                                "--worker-log-level", "info"], in: dir)
        #expect(r.status == 0, "\(r.err)")
        #expect(r.err.contains("\r\u{1B}[K["), "no progress bar drawn")
        var logLines = 0
        for line in r.err.split(separator: "\n") {
            // What is left on screen of this line: the text after its last erase.
            let visible = line.components(separatedBy: "\u{1B}[K").last ?? ""
            let shown = visible.hasPrefix("\r") ? String(visible.dropFirst()) : visible
            if shown.range(of: #"20\d\d-\d\d-\d\dT"#, options: .regularExpression) != nil {
                logLines += 1
                #expect(shown.hasPrefix("20"), "a log line shares a line: \(shown.debugDescription)")
            }
        }
        #expect(logLines > 3)
    }

    @Test func statusFilesFollowTheSweep() throws {
        let dir = scratchDirectory("status")
        write(sleepSpec(name: "status", sleepMs: 500, seeds: 40), to: dir + "/s.yaml")
        let run = try Child(["run", dir + "/s.yaml", "--out", dir + "/out", "--workers", "2"] + fastTiming, in: dir, tag: "run")
        var seenRunning: SweepStatusFile?
        #expect(eventually(timeout: 20) {
            seenRunning = SweepStatusFile.load(dir + "/out")
            return seenRunning?.state == "running" && (seenRunning?.running ?? 0) > 0 && seenRunning?.workers == 2
        })
        #expect(seenRunning?.total == 40 && seenRunning?.workers == 2 && seenRunning?.pid == run.pid)
        #expect(run.wait(timeout: 60) == 0, "\(run.stderr)")
        let final = try #require(SweepStatusFile.load(dir + "/out"))
        #expect(final.state == "finished" && final.done == 40 && final.total == 40 && final.running == 0)
        let prom = String(decoding: FileManager.default.contents(atPath: dir + "/out/metrics.prom") ?? Data(), as: UTF8.self)
        #expect(prom.contains("grainsweep_tasks{sweep=\"status\",state=\"done\"} 40"), "\(prom)")
        #expect(prom.contains("grainsweep_finished{sweep=\"status\"} 1"), "\(prom)")
        // The text format: every line a comment or `name{labels} value`.
        for line in prom.split(separator: "\n") where !line.hasPrefix("#") {
            #expect(line.range(of: #"^[a-z_]+\{[^}]*\} -?[0-9.e+-]+$"#, options: .regularExpression) != nil, "\(line)")
        }
    }
}

/// The fields of status.json a test reads, decoded independently of the library's type.
struct SweepStatusFile: Decodable {
    let state: String
    let total: Int
    let done: Int
    let running: Int
    let workers: Int
    let pid: Int32

    static func load(_ directory: String) -> SweepStatusFile? {
        guard let data = FileManager.default.contents(atPath: directory + "/status.json") else { return nil }
        return try? JSONDecoder().decode(SweepStatusFile.self, from: data)
    }
}

/// `report --watch` beside a real `run`: it follows the coordinator's status.json and ends by
/// itself with a final page when the sweep finishes.
@Suite(.serialized) struct LiveReportProcessTests {
    @Test func watchFollowsARealSweepAndEndsWithIt() throws {
        let dir = scratchDirectory("watch-run")
        let out = dir + "/out"
        write(sleepSpec(name: "watchrun", sleepMs: 400, seeds: 16), to: dir + "/s.yaml")
        let run = try Child(["run", dir + "/s.yaml", "--out", out, "--workers", "2"] + fastTiming, in: dir, tag: "run")
        #expect(eventually(timeout: 20) { SweepStatusFile.load(out)?.state == "running" })
        let watch = try Child(["report", out, "--watch", "--interval", "0.5"], in: dir, tag: "watch")
        var live = ""
        #expect(eventually(timeout: 20) {
            live = (try? String(contentsOfFile: out + "/report.html", encoding: .utf8)) ?? ""
            return live.contains("http-equiv=\"refresh\"") && live.contains("of 16")
        }, "no live page: \(watch.stderr)")
        #expect(run.wait(timeout: 60) == 0, "\(run.stderr)")
        #expect(watch.wait(timeout: 20) == 0, "the watch did not end with the sweep: \(watch.stderr)")
        let final = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
        #expect(!final.contains("http-equiv=\"refresh\""))
        #expect(final.contains("16 of 16 finished task(s)"), "\(final.prefix(3000))")
        #expect(watch.stdout.contains("16 of 16 finished task(s)"), "\(watch.stdout)")
    }
}
