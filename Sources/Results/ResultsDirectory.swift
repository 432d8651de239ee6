import ExperimentAPI
import Foundation

/// What identifies the sweep a results directory belongs to, stored as `sweep.json` beside the CSV
/// files when the directory is first used.
public struct SweepManifest: Codable, Sendable, Equatable {
    public var name: String
    public var experiment: String
    /// Digest of the experiment and the spec's base parameters (from the sweep model).
    public var baseDigest: String
    public var grainsweepVersion: String
    public var createdAt: String
    /// The experiment family's bits version (`ExperimentFamily.bitsVersion`; for `hierarchy` the
    /// training core's version) of the build that computed the directory's results. Manifests
    /// written before it was recorded read as 1.
    public var bitsVersion: Int
    public init(name: String, experiment: String, baseDigest: String, grainsweepVersion: String, createdAt: String,
                bitsVersion: Int = 1) {
        self.name = name
        self.experiment = experiment
        self.baseDigest = baseDigest
        self.grainsweepVersion = grainsweepVersion
        self.createdAt = createdAt
        self.bitsVersion = bitsVersion
    }

    private enum CodingKeys: String, CodingKey {
        case name, experiment, baseDigest, grainsweepVersion, createdAt, bitsVersion
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        experiment = try c.decode(String.self, forKey: .experiment)
        baseDigest = try c.decode(String.self, forKey: .baseDigest)
        grainsweepVersion = try c.decode(String.self, forKey: .grainsweepVersion)
        createdAt = try c.decode(String.self, forKey: .createdAt)
        bitsVersion = try c.decodeIfPresent(Int.self, forKey: .bitsVersion) ?? 1
    }
}

/// A sweep's output directory: `results.csv`, `curves.csv`, `failures.csv`, `sweep.json` and a
/// copy of the spec (`spec.yaml`).
///
/// `results.csv` is the durable record of what is done: the coordinator appends a row when it
/// accepts a result and commits (write + fdatasync) in groups; reopening the directory reads it
/// back, cuts a torn last line, and so knows which tasks never need to run again. No other journal
/// exists, so the record and the output cannot disagree.
public final class ResultsDirectory {
    public let path: String
    public let layout: CSVLayout
    public let results: AppendOnlyCSV
    public let curves: AppendOnlyCSV
    public let failures: AppendOnlyCSV
    /// One row per failure charged to a task (its own error, a time limit, a repeated loss), so
    /// that a restarted coordinator still counts them toward `--max-attempts`.
    public let charges: AppendOnlyCSV

    /// Tasks with a row in results.csv, and the attempt that produced it.
    public private(set) var finished: [TaskID: Int] = [:]
    /// Tasks with a row in failures.csv (quarantined).
    public private(set) var quarantined: Set<TaskID> = []
    /// Failures charged so far to tasks neither finished nor quarantined (from charges.csv).
    public private(set) var charged: [TaskID: Int] = [:]
    /// Duplicate rows found in results.csv when opening (only possible if the file was edited by
    /// hand or by an older version); the first row of a task wins.
    public private(set) var duplicateRowsOnOpen = 0
    /// Curve rows removed by ``compactCurves(running:)`` because their attempt did not produce the
    /// accepted result (or is not running), or because they were malformed.
    public private(set) var droppedCurveRows = 0

    public var resultsPath: String { path + "/results.csv" }
    public var curvesPath: String { path + "/curves.csv" }
    public var failuresPath: String { path + "/failures.csv" }
    public var chargesPath: String { path + "/charges.csv" }
    public var manifestPath: String { path + "/sweep.json" }

    /// Opens (creating if needed) the directory of a sweep.
    ///
    /// - Parameters:
    ///   - manifest: the sweep as it is now; if the directory holds another sweep (another name or
    ///     experiment) opening fails; a changed base digest or bits version is reported through
    ///     ``previousManifest`` for the caller to judge, and recorded only when the caller calls
    ///     ``replaceManifest(_:)``.
    ///   - specText: the spec's text, saved as `spec.yaml`.
    /// - Throws: ``ResultsError`` naming the file and what to do.
    public init(path: String, layout: CSVLayout, manifest: SweepManifest, specText: String) throws(ResultsError) {
        self.path = path
        self.layout = layout
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw ResultsError(path: path, message: "cannot create the results directory: \(error.localizedDescription)")
        }
        let manifestPath = path + "/sweep.json"
        if let data = FileManager.default.contents(atPath: manifestPath) {
            guard let old = try? JSONDecoder().decode(SweepManifest.self, from: data) else {
                throw ResultsError(path: manifestPath, message: "unreadable sweep manifest; this directory was not written by grainsweep")
            }
            guard old.experiment == manifest.experiment else {
                throw ResultsError(
                    path: manifestPath,
                    message: "holds results of experiment '\(old.experiment)', not '\(manifest.experiment)'; use a new --out directory")
            }
            previousManifest = old
        } else {
            previousManifest = nil
        }
        results = try AppendOnlyCSV(path: path + "/results.csv", header: layout.resultsHeader)
        curves = try AppendOnlyCSV(path: path + "/curves.csv", header: layout.curvesHeader)
        failures = try AppendOnlyCSV(path: path + "/failures.csv", header: layout.failuresHeader)
        charges = try AppendOnlyCSV(path: path + "/charges.csv", header: CSVLayout.chargesHeader)
        try AppendOnlyCSV.writeAtomically(path: path + "/spec.yaml", Array(specText.utf8))
        // A changed base digest or bits version is left for the caller to judge (and record).
        if previousManifest == nil
            || (previousManifest?.baseDigest == manifest.baseDigest && previousManifest?.bitsVersion == manifest.bitsVersion) {
            var kept = manifest
            if let old = previousManifest { kept.createdAt = old.createdAt }
            try replaceManifest(kept)
        }
        try loadFinished()
    }

    /// The manifest found in the directory when it was opened, if any.
    public let previousManifest: SweepManifest?

    /// Records a new manifest (after the caller accepted a changed base).
    public func replaceManifest(_ manifest: SweepManifest) throws(ResultsError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = (try? encoder.encode(manifest)) ?? Data()
        try AppendOnlyCSV.writeAtomically(path: manifestPath, Array(data))
    }

    /// Reads back which tasks are finished (results.csv) and quarantined (failures.csv), a chunk
    /// at a time: memory grows with the number of tasks, not with the files' bytes.
    private func loadFinished() throws(ResultsError) {
        let width = layout.resultsHeader.count
        let attemptColumn = width - CSVLayout.resultTrailer.count
        let resultsPath = resultsPath
        try results.forEachRow { (row: [String]) throws(ResultsError) in
            guard row.count == width, let id = TaskID(hex: row[0]) else {
                throw ResultsError(path: resultsPath, message: "malformed row for task '\(row.first ?? "")' (\(row.count) fields, expected \(width))")
            }
            let attempt = Int(row[attemptColumn]) ?? 1
            if finished[id] == nil { finished[id] = attempt } else { duplicateRowsOnOpen += 1 }
        }
        try failures.forEachRow { (row: [String]) throws(ResultsError) in
            if let id = row.first.flatMap(TaskID.init(hex:)) { quarantined.insert(id) }
        }
        try charges.forEachRow { (row: [String]) throws(ResultsError) in
            guard row.count == CSVLayout.chargesHeader.count, let id = TaskID(hex: row[0]), let delta = Int(row[2]),
                  finished[id] == nil, !quarantined.contains(id) else { return }
            charged[id, default: 0] += delta
        }
    }

    /// Drops quarantine and charge records so that those tasks run again with all their attempts
    /// (`--retry-failed`).
    public func clearQuarantine() throws(ResultsError) {
        guard !quarantined.isEmpty || !charged.isEmpty else { return }
        try failures.rewrite(keeping: [])
        try charges.rewrite(keeping: [])
        quarantined.removeAll()
        charged.removeAll()
    }

    /// Rewrites curves.csv keeping only rows of the attempt that produced each accepted result.
    /// Rows of attempts that are still running (`running`) are kept too; rows of tasks that are
    /// neither, and malformed rows, are dropped (counted in ``droppedCurveRows``).
    ///
    /// The coordinator calls this only when it starts, before it serves workers: until the next
    /// start, curves.csv may hold rows of superseded attempts, and readers must keep only the rows
    /// whose `attempt` is the one results.csv records for their task.
    ///
    /// - Complexity: one streaming pass (``AppendOnlyCSV/removeRows(chunkSize:where:)``): memory is
    ///   O(1 MiB + ``finished`` + `running`), whatever the number of curve rows.
    public func compactCurves(running: [TaskID: Int] = [:]) throws(ResultsError) {
        try compactCurves(running: running, chunkSize: AppendOnlyCSV.defaultChunkSize)
    }

    /// ``compactCurves(running:)`` reading and writing `chunkSize` bytes at a time (tests use small chunks).
    func compactCurves(running: [TaskID: Int], chunkSize: Int) throws(ResultsError) {
        let width = layout.curvesHeader.count
        let finished = finished
        droppedCurveRows += try curves.removeRows(chunkSize: chunkSize) { row in
            guard row.count == width, let id = TaskID(hex: row[0]), let attempt = Int(row[1]) else { return true }
            return finished[id] != attempt && running[id] != attempt
        }
    }

    /// Appends a result row; the task counts as finished from now on (durable at the next commit).
    public func recordResult(
        taskID: TaskID, parameters: ParameterSet, metrics: [String], attempt: Int, host: String,
        threads: Int, wallSeconds: Double, finishedAt: String
    ) {
        var row: [String] = [taskID.description, layout.experiment]
        row.reserveCapacity(layout.resultsHeader.count)
        for name in layout.parameterNames { row.append(parameters[name]?.canonicalText ?? "") }
        row.append(contentsOf: metrics)
        row.append(contentsOf: [String(attempt), host, String(threads), CSVField.number(wallSeconds), finishedAt])
        results.append(row)
        finished[taskID] = attempt
    }

    /// Appends one curve row of a running attempt.
    public func recordCurve(taskID: TaskID, attempt: Int, phase: String, epoch: Int, metrics: [String]) {
        curves.append([taskID.description, String(attempt), phase, String(epoch)] + metrics)
    }

    /// Appends a charge row: a failure of the task's own, counted toward its attempts (`delta`
    /// 1), or a refund of one (`delta` -1).
    public func recordCharge(taskID: TaskID, attempt: Int, delta: Int, host: String, reason: String, at: String) {
        charges.append([taskID.description, String(attempt), String(delta), host, reason, at])
        charged[taskID, default: 0] += delta
    }

    /// Appends a quarantine row.
    public func recordFailure(
        taskID: TaskID, parameters: ParameterSet, attempts: Int, hosts: [String], lastError: String, at: String
    ) {
        var row: [String] = [taskID.description, layout.experiment]
        for name in layout.parameterNames { row.append(parameters[name]?.canonicalText ?? "") }
        row.append(contentsOf: [String(attempts), hosts.joined(separator: ";"), lastError, at])
        failures.append(row)
        quarantined.insert(taskID)
    }

    /// Commits all three files (group commit: one write and one fdatasync each, if they have rows).
    public func commit() throws(ResultsError) {
        try curves.commit()
        try results.commit()
        try failures.commit()
        try charges.commit()
    }

    /// Bytes waiting to be committed.
    public var pendingBytes: Int { results.pendingBytes + curves.pendingBytes + failures.pendingBytes + charges.pendingBytes }
}

/// An ISO 8601 UTC timestamp with seconds, for `finished_at` and `quarantined_at`.
public func utcTimestamp(_ date: Date = Date()) -> String {
    var t = time_t(date.timeIntervalSince1970)
    var parts = tm()
    gmtime_r(&t, &parts)
    func two(_ x: Int32) -> String { x < 10 ? "0\(x)" : "\(x)" }
    return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
}
