import Foundation
import Results

/// After how many seconds without a rewrite a `status.json` that says `running` (or `stopping`)
/// means its coordinator is gone (killed, or its host down): three of its write intervals, so that
/// one slow write or a loaded host does not raise the alarm.
let staleAfterSeconds = 3 * SweepStatus.writeIntervalSeconds

/// Seconds since `status.json` was written, when it still claims a live coordinator but is older
/// than ``staleAfterSeconds`` at `now`; nil when it is fresh, final, or its time is unreadable.
/// (The coordinator's and the reader's clocks are compared: on a shared file system across
/// hosts, clock skew counts as age.)
func staleness(of status: SweepStatus, at now: Date) -> Double? {
    guard status.state == .running || status.state == .stopping,
          let updated = parseUTCTimestamp(status.updatedAt) else { return nil }
    let age = now.timeIntervalSince1970 - updated
    return age > staleAfterSeconds ? age : nil
}

/// The block at the top of a page with a coordinator's status (state, progress, rate, ETA, workers
/// per host, dropped messages) and, for `report --watch`, whether the page is live. Empty for a
/// one-off report of a directory without `status.json`.
func liveStatusSection(_ status: SweepStatus?, mode: PageMode, now: Date) -> String {
    var note = ""
    switch mode {
    case .snapshot:
        break
    case .live(let seconds):
        note = "Live view: <code>grainsweep report --watch</code> rewrites this page every \(seconds) s and your browser reloads it."
    case .final(let end):
        switch end {
        case .finished: note = "Final page: the sweep finished, and <code>report --watch</code> stopped rewriting it."
        case .stopped: note = "Final page: the coordinator stopped the sweep before its end (run it again to resume); <code>report --watch</code> stopped rewriting this page."
        case .interrupted: note = "Final page: <code>report --watch</code> was stopped (SIGINT/SIGTERM); the sweep may still be running."
        }
    }
    guard let status else {
        guard mode != .snapshot else { return "" }
        var h = "<section class=\"live\" id=\"live-status\">\n<h2>Coordinator status</h2>\n<p class=\"watch-note\" id=\"watch-note\">\(note)</p>\n"
        h += "<p id=\"status-missing\">No status.json in the directory yet: no coordinator has served this sweep since it was started, "
        h += "or it was run by a grainsweep that does not write one. The page shows what the CSV files hold.</p>\n"
        return h + "</section>\n"
    }
    let stale = staleness(of: status, at: now)
    var h = "<section class=\"live state-\(status.state.rawValue)\(stale == nil ? "" : " stale")\" id=\"live-status\">\n<h2>Coordinator status</h2>\n"
    if !note.isEmpty { h += "<p class=\"watch-note\" id=\"watch-note\">\(note)</p>\n" }
    if let stale {
        h += "<p class=\"stale\" id=\"status-stale\">The coordinator looks gone: status.json says \(status.state.rawValue) but is stale since "
        h += "\(escapeXML(status.updatedAt)) (\(formatDuration(stale)) ago; a live coordinator rewrites it every "
        h += "\(String(format: "%g", SweepStatus.writeIntervalSeconds)) s). The numbers below are from then.</p>\n"
    }
    let total = max(status.total, 1)
    func percent(_ x: Int) -> String { String(format: "%.2f%%", Double(min(max(x, 0), total)) * 100 / Double(total)) }
    h += "<div class=\"progress\" title=\"\(status.done) done, \(status.quarantined) quarantined, \(status.running) running of \(status.total)\">"
    h += "<span class=\"done\" style=\"width:\(percent(status.done))\"></span>"
    h += "<span class=\"quarantined\" style=\"width:\(percent(status.quarantined))\"></span>"
    h += "<span class=\"running\" style=\"width:\(percent(status.running))\"></span></div>\n"
    h += "<dl class=\"live\">\n"
    h += "<dt>State</dt><dd id=\"status-state\">\(status.state.rawValue)</dd>\n"
    let settled = status.total > 0 ? String(format: " (%.1f%%)", Double(status.done + status.quarantined) * 100 / Double(status.total)) : ""
    h += "<dt>Progress</dt><dd id=\"status-progress\"><span id=\"status-done\">\(status.done)</span> done, "
    h += "<span id=\"status-quarantined\">\(status.quarantined)</span> quarantined, <span id=\"status-running\">\(status.running)</span> running, "
    h += "<span id=\"status-retrying\">\(status.retrying)</span> retrying, of <span id=\"status-total\">\(status.total)</span>\(settled)</dd>\n"
    h += "<dt>Throughput</dt><dd id=\"status-rate\">\(formatNumber(status.tasksPerMinute)) tasks/min over the last minute; "
    h += "\(status.ranThisSession) finished in this session</dd>\n"
    h += "<dt>ETA</dt><dd id=\"status-eta\">\(escapeXML(etaText(status)))</dd>\n"
    h += "<dt>Workers</dt><dd id=\"status-workers\">\(status.workers) connected, \(status.hosts.map(\.slots).reduce(0, +)) slot(s) on \(status.hosts.count) host(s)</dd>\n"
    h += "<dt>Dropped messages</dt><dd id=\"status-dropped\">\(status.droppedMessages) (malformed, hostile or stale); "
    h += "\(status.deniedConnections) connection(s) refused</dd>\n"
    h += "<dt>Coordinator</dt><dd id=\"status-coordinator\">sweep \(escapeXML(status.sweep)) (\(escapeXML(status.experiment))), pid \(status.pid), "
    h += "started \(escapeXML(status.startedAt)), status written \(escapeXML(status.updatedAt))</dd>\n"
    h += "</dl>\n"
    if !status.hosts.isEmpty {
        h += "<table class=\"status-hosts\" id=\"status-hosts\">\n<thead><tr><th>host</th><th>workers</th><th>slots</th><th>running</th></tr></thead>\n<tbody>\n"
        for host in status.hosts.sorted(by: { $0.host < $1.host }) {
            h += "<tr><td>\(escapeXML(host.host))</td><td class=\"num\">\(host.workers)</td><td class=\"num\">\(host.slots)</td>"
            h += "<td class=\"num\">\(host.running)</td></tr>\n"
        }
        h += "</tbody>\n</table>\n"
    }
    return h + "</section>\n"
}

/// The ETA line: the time left at the last minute's rate and the clock time it points to.
private func etaText(_ status: SweepStatus) -> String {
    switch status.state {
    case .finished: return "none: every task is finished or quarantined"
    case .stopped: return "none: the sweep is stopped (run it again to resume)"
    case .running, .stopping:
        guard let eta = status.etaSeconds, eta.isFinite, eta >= 0 else {
            return "unknown until this session's first result"
        }
        guard let updated = parseUTCTimestamp(status.updatedAt) else { return formatDuration(eta) }
        return "\(formatDuration(eta)) (around \(utcTimestamp(Date(timeIntervalSince1970: updated + eta))))"
    }
}
