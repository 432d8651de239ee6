import Foundation
import Leasing
import Results

/// The coordinator's live snapshot files in the results directory: `status.json`
/// (``SweepStatus``, read by `grainsweep report --watch` and by scripts) and `metrics.prom`
/// (the same figures in Prometheus' text format, for node_exporter's textfile collector).
///
/// Both are rewritten every ``SweepStatus/writeIntervalSeconds`` while the coordinator serves
/// and once when it stops, without fsync: they are snapshots, and the CSV files stay the record.
struct StatusFiles {
    let directory: String
    /// When this coordinator session started (status.json's `started_at`).
    let startedAt: String

    /// Writes both files; a failure is returned for the caller to log (serving goes on).
    func write(_ status: SweepStatus) -> ResultsError? {
        do {
            try status.write(directory: directory)
            try writeSnapshot(path: directory + "/metrics.prom", Array(Self.prometheusText(status).utf8))
            return nil
        } catch {
            return error
        }
    }

    /// The status in Prometheus' text exposition format (version 0.0.4).
    static func prometheusText(_ s: SweepStatus) -> String {
        let sweep = "sweep=\"\(escape(s.sweep))\""
        var lines: [String] = []
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: Double)]) {
            lines.append("# HELP \(name) \(help)")
            lines.append("# TYPE \(name) \(type)")
            for sample in samples { lines.append("\(name){\(sample.labels)} \(format(sample.value))") }
        }
        metric("grainsweep_tasks", "gauge", "Tasks of the sweep by state (planned is the plan's size).", [
            (sweep + ",state=\"planned\"", Double(s.total)), (sweep + ",state=\"done\"", Double(s.done)),
            (sweep + ",state=\"quarantined\"", Double(s.quarantined)), (sweep + ",state=\"running\"", Double(s.running)),
            (sweep + ",state=\"retrying\"", Double(s.retrying)),
        ])
        metric("grainsweep_tasks_per_minute", "gauge", "Finished tasks per minute over the last minute.",
               [(sweep, s.tasksPerMinute)])
        if let eta = s.etaSeconds {
            metric("grainsweep_eta_seconds", "gauge", "Time left at the current rate.", [(sweep, eta)])
        }
        metric("grainsweep_workers", "gauge", "Connected workers by host.",
               s.hosts.map { (sweep + ",host=\"\(escape($0.host))\"", Double($0.workers)) })
        metric("grainsweep_slots", "gauge", "Task slots of the connected workers by host.",
               s.hosts.map { (sweep + ",host=\"\(escape($0.host))\"", Double($0.slots)) })
        metric("grainsweep_running", "gauge", "Tasks running by host.",
               s.hosts.map { (sweep + ",host=\"\(escape($0.host))\"", Double($0.running)) })
        metric("grainsweep_dropped_messages", "gauge", "Malformed, hostile or out-of-place messages dropped this session.",
               [(sweep, Double(s.droppedMessages))])
        metric("grainsweep_denied_connections", "gauge", "Connections refused by CURVE this session.",
               [(sweep, Double(s.deniedConnections))])
        metric("grainsweep_finished", "gauge", "1 once every task is done or quarantined.",
               [(sweep, s.state == .finished ? 1 : 0)])
        return lines.joined(separator: "\n") + "\n"
    }

    /// A label value with backslash, double quote and newline escaped.
    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    static func format(_ x: Double) -> String {
        x.isFinite ? (x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : String(x)) : "NaN"
    }
}
