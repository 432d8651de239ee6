import ExperimentAPI
import Foundation
import Testing
@testable import Results

/// `ResultsDirectory.compactCurves` streams curves.csv: these tests check it against the rule
/// (keep a row when its attempt produced the task's result or is running) and against the
/// whole-file filter it replaced, on files many chunks long.
@Suite struct CurveCompactionTests {
    let layout = CSVLayout(experiment: "sleep", parameterNames: ["sleep_ms", "seed"], resultMetricNames: ["value"], curveMetricNames: ["value"])
    let manifest = SweepManifest(name: "t", experiment: "sleep", baseDigest: "b", grainsweepVersion: "test", createdAt: "now")

    func task(_ i: Int) -> TaskID { TaskID(high: UInt64(i), low: UInt64(i) &* 0x9E37_79B9_7F4A_7C15) }

    /// A directory whose results.csv records `finished` (task index → attempt).
    func directory(finished: [Int: Int]) throws -> String {
        let dir = temporaryDirectory()
        let d = try ResultsDirectory(path: dir, layout: layout, manifest: manifest, specText: "")
        var p = ParameterSet()
        p["sleep_ms"] = .real(0)
        for (i, attempt) in finished.sorted(by: { $0.key < $1.key }) {
            p["seed"] = .integer(i)
            d.recordResult(taskID: task(i), parameters: p, metrics: ["1.5"], attempt: attempt, host: "h", threads: 1, wallSeconds: 0.5, finishedAt: "t")
        }
        try d.commit()
        return dir
    }

    /// The filter compaction used before it streamed: the whole file in memory.
    func wholeFileFilter(_ path: String, finished: [TaskID: Int], running: [TaskID: Int]) throws -> [[String]] {
        try AppendOnlyCSV.readRows(path: path).rows.filter { row in
            guard row.count == layout.curvesHeader.count, let id = TaskID(hex: row[0]), let attempt = Int(row[1]) else { return false }
            return finished[id] == attempt || running[id] == attempt
        }
    }

    @Test(arguments: [7, 64, 1000])
    func keepsTheAcceptedAndRunningAttemptsOfAFileManyChunksLong(chunkSize: Int) throws {
        // 0..<40 finished at attempt 1 + i % 3; 40..<50 never finished; 50..<55 running at attempt 2.
        var finishedAttempts: [Int: Int] = [:]
        for i in 0..<40 { finishedAttempts[i] = 1 + i % 3 }
        let dir = try directory(finished: finishedAttempts)
        let running = Dictionary(uniqueKeysWithValues: (50..<55).map { (task($0), 2) })
        var text = String(decoding: CSVField.line(layout.curvesHeader), as: UTF8.self)
        var expected = text
        var expectedDropped = 0
        for epoch in 1...6 {
            for i in 0..<55 {
                for attempt in 1...3 {
                    // Phases a reader must keep whole: a quoted comma, an escaped quote, a quoted newline.
                    let phase = ["plain", "\"pre,train\"", "\"say \"\"hi\"\"\"", "\"two\nlines\""][(i + epoch) % 4]
                    let line = "\(task(i)),\(attempt),\(phase),\(epoch),\(Double(epoch) / 8)\n"
                    text += line
                    if finishedAttempts[i] == attempt || (50..<55).contains(i) && attempt == 2 {
                        expected += line
                    } else {
                        expectedDropped += 1
                    }
                }
            }
        }
        // Malformed rows are dropped: too few fields, a bad task id, a bad attempt.
        text += "\(task(0)),1,plain\nnot-a-task,1,plain,1,0.5\n\(task(0)),x,plain,1,0.5\n"
        expectedDropped += 3
        #expect(text.utf8.count > 50 * chunkSize)
        try Data(text.utf8).write(to: URL(fileURLWithPath: dir + "/curves.csv"))

        let d = try ResultsDirectory(path: dir, layout: layout, manifest: manifest, specText: "")
        let reference = try wholeFileFilter(dir + "/curves.csv", finished: d.finished, running: running)
        try d.compactCurves(running: running, chunkSize: chunkSize)
        #expect(d.droppedCurveRows == expectedDropped)
        #expect(contents(dir + "/curves.csv") == expected)
        #expect(try d.curves.readRows() == reference)
        #expect(try d.curves.readRows().contains { $0[2] == "two\nlines" })
        // A second pass finds nothing more to drop; appends still work.
        try d.compactCurves(running: running, chunkSize: chunkSize)
        #expect(d.droppedCurveRows == expectedDropped)
        d.recordCurve(taskID: task(50), attempt: 2, phase: "plain", epoch: 7, metrics: ["0.25"])
        try d.commit()
        #expect(contents(dir + "/curves.csv") == expected + "\(task(50)),2,plain,7,0.25\n")
    }

    @Test func tornLastLineIsCutOnOpenThenCompacted() throws {
        let dir = try directory(finished: [0: 2])
        let header = String(decoding: CSVField.line(layout.curvesHeader), as: UTF8.self)
        let kept = "\(task(0)),2,sleep,1,0.5\n"
        let text = header + "\(task(0)),1,sleep,1,0.5\n" + kept + "\(task(0)),2,\"sleep,torn"
        try Data(text.utf8).write(to: URL(fileURLWithPath: dir + "/curves.csv"))
        let d = try ResultsDirectory(path: dir, layout: layout, manifest: manifest, specText: "")
        #expect(d.curves.repairedBytes == "\(task(0)),2,\"sleep,torn".utf8.count)
        try d.compactCurves(running: [:], chunkSize: 8)
        #expect(d.droppedCurveRows == 1)
        #expect(contents(dir + "/curves.csv") == header + kept)
    }

    @Test func emptyCurvesFile() throws {
        let dir = try directory(finished: [0: 1])
        try Data().write(to: URL(fileURLWithPath: dir + "/curves.csv"))
        let d = try ResultsDirectory(path: dir, layout: layout, manifest: manifest, specText: "")
        try d.compactCurves(running: [:], chunkSize: 4)
        #expect(d.droppedCurveRows == 0)
        #expect(contents(dir + "/curves.csv") == "task_id,attempt,phase,epoch,value\n")
        #expect(!FileManager.default.fileExists(atPath: dir + "/curves.csv.tmp"))
    }

    @Test func loadsFinishedAndQuarantinedTasksAcrossChunks() throws {
        var attempts: [Int: Int] = [:]
        for i in 0..<3000 { attempts[i] = 1 + i % 4 }
        let dir = try directory(finished: attempts)
        var failures = "task_id,experiment,sleep_ms,seed,attempts,hosts,last_error,quarantined_at\n"
        for i in 3000..<3010 { failures += "\(task(i)),sleep,0.0,\(i),3,h1;h2,\"boom, with a comma\",t\n" }
        try Data(failures.utf8).write(to: URL(fileURLWithPath: dir + "/failures.csv"))
        let d = try ResultsDirectory(path: dir, layout: layout, manifest: manifest, specText: "")
        #expect(d.finished == Dictionary(uniqueKeysWithValues: attempts.map { (task($0.key), $0.value) }))
        #expect(d.quarantined == Set((3000..<3010).map(task)))
        #expect(d.duplicateRowsOnOpen == 0)
    }
}

/// Peak memory of a compaction of ~300,000 curve rows must not follow the file's size.
///
/// The peak is the kernel's VmHWM, reset to the current RSS just before compacting (writing `5` to
/// /proc/self/clear_refs, Linux 4.0+); the whole-file version it replaced grew by ~400 bytes a row
/// (~120 MB here), the streaming one by a few chunks. Other suites of this process run in parallel
/// but allocate little.
@Suite(.serialized) struct CurveCompactionMemoryTests {
    static func status(_ key: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(key + ":") {
            return line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) }.map { $0 * 1024 }
        }
        return nil
    }

    static var canResetPeak: Bool {
        FileManager.default.isWritableFile(atPath: "/proc/self/clear_refs") && status("VmHWM") != nil
    }

    @Test(.enabled(if: canResetPeak, "needs Linux's /proc/self/status and clear_refs"))
    func peakMemoryDoesNotGrowWithCurveRows() throws {
        let layout = CSVLayout(experiment: "sleep", parameterNames: ["sleep_ms", "seed"], resultMetricNames: ["value"], curveMetricNames: ["value"])
        let manifest = SweepManifest(name: "t", experiment: "sleep", baseDigest: "b", grainsweepVersion: "test", createdAt: "now")
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tasks = 2000
        do {
            let d = try ResultsDirectory(path: dir, layout: layout, manifest: manifest, specText: "")
            var p = ParameterSet()
            p["sleep_ms"] = .real(0)
            for i in 0..<tasks {
                let id = TaskID(high: UInt64(i), low: 42)
                p["seed"] = .integer(i)
                // A lost first attempt of 50 epochs, then the accepted second one of 100.
                for epoch in 1...50 { d.recordCurve(taskID: id, attempt: 1, phase: "sleep", epoch: epoch, metrics: [CSVField.number(Double(epoch) / 3)]) }
                for epoch in 1...100 { d.recordCurve(taskID: id, attempt: 2, phase: "sleep", epoch: epoch, metrics: [CSVField.number(Double(epoch) / 3)]) }
                d.recordResult(taskID: id, parameters: p, metrics: ["0.5"], attempt: 2, host: "h", threads: 1, wallSeconds: 0.5, finishedAt: "t")
                if i % 100 == 99 { try d.commit() }
            }
            try d.commit()
        }
        let size = try #require(FileManager.default.attributesOfItem(atPath: dir + "/curves.csv")[.size] as? Int)
        #expect(size > 15_000_000)

        // Peak RSS is the whole test process's, and other suites run in parallel and allocate
        // (training tasks): their noise only adds. So the compaction is measured up to three
        // times on the same file, and its growth is the smallest seen.
        let original = dir + "/curves.original.csv"
        try FileManager.default.copyItem(atPath: dir + "/curves.csv", toPath: original)
        var growths: [Int] = []
        for _ in 0..<3 {
            _ = try? FileManager.default.removeItem(atPath: dir + "/curves.csv")
            try FileManager.default.copyItem(atPath: original, toPath: dir + "/curves.csv")
            let d = try ResultsDirectory(path: dir, layout: layout, manifest: manifest, specText: "")
            let before = try #require(Self.status("VmRSS"))
            try "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
            try d.compactCurves()
            let peak = try #require(Self.status("VmHWM"))
            #expect(d.droppedCurveRows == tasks * 50)
            growths.append(peak - before)
            if peak - before < size / 3 { break }
        }
        let growth = growths.min()!
        #expect(growth < size / 3, "peak RSS grew by \(growths) bytes compacting a curves.csv of \(size) bytes")
        print("compacted \(tasks * 150) curve rows (\(size) bytes): peak RSS +\(growth) bytes (trials: \(growths))")
    }
}
