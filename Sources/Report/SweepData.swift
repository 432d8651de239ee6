import Foundation
import Results

/// Why a report could not be made: the path concerned and what to do.
public struct ReportError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let message: String
    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }
    public var description: String { "\(path): \(message)" }
}

/// One finished task: a row of `results.csv`, read by column name.
public struct TaskRun: Sendable, Equatable {
    public var taskID: String
    public var attempt: String
    /// Parameter values as written (canonical text), `seed` excluded.
    public var parameters: [String: String]
    public var seed: String
    /// Final metrics that parse as numbers.
    public var metrics: [String: Double]
    public var host: String
    public var finishedAt: String
    public var wallSeconds: Double?
}

/// One streamed epoch: a row of `curves.csv`.
public struct CurveSample: Sendable, Equatable {
    public var taskID: String
    public var attempt: String
    public var phase: String
    public var epoch: Int
    public var metrics: [String: Double]
}

/// One quarantined task: a row of `failures.csv`.
public struct QuarantinedTask: Sendable, Equatable {
    public var taskID: String
    /// Parameter values as written, `seed` excluded (it is ``seed``).
    public var parameters: [String: String]
    /// The task's seed; empty for a file without the column.
    public var seed: String
    public var attempts: String
    public var hosts: String
    public var lastError: String
}

/// Everything a report shows, read from a results directory that may be partial (a sweep still
/// running) or empty.
public struct SweepData: Sendable {
    public var directory: String
    public var manifest: SweepManifest?
    public var specText: String?
    /// From the manifest, else from the `experiment` column; empty when neither is known.
    public var experiment: String
    /// Parameter columns of results.csv in file order (between `experiment` and `seed`), `seed` excluded.
    public var parameterNames: [String]
    /// Metric columns of results.csv in file order (between `seed` and `attempt`).
    public var metricNames: [String]
    /// Curve metric columns of curves.csv in file order.
    public var curveMetricNames: [String]
    public var runs: [TaskRun]
    public var curves: [CurveSample]
    public var failures: [QuarantinedTask]
    /// The coordinator's last `status.json`: nil for a directory of an older grainsweep, one no
    /// coordinator has served yet, or an unreadable file (then noted).
    public var status: SweepStatus?
    /// Things the reader skipped or repaired (torn lines, malformed rows), for the page.
    public var notes: [String]

    public init(
        directory: String, manifest: SweepManifest? = nil, specText: String? = nil, experiment: String,
        parameterNames: [String], metricNames: [String], curveMetricNames: [String] = [],
        runs: [TaskRun], curves: [CurveSample] = [], failures: [QuarantinedTask] = [], status: SweepStatus? = nil,
        notes: [String] = []
    ) {
        self.directory = directory
        self.manifest = manifest
        self.specText = specText
        self.experiment = experiment
        self.parameterNames = parameterNames
        self.metricNames = metricNames
        self.curveMetricNames = curveMetricNames
        self.runs = runs
        self.curves = curves
        self.failures = failures
        self.status = status
        self.notes = notes
    }

    /// Reads a results directory. Missing files count as empty; a torn last line (a sweep still
    /// being written) and rows with the wrong number of fields are dropped and noted.
    /// - Throws: ``ReportError`` when the directory does not exist or a file is unreadable.
    public static func load(directory: String) throws(ReportError) -> SweepData {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ReportError(path: directory, message: "not a directory; give the results directory of a sweep (the coordinator's --out)")
        }
        var notes: [String] = []
        var manifest: SweepManifest?
        if let data = FileManager.default.contents(atPath: directory + "/sweep.json") {
            manifest = try? JSONDecoder().decode(SweepManifest.self, from: data)
            if manifest == nil { notes.append("sweep.json is unreadable; provenance from it is missing.") }
        }
        let specText = FileManager.default.contents(atPath: directory + "/spec.yaml").map { String(decoding: $0, as: UTF8.self) }

        // results.csv
        let results = try readTable(directory + "/results.csv", notes: &notes)
        let columns = ResultColumns(header: results.header)
        var runs: [TaskRun] = []
        var seen: Set<String> = []
        var duplicates = 0
        for row in results.rows {
            let taskID = columns.value(row, "task_id")
            if !taskID.isEmpty, !seen.insert(taskID).inserted {
                duplicates += 1
                continue
            }
            var parameters: [String: String] = [:]
            for name in columns.parameters { parameters[name] = columns.value(row, name) }
            var metrics: [String: Double] = [:]
            for name in columns.metrics {
                if let x = Double(columns.value(row, name)) { metrics[name] = x }
            }
            runs.append(
                TaskRun(
                    taskID: taskID, attempt: columns.value(row, "attempt"), parameters: parameters,
                    seed: columns.value(row, "seed"), metrics: metrics, host: columns.value(row, "host"),
                    finishedAt: columns.value(row, "finished_at"), wallSeconds: Double(columns.value(row, "wall_seconds"))))
        }
        if duplicates > 0 { notes.append("results.csv: \(duplicates) duplicate row(s) of a task ignored (the first row of a task counts).") }

        // curves.csv: only rows of the attempt that produced a task's accepted result. The
        // coordinator drops rows of superseded attempts (a task retried after a failure) only when
        // it starts, so a finished sweep's file may still hold them; rows of tasks without a result
        // (running, or quarantined) are not drawn either.
        let curveTable = try readTable(directory + "/curves.csv", notes: &notes)
        let curveIndex = Dictionary(curveTable.header.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        let fixed: Set<String> = ["task_id", "attempt", "phase", "epoch"]
        let curveMetricNames = curveTable.header.filter { !fixed.contains($0) }
        let acceptedAttempt = Dictionary(runs.map { ($0.taskID, $0.attempt) }, uniquingKeysWith: { a, _ in a })
        var curves: [CurveSample] = []
        var unfinishedCurveRows = 0
        if let t = curveIndex["task_id"], let a = curveIndex["attempt"], let p = curveIndex["phase"], let e = curveIndex["epoch"] {
            for row in curveTable.rows {
                guard acceptedAttempt[row[t]] == row[a] else {
                    unfinishedCurveRows += 1
                    continue
                }
                guard let epoch = Int(row[e]) else { continue }
                var metrics: [String: Double] = [:]
                for name in curveMetricNames {
                    if let i = curveIndex[name], let x = Double(row[i]) { metrics[name] = x }
                }
                curves.append(CurveSample(taskID: row[t], attempt: row[a], phase: row[p], epoch: epoch, metrics: metrics))
            }
        }
        if unfinishedCurveRows > 0 {
            notes.append("curves.csv: \(unfinishedCurveRows) row(s) of tasks without a result or of superseded attempts not shown.")
        }

        // failures.csv
        let failureTable = try readTable(directory + "/failures.csv", notes: &notes)
        let failureColumns = ResultColumns(header: failureTable.header)
        let failures = failureTable.rows.map { row in
            var parameters: [String: String] = [:]
            for name in failureColumns.parameters { parameters[name] = failureColumns.value(row, name) }
            return QuarantinedTask(
                taskID: failureColumns.value(row, "task_id"), parameters: parameters, seed: failureColumns.value(row, "seed"),
                attempts: failureColumns.value(row, "attempts"), hosts: failureColumns.value(row, "hosts"),
                lastError: failureColumns.value(row, "last_error"))
        }

        // status.json: replaced atomically by the coordinator, so a parse failure is a damaged
        // file (or one of a later layout), not one caught mid-write.
        let status = SweepStatus.load(directory: directory)
        if status == nil, FileManager.default.fileExists(atPath: directory + "/" + SweepStatus.fileName) {
            notes.append("\(SweepStatus.fileName) is unreadable; the live status is not shown.")
        }

        var experiment = manifest?.experiment ?? ""
        if experiment.isEmpty, let first = results.rows.first { experiment = columns.value(first, "experiment") }
        return SweepData(
            directory: directory, manifest: manifest, specText: specText, experiment: experiment,
            parameterNames: columns.parameters, metricNames: columns.metrics, curveMetricNames: curveMetricNames,
            runs: runs, curves: curves, failures: failures, status: status, notes: notes)
    }

    /// Reads a CSV file of the directory, tolerating a sweep in progress: a last line without its
    /// newline is torn (rows are written whole, newline last) and dropped before parsing; rows with
    /// another field count than the header are dropped. A missing file is an empty table.
    static func readTable(_ path: String, notes: inout [String]) throws(ReportError) -> (header: [String], rows: [[String]]) {
        guard let data = FileManager.default.contents(atPath: path) else { return ([], []) }
        let name = (path as NSString).lastPathComponent
        var bytes = data[...]
        if let last = data.last, last != 10 {
            // Parse only up to the last newline: the torn fragment of a row being written (possibly
            // an unterminated quote) is not a row.
            let cut = data.lastIndex(of: 10).map { data[data.startIndex...$0] } ?? data[data.startIndex..<data.startIndex]
            notes.append("\(name): a torn last line (\(data.count - cut.count) bytes, a row being written) was ignored.")
            if cut.isEmpty { return ([], []) }
            bytes = cut
        }
        let table: (header: [String], rows: [[String]])
        do {
            table = try AppendOnlyCSV.parseRows(bytes, path: path)
        } catch {
            throw ReportError(path: path, message: error.message)
        }
        let rows = table.rows.filter { $0.count == table.header.count }
        if rows.count < table.rows.count {
            notes.append("\(name): \(table.rows.count - rows.count) row(s) with the wrong number of fields were ignored.")
        }
        return (table.header, rows)
    }
}

/// Where the parameter and metric columns of a results.csv (or failures.csv) header are, found by
/// name: parameters lie between `experiment` and `seed` (or the first bookkeeping column), metrics
/// between `seed` and `attempt`. Columns added elsewhere are ignored.
struct ResultColumns {
    let index: [String: Int]
    let parameters: [String]
    let metrics: [String]

    static let bookkeeping: Set<String> = [
        "task_id", "experiment", "seed", "attempt", "attempts", "host", "hosts", "threads", "wall_seconds",
        "finished_at", "last_error", "quarantined_at",
    ]

    init(header: [String]) {
        index = Dictionary(header.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        let start = (index["experiment"] ?? index["task_id"]).map { $0 + 1 } ?? 0
        let endOfParameters = index["seed"] ?? header.indices.first { $0 >= start && Self.bookkeeping.contains(header[$0]) } ?? header.count
        parameters = start < endOfParameters ? Array(header[start..<endOfParameters]) : []
        if let seed = index["seed"] {
            let end = index["attempt"] ?? header.indices.first { $0 > seed && Self.bookkeeping.contains(header[$0]) } ?? header.count
            metrics = seed + 1 < end ? Array(header[(seed + 1)..<end]) : []
        } else {
            metrics = []
        }
    }

    func value(_ row: [String], _ name: String) -> String {
        guard let i = index[name], i < row.count else { return "" }
        return row[i]
    }
}
