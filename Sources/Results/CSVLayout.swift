import ExperimentAPI

/// The columns of a sweep's three CSV files, fixed by its experiment family so that every file
/// of a sweep has one stable column order from its first row to its last.
///
/// - `results.csv`: one row per finished task: `task_id, experiment`, every parameter (family
///   order, then `seed`), every final metric, then `attempt, host, threads, wall_seconds, finished_at`.
/// - `curves.csv`: one row per streamed epoch: `task_id, attempt, phase, epoch`, then the curve
///   metrics. Rows of attempts that did not produce the accepted result are removed only when the
///   coordinator starts (``ResultsDirectory/compactCurves(running:)``); until then a reader keeps
///   the rows whose `(task_id, attempt)` matches a row of results.csv.
/// - `failures.csv`: one row per quarantined task: `task_id, experiment`, every parameter, then
///   `attempts, hosts, last_error, quarantined_at`.
public struct CSVLayout: Sendable, Hashable {
    public let experiment: String
    public let parameterNames: [String]
    public let resultMetricNames: [String]
    public let curveMetricNames: [String]

    public init(experiment: String, parameterNames: [String], resultMetricNames: [String], curveMetricNames: [String]) {
        self.experiment = experiment
        self.parameterNames = parameterNames
        self.resultMetricNames = resultMetricNames
        self.curveMetricNames = curveMetricNames
    }

    /// The layout of a family's sweeps: its parameters then `seed`, its metrics.
    public init(family: any ExperimentFamily) {
        self.init(
            experiment: family.name, parameterNames: family.allParameters.map(\.name),
            resultMetricNames: family.resultMetricNames, curveMetricNames: family.curveMetricNames)
    }

    /// Bookkeeping columns after the metrics of `results.csv`.
    public static let resultTrailer = ["attempt", "host", "threads", "wall_seconds", "finished_at"]
    /// `charges.csv`: one row per failure charged to a task (`delta` 1) or refunded (`delta` -1,
    /// when a worker declared dead comes back); see ``ResultsDirectory/charges``.
    public static let chargesHeader = ["task_id", "attempt", "delta", "host", "reason", "at"]

    public var resultsHeader: [String] {
        ["task_id", "experiment"] + parameterNames + resultMetricNames + Self.resultTrailer
    }
    public var curvesHeader: [String] { ["task_id", "attempt", "phase", "epoch"] + curveMetricNames }
    public var failuresHeader: [String] {
        ["task_id", "experiment"] + parameterNames + ["attempts", "hosts", "last_error", "quarantined_at"]
    }
}

/// RFC 4180 field encoding: a field is quoted when it holds a comma, a quote or starts/ends with
/// a space; quotes are doubled. Line breaks never reach a field: free text (error messages, host
/// names) has them replaced by spaces first, so that one line is always one row and a torn last
/// line can be cut off at the last newline.
public enum CSVField {
    /// Appends `text` as one CSV field (without separator) to `out`.
    public static func append(_ text: String, to out: inout [UInt8]) {
        var needsQuotes = false
        for byte in text.utf8 where byte == UInt8(ascii: ",") || byte == UInt8(ascii: "\"") || byte == 10 || byte == 13 {
            needsQuotes = true
            break
        }
        if let first = text.utf8.first, first == UInt8(ascii: " ") { needsQuotes = true }
        if let last = text.utf8.last, last == UInt8(ascii: " ") { needsQuotes = true }
        if !needsQuotes {
            out.append(contentsOf: text.utf8)
            return
        }
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(byte); out.append(byte)
            case 10, 13: out.append(UInt8(ascii: " "))
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// One full line (fields joined by commas, ending in `\n`).
    public static func line(_ fields: [String]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(fields.count * 12)
        appendLine(fields, to: &out)
        return out
    }

    /// Appends one full line to `out`.
    public static func appendLine(_ fields: [String], to out: inout [UInt8]) {
        for (i, field) in fields.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            append(field, to: &out)
        }
        out.append(10)
    }

    /// The text of a metric value: shortest round-trip decimal (`Double.description`), so that
    /// a value read back is bit-identical to the value computed.
    public static func number(_ x: Double) -> String { x.description }
}
