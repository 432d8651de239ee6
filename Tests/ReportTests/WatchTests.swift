import Foundation
import Results
import Synchronization
import Testing
@testable import Report

/// A sleep-family results directory that grows like a running sweep's.
struct GrowingSweep {
    let directory = temporaryDirectory("watch")

    init() throws {
        try "task_id,experiment,sleep_ms,epochs,fail,seed,value,attempt,host,threads,wall_seconds,finished_at\n"
            .write(toFile: directory + "/results.csv", atomically: true, encoding: .utf8)
    }

    /// Appends the rows of seeds `seeds` (one task each), as the coordinator appends them.
    func finish(_ seeds: Range<Int>) throws {
        let handle = try #require(FileHandle(forWritingAtPath: directory + "/results.csv"))
        defer { try? handle.close() }
        try handle.seekToEnd()
        for seed in seeds {
            let row = "\(String(format: "%016x", seed + 1)),sleep,10,0,never,\(seed),\(Double(seed)),1,node-\(seed % 2),1,0.5,2026-12-02T07:00:\(String(format: "%02d", seed))Z\n"
            try handle.write(contentsOf: Data(row.utf8))
        }
    }

    func status(_ state: SweepStatus.State, done: Int, running: Int) throws {
        try sweepStatus(state, total: 8, done: done, quarantined: 0, running: running, retrying: 0, updatedAt: utcTimestamp())
            .write(directory: directory)
    }

    var page: String { (try? String(contentsOfFile: directory + "/report.html", encoding: .utf8)) ?? "" }
}

/// Polls `condition` every 20 ms for up to `seconds`; whether it came true.
func eventually(within seconds: Double = 10, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(20_000)
    }
    return condition()
}

/// A watch running on its own thread (it blocks), stopped through a flag.
final class BackgroundWatch: Sendable {
    let stop = Atomic<Bool>(false)
    let pages = Atomic<Int>(0)
    private let outcome = Mutex<Result<(end: WatchEnd, report: WrittenReport), ReportError>?>(nil)

    init(_ watch: ReportWatch) {
        Thread.detachNewThread { [self] in
            let result = Result { () throws(ReportError) in
                try watch.run(shouldStop: { self.stop.load(ordering: .acquiring) }, onPage: { _ in self.pages.add(1, ordering: .relaxed) })
            }
            outcome.withLock { $0 = result }
        }
    }

    /// The watch's outcome, once it has ended (waits up to `seconds`).
    func result(within seconds: Double = 10) -> Result<(end: WatchEnd, report: WrittenReport), ReportError>? {
        _ = eventually(within: seconds) { outcome.withLock { $0 != nil } }
        return outcome.withLock { $0 }
    }
}

@Suite struct WatchTests {
    let provenance = ReportProvenance(version: "9.9.9")

    @Test func endsWhenTheSweepFinished() throws {
        let sweep = try GrowingSweep()
        try sweep.finish(0..<8)
        try sweep.status(.finished, done: 8, running: 0)
        let started = Date()
        let (end, report) = try ReportWatch(directory: sweep.directory, intervalSeconds: 0.05, provenance: provenance, startGraceSeconds: 0.3)
            .run(shouldStop: { false })
        // A finished status found at the start is trusted after the grace.
        #expect(Date().timeIntervalSince(started) >= 0.3)
        #expect(end == .finished)
        #expect(report.finishedText == "8 of 8 finished task(s)")
        #expect(!sweep.page.contains("http-equiv") && sweep.page.contains("Final page: the sweep finished"))
    }

    @Test func endsWhenTheCoordinatorStopped() throws {
        let sweep = try GrowingSweep()
        try sweep.finish(0..<3)
        try sweep.status(.stopped, done: 3, running: 0)
        let (end, _) = try ReportWatch(directory: sweep.directory, intervalSeconds: 0.05, provenance: provenance, startGraceSeconds: 0)
            .run(shouldStop: { false })
        #expect(end == .stopped)
        #expect(!sweep.page.contains("http-equiv") && sweep.page.contains("the coordinator stopped the sweep"))
    }

    /// `run … & report --watch` on a stopped sweep: the old status says stopped until the new
    /// coordinator rewrites it. The watch waits out the grace and then follows the new session.
    @Test func aResumedSweepIsFollowed() throws {
        let sweep = try GrowingSweep()
        try sweep.finish(0..<3)
        try sweep.status(.stopped, done: 3, running: 0)
        let watch = BackgroundWatch(
            ReportWatch(directory: sweep.directory, intervalSeconds: 0.05, provenance: provenance, startGraceSeconds: 1))
        defer { watch.stop.store(true, ordering: .releasing) }
        #expect(eventually { watch.pages.load(ordering: .relaxed) >= 2 })
        try sweep.status(.running, done: 3, running: 2)  // the new coordinator
        usleep(1_300_000)
        #expect(watch.result(within: 0) == nil)
        #expect(sweep.page.contains("http-equiv=\"refresh\"") && text(ofID: "status-state", in: sweep.page) == "running")
        try sweep.finish(3..<8)
        try sweep.status(.finished, done: 8, running: 0)
        let (end, _) = try #require(watch.result()).get()
        #expect(end == .finished)
    }

    /// No status.json: the coordinator may not have started. The watch goes on until stopped.
    @Test func withoutStatusItKeepsWatchingUntilStopped() throws {
        let sweep = try GrowingSweep()
        let watch = BackgroundWatch(ReportWatch(directory: sweep.directory, intervalSeconds: 0.05, provenance: provenance))
        #expect(eventually { watch.pages.load(ordering: .relaxed) >= 3 })
        #expect(sweep.page.contains("<meta http-equiv=\"refresh\" content=\"1\">") && sweep.page.contains("No status.json in the directory yet"))
        #expect(watch.result(within: 0) == nil)  // still watching
        watch.stop.store(true, ordering: .releasing)
        let (end, report) = try #require(watch.result()).get()
        #expect(end == .interrupted && report.taskCount == 0)
        #expect(!sweep.page.contains("http-equiv") && sweep.page.contains("was stopped (SIGINT/SIGTERM)"))
    }

    @Test func aMissingDirectoryFailsAtOnce() {
        #expect(throws: ReportError.self) {
            try ReportWatch(directory: "/nonexistent/grainsweep-watch", intervalSeconds: 0.05, provenance: provenance).run(shouldStop: { false })
        }
    }

    @Test func refreshIsTheIntervalInWholeSeconds() {
        #expect(ReportWatch(directory: ".", intervalSeconds: 5, provenance: provenance).refreshSeconds == 5)
        #expect(ReportWatch(directory: ".", intervalSeconds: 0.3, provenance: provenance).refreshSeconds == 1)
        #expect(ReportWatch(directory: ".", intervalSeconds: 2.5, provenance: provenance).refreshSeconds == 3)
    }
}

// MARK: - A real browser and the real command

/// Debian's chromium, when installed.
let chromiumPath: String? = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

/// The grainsweep executable SwiftPM built beside this test bundle, when there is one.
let grainsweepExecutable: String? = {
    for candidate in [Bundle.main.bundleURL, URL(fileURLWithPath: CommandLine.arguments[0])] {
        var dir = candidate
        for _ in 0..<4 {
            dir = dir.deletingLastPathComponent()
            let path = dir.appendingPathComponent("grainsweep").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
    }
    return nil
}()

/// A child process with its output in files (no pipes to fill up).
struct Child {
    let process = Process()
    let output: String

    init(_ executable: String, _ arguments: [String], scratch: String) throws {
        output = scratch + "/child-\(UUID().uuidString.prefix(8))"
        _ = FileManager.default.createFile(atPath: output + ".out", contents: nil)
        _ = FileManager.default.createFile(atPath: output + ".err", contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output + ".out"))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: output + ".err"))
        try process.run()
    }

    /// Waits up to `seconds` for the exit (then kills the child); its status, nil on a timeout.
    func exit(within seconds: Double) -> Int32? {
        guard eventually(within: seconds, { !process.isRunning }) else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    var stdout: String { (try? String(contentsOfFile: output + ".out", encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: output + ".err", encoding: .utf8)) ?? "" }
}

/// Runs `body` while status.json is rewritten with a fresh time every 0.5 s, as a serving
/// coordinator rewrites it every 2 s: a browser that takes long to start (a loaded machine) must
/// not see the page call the coordinator gone.
func withFreshStatus<R>(_ sweep: GrowingSweep, _ state: SweepStatus.State, done: Int, running: Int, _ body: () throws -> R) rethrows -> R {
    let stop = Atomic<Bool>(false)
    let finished = DispatchSemaphore(value: 0)
    let directory = sweep.directory
    Thread.detachNewThread {
        while !stop.load(ordering: .acquiring) {
            try? sweepStatus(state, total: 8, done: done, quarantined: 0, running: running, retrying: 0, updatedAt: utcTimestamp())
                .write(directory: directory)
            usleep(500_000)
        }
        finished.signal()
    }
    defer {
        stop.store(true, ordering: .releasing)
        finished.wait()
    }
    return try body()
}

/// The DOM chromium builds from a page (`--dump-dom`): what a reader's browser shows.
func renderedDOM(_ page: String, scratch: String) throws -> String {
    let browser = try Child(
        chromiumPath!,
        ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=\(scratch)/chromium-profile",
         "--virtual-time-budget=500", "--dump-dom", URL(fileURLWithPath: page).absoluteString],
        scratch: scratch)
    let status = browser.exit(within: 30)
    #expect(status == 0, "chromium: \(browser.stderr.suffix(2000))")
    return browser.stdout
}

@Suite(.serialized) struct LiveViewTests {
    let provenance = ReportProvenance(version: "9.9.9")

    /// A running sweep's page as chromium renders it, before and after the sweep grows, and the
    /// final page once status.json says finished.
    @Test(.enabled(if: chromiumPath != nil, "needs Debian's chromium (/usr/bin/chromium); skipped without it"))
    func aBrowserSeesThePageFollowTheSweep() throws {
        let sweep = try GrowingSweep()
        try sweep.finish(0..<3)
        try sweep.status(.running, done: 3, running: 2)
        let watch = BackgroundWatch(ReportWatch(directory: sweep.directory, intervalSeconds: 0.3, provenance: provenance))
        defer { watch.stop.store(true, ordering: .releasing) }
        #expect(eventually { sweep.page.contains("3 of 8 finished task(s)") })

        var dom = try withFreshStatus(sweep, .running, done: 3, running: 2) {
            try renderedDOM(sweep.directory + "/report.html", scratch: sweep.directory)
        }
        #expect(dom.contains("<meta http-equiv=\"refresh\" content=\"1\">"))
        #expect(text(ofID: "status-state", in: dom) == "running")
        #expect(text(ofID: "status-done", in: dom) == "3" && text(ofID: "status-running", in: dom) == "2")
        #expect(text(ofID: "status-total", in: dom) == "8")
        #expect(dom.contains("3 of 8 finished task(s)"))
        #expect(!dom.contains("id=\"status-stale\""))

        // The sweep moves on: two more results, a new status.
        try sweep.finish(3..<5)
        try sweep.status(.running, done: 5, running: 1)
        #expect(eventually { sweep.page.contains("5 of 8 finished task(s)") })
        dom = try withFreshStatus(sweep, .running, done: 5, running: 1) {
            try renderedDOM(sweep.directory + "/report.html", scratch: sweep.directory)
        }
        #expect(text(ofID: "status-done", in: dom) == "5" && text(ofID: "status-running", in: dom) == "1")
        #expect(dom.contains("5 of 8 finished task(s)"))
        #expect(dom.contains("<meta http-equiv=\"refresh\" content=\"1\">"))

        // It finishes: the watch writes a final page without the refresh tag and ends.
        try sweep.finish(5..<8)
        try sweep.status(.finished, done: 8, running: 0)
        let (end, report) = try #require(watch.result()).get()
        #expect(end == .finished && report.finishedText == "8 of 8 finished task(s)")
        dom = try renderedDOM(sweep.directory + "/report.html", scratch: sweep.directory)
        #expect(!dom.contains("http-equiv"))
        #expect(text(ofID: "status-state", in: dom) == "finished" && text(ofID: "status-done", in: dom) == "8")
        #expect(dom.contains("Final page: the sweep finished"))
    }

    /// `grainsweep report` itself: "of N" on the command line, `--watch` ends on SIGTERM with exit
    /// 0 and a final page, and on its own once the sweep finished; a zero interval is refused.
    @Test(.enabled(if: grainsweepExecutable != nil, "needs the grainsweep executable built beside the tests"))
    func theCommand() throws {
        let exe = grainsweepExecutable!
        let sweep = try GrowingSweep()
        try sweep.finish(0..<3)
        try sweep.status(.running, done: 3, running: 2)

        let once = try Child(exe, ["report", sweep.directory], scratch: sweep.directory)
        #expect(once.exit(within: 20) == 0)
        #expect(once.stdout.contains("report.html: 3 of 8 finished task(s), 2 figure(s)"))
        #expect(!sweep.page.contains("http-equiv"))

        let watching = try Child(exe, ["report", sweep.directory, "--watch", "--interval", "0.2"], scratch: sweep.directory)
        #expect(eventually { sweep.page.contains("http-equiv=\"refresh\"") })
        kill(watching.process.processIdentifier, SIGTERM)
        #expect(watching.exit(within: 10) == 0)
        #expect(!sweep.page.contains("http-equiv") && sweep.page.contains("was stopped (SIGINT/SIGTERM)"))
        #expect(watching.stdout.contains("final page (watch interrupted)"))

        try sweep.finish(3..<8)
        try sweep.status(.finished, done: 8, running: 0)
        let finished = try Child(exe, ["report", sweep.directory, "--watch", "--interval", "0.2"], scratch: sweep.directory)
        #expect(finished.exit(within: 10) == 0)
        #expect(finished.stdout.contains("8 of 8 finished task(s), 2 figure(s); final page (the sweep finished)"))

        for bad in [["--watch", "--interval", "0"], ["--watch", "--interval", "-1"], ["--interval", "5"]] {
            let refused = try Child(exe, ["report", sweep.directory] + bad, scratch: sweep.directory)
            let status = refused.exit(within: 10)
            #expect(status != 0 && status != nil, "\(bad)")
            #expect(refused.stderr.contains("--interval"), "\(bad): \(refused.stderr)")
        }
    }
}
