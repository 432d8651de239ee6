import Foundation
import Testing

/// A program that misbehaves on request, for the command family's failure paths.
let faultyProgram = #"""
import json, os, sys, time
mode = sys.argv[1]
marker = sys.argv[2]          # in the argv, so that a test can find leftover processes
def result(**m):
    print(json.dumps({"result": m}), flush=True)
if mode == "ok":
    print(json.dumps({"epoch": 1, "value": 1.0}), flush=True)
    result(value=1.0)
elif mode == "crash":
    print("Traceback: something broke in the user's code", file=sys.stderr, flush=True)
    sys.exit(3)
elif mode == "hang":
    os.system("sleep 600 " + marker + " &")   # a grandchild in the same process group
    time.sleep(600)
elif mode == "garbage":
    print("loading data... \x1b[32mdone\x1b[0m", flush=True)
    print("{not json at all", flush=True)
    print("[1, 2, 3]", flush=True)
    sys.stdout.buffer.write(b"\xff\xfe binary\n")
    result(value=2.0)
elif mode == "huge":
    sys.stdout.write("x" * (3 << 20) + "\n")
    sys.stdout.write('{"result": {"value": ' + "9" * (2 << 20) + "}}\n")
    result(value=3.0)
elif mode == "noresult":
    print(json.dumps({"epoch": 1, "value": 1.0}), flush=True)
elif mode == "nanvalue":
    print('{"result": {"value": NaN}}', flush=True)
elif mode == "gpu":
    result(value=float(os.environ.get("CUDA_VISIBLE_DEVICES", "-1")))
"""#

/// A `command` spec over `modes` of the faulty program (one task each).
func faultySpec(name: String, program: String, marker: String, modes: [String], argv0: String = "python3") -> String {
    """
    name: \(name)
    experiment: command
    command:
      argv: [\(argv0), \(program), "{mode}", \(marker)]
      estimated_seconds: 0.5
    parameters:
      mode: {kind: choice, values: [ok, crash, hang, garbage, huge, noresult, nanvalue, gpu]}
    metrics:
      final: [value]
      curve: [value]
    axes:
      mode: [\(modes.joined(separator: ", "))]
    seeds: 1

    """
}

/// Pids of live processes whose command line contains `text`.
func processes(containing text: String) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap(Int32.init).filter { pid in
        guard pid != getpid(), let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), isAlive(pid) else { return false }
        return String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\0", with: " ").contains(text)
    }
}

func failureRows(_ out: String) throws -> [[String: String]] {
    let (header, rows) = try readCSV(out + "/failures.csv")
    return rows.map { Dictionary(uniqueKeysWithValues: zip(header, $0)) }
}

@Suite(.serialized) struct CommandFamilyTests {
    static var hasPython: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") }

    @Test(.enabled(if: hasPython, "needs /usr/bin/python3"))
    func misbehavingProgramsFailClearlyAndLoseNothing() throws {
        let dir = scratchDirectory("cmd-faults")
        let marker = "gsmarker\(UUID().uuidString.prefix(8))"
        write(faultyProgram, to: dir + "/faulty.py")
        write(faultySpec(name: "faults", program: dir + "/faulty.py", marker: marker,
                         modes: ["ok", "crash", "hang", "garbage", "huge", "noresult", "nanvalue"]), to: dir + "/s.yaml")
        let r = try grainsweep(["run", dir + "/s.yaml", "--out", dir + "/out", "--workers", "2", "--max-attempts", "1",
                                "--time-limit", "3s"] + fastTiming, in: dir, timeout: 90)
        #expect(r.status == 3, "quarantined tasks end the sweep with 3: \(r.err)")
        let done = Dictionary(try resultRows(dir + "/out").map { ($0["mode"]!, $0["value"]!) }, uniquingKeysWith: { a, _ in a })
        #expect(done["ok"] == "1.0" && done["garbage"] == "2.0" && done["huge"] == "3.0", "\(done)")
        #expect(done["nanvalue"] == "nan", "\(done)")
        let failed = Dictionary(try failureRows(dir + "/out").map { ($0["mode"]!, $0["last_error"]!) }, uniquingKeysWith: { a, _ in a })
        #expect(failed.keys.sorted() == ["crash", "hang", "noresult"], "\(failed)")
        #expect(failed["crash"]?.contains("exit status 3") == true && failed["crash"]?.contains("something broke in the user's code") == true, "\(failed)")
        #expect(failed["noresult"]?.contains("without a result line") == true, "\(failed)")
        #expect(failed["hang"]?.contains("time limit") == true, "\(failed)")
        // The hung program and the process it started were stopped with their group.
        #expect(eventually(timeout: 10) { processes(containing: marker).isEmpty }, "left running: \(processes(containing: marker))")
        // Curve rows of finished tasks: the ok task's one point (the noresult task's point may
        // stay until the next start compacts curves.csv: readers keep the accepted attempts').
        let finished = Set(try resultRows(dir + "/out").map { $0["task_id"]! })
        let curves = try readCSV(dir + "/out/curves.csv").rows.filter { finished.contains($0[0]) }
        #expect(curves.count == 1, "one curve point, from the ok task: \(curves)")
    }

    @Test(.enabled(if: hasPython, "needs /usr/bin/python3"))
    func aMissingProgramIsAClearFailure() throws {
        let dir = scratchDirectory("cmd-missing")
        write(faultySpec(name: "missing", program: "x.py", marker: "m", modes: ["ok"], argv0: "no-such-program-here"), to: dir + "/s.yaml")
        let r = try grainsweep(["run", dir + "/s.yaml", "--out", dir + "/out", "--workers", "1", "--max-attempts", "1"] + fastTiming, in: dir)
        #expect(r.status == 3, "\(r.err)")
        let failed = try failureRows(dir + "/out")
        #expect(failed.first?["last_error"]?.contains("cannot run no-such-program-here: No such file or directory") == true, "\(failed)")
    }

    @Test(.enabled(if: hasPython, "needs /usr/bin/python3"))
    func gpusAreSharedOutAmongSlots() throws {
        let dir = scratchDirectory("cmd-gpu")
        write(faultyProgram, to: dir + "/faulty.py")
        var spec = faultySpec(name: "gpu", program: dir + "/faulty.py", marker: "m", modes: ["gpu"])
        spec = spec.replacingOccurrences(of: "seeds: 1", with: "seeds: 8")
        write(spec, to: dir + "/s.yaml")
        let port = freePort()
        let c = try startCoordinator(dir + "/s.yaml", out: dir + "/out", port: port, in: dir, tag: "coord")
        let w = try startWorker(port: port, in: dir, tag: "w", extra: ["--slots", "2", "--gpus", "7,9"])
        #expect(c.wait(timeout: 60) == 0, "\(c.stderr)")
        w.wait(timeout: 10)
        let values = Set(try resultRows(dir + "/out").map { $0["value"]! })
        #expect(values.isSubset(of: ["7.0", "9.0"]) && !values.isEmpty, "\(values)")
        let tooFew = try grainsweep(["worker", "--connect", "tcp://127.0.0.1:1", "--slots", "3", "--gpus", "0,1"], in: dir)
        #expect(tooFew.status == 2 && tooFew.err.contains("2 GPU(s) for 3 slots"), "\(tooFew.err)")
    }

    /// The example of the README runs end to end, and resumes after kill -9 without running
    /// finished tasks again.
    @Test(.enabled(if: hasPython, "needs /usr/bin/python3"))
    func theExampleRunsAndResumesAfterKillNine() throws {
        let dir = scratchDirectory("cmd-example")
        let out = dir + "/out"
        let spec = packageRoot + "/sweeps/command-example.yaml"
        let run = try Child(["run", spec, "--out", out, "--workers", "2"] + fastTiming, in: dir, tag: "run", cwd: packageRoot)
        #expect(eventually(timeout: 60) { ((try? resultRows(out)) ?? []).count >= 6 })
        run.signal(SIGKILL)
        run.wait(timeout: 5)
        #expect(eventually(timeout: 10) { processes(containing: "examples/train.py").isEmpty }, "the programs outlived run")
        let before = try resultRows(out)
        let again = try Child(["run", spec, "--out", out, "--workers", "2"] + fastTiming, in: dir, tag: "run2", cwd: packageRoot)
        #expect(again.wait(timeout: 120) == 0, "\(again.stderr)")
        let after = try resultRows(out)
        #expect(after.count == 24 && Set(after.map { $0["task_id"]! }).count == 24)
        // The rows written before the kill are still the first rows, and were not run again.
        #expect(Array(after.prefix(before.count)) == before)
        #expect(again.stderr.contains("24/24 tasks done (\(24 - before.count) this run)"), "\(again.stderr)")
        let report = try grainsweep(["report", out], in: dir)
        #expect(report.status == 0, "\(report.err)")
    }
}
