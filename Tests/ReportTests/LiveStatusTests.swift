import Foundation
import Results
import Testing
@testable import Report

/// The plan's size and the coordinator's live status, from status.json.
@Suite struct LiveStatusTests {
    let provenance = ReportProvenance(version: "9.9.9")

    func directory(status: SweepStatus?) throws -> String {
        let dir = try SyntheticSweep().write(to: temporaryDirectory())
        try status?.write(directory: dir)
        return dir
    }

    @Test func finishedOfPlannedWithStatus() throws {
        let dir = try directory(status: sweepStatus(total: 80))
        let written = try writeReport(directory: dir, provenance: provenance, generatedAt: "now", now: statusTime)
        #expect(written.finishedText == "36 of 80 finished task(s)")
        #expect(written.plannedTaskCount == 80)
        let html = try String(contentsOfFile: written.htmlPath, encoding: .utf8)
        #expect(html.contains("<p id=\"finished-count\">36 of 80 finished task(s) in 12 group(s)"))
    }

    @Test func finishedWithoutStatusAsBefore() throws {
        let dir = try directory(status: nil)
        let written = try writeReport(directory: dir, provenance: provenance, generatedAt: "now")
        #expect(written.finishedText == "36 finished task(s)")
        #expect(written.plannedTaskCount == nil)
        let html = try String(contentsOfFile: written.htmlPath, encoding: .utf8)
        #expect(html.contains("<p id=\"finished-count\">36 finished task(s) in 12 group(s)"))
        // A one-off report of an old directory: no status block, no refresh tag.
        #expect(!html.contains("live-status") && !html.contains("http-equiv"))
    }

    @Test func emptyDirectoryWithStatusSaysZeroOfTotal() throws {
        let dir = temporaryDirectory()
        try sweepStatus(total: 96, done: 0).write(directory: dir)
        let html = renderReport(try SweepData.load(directory: dir), provenance: provenance, generatedAt: "now", now: statusTime).html
        #expect(html.contains("No finished tasks yet (0 of 96)"))
    }

    @Test func statusBlockShowsTheCoordinatorsView() throws {
        let dir = try directory(status: sweepStatus())
        let html = renderReport(try SweepData.load(directory: dir), provenance: provenance, generatedAt: "now", now: statusTime).html
        #expect(text(ofID: "status-state", in: html) == "running")
        #expect(text(ofID: "status-done", in: html) == "45")
        #expect(text(ofID: "status-quarantined", in: html) == "1")
        #expect(text(ofID: "status-running", in: html) == "4")
        #expect(text(ofID: "status-retrying", in: html) == "2")
        #expect(text(ofID: "status-total", in: html) == "80")
        #expect(html.contains("of <span id=\"status-total\">80</span> (57.5%)</dd>"))
        #expect(text(ofID: "status-rate", in: html) == "12.00 tasks/min over the last minute; 30 finished in this session")
        #expect(text(ofID: "status-eta", in: html) == "2 min 55 s (around 2026-12-02T07:02:55Z)")
        #expect(text(ofID: "status-workers", in: html) == "3 connected, 6 slot(s) on 2 host(s)")
        #expect(text(ofID: "status-dropped", in: html) == "7 (malformed, hostile or stale); 1 connection(s) refused")
        // Hosts sorted by name.
        #expect(html.contains("<tr><td>node-a</td><td class=\"num\">2</td><td class=\"num\">4</td><td class=\"num\">3</td></tr>\n<tr><td>node-b</td>"))
        #expect(html.contains("<span class=\"done\" style=\"width:56.25%\"></span>"))
        #expect(!html.contains("status-stale"))
    }

    @Test func etaBeforeTheFirstResult() throws {
        let dir = try directory(status: sweepStatus(etaSeconds: nil))
        let html = renderReport(try SweepData.load(directory: dir), provenance: provenance, generatedAt: "now", now: statusTime).html
        #expect(text(ofID: "status-eta", in: html) == "unknown until this session&#39;s first result")
    }

    /// Stale: a running status older than 3 write intervals (6 s).
    @Test(arguments: [
        (SweepStatus.State.running, 5.0, false), (.running, 7, true), (.stopping, 60, true), (.finished, 3600, false), (.stopped, 3600, false),
    ])
    func coordinatorLooksGone(state: SweepStatus.State, age: Double, stale: Bool) throws {
        let dir = try directory(status: sweepStatus(state))
        let html = renderReport(
            try SweepData.load(directory: dir), provenance: provenance, generatedAt: "now", now: statusTime.addingTimeInterval(age)).html
        #expect(html.contains("id=\"status-stale\"") == stale)
        if stale {
            #expect(html.contains("The coordinator looks gone: status.json says \(state.rawValue) but is stale since 2026-12-02T07:00:00Z"))
        }
    }

    @Test func refreshTagOnlyOnLivePages() throws {
        let data = try SweepData.load(directory: try directory(status: sweepStatus()))
        let snapshot = renderReport(data, provenance: provenance, generatedAt: "now", now: statusTime).html
        #expect(!snapshot.contains("http-equiv=\"refresh\"") && !snapshot.contains("id=\"watch-note\""))
        let live = renderReport(data, provenance: provenance, generatedAt: "now", mode: .live(refreshSeconds: 5), now: statusTime).html
        #expect(live.contains("<meta http-equiv=\"refresh\" content=\"5\">"))
        #expect(live.contains("rewrites this page every 5 s"))
        let final = renderReport(data, provenance: provenance, generatedAt: "now", mode: .final(.finished), now: statusTime).html
        #expect(!final.contains("http-equiv"))
        #expect(text(ofID: "watch-note", in: final) == "Final page: the sweep finished, and ")
    }

    @Test func livePageWithoutStatusSaysSo() throws {
        let data = try SweepData.load(directory: try directory(status: nil))
        let live = renderReport(data, provenance: provenance, generatedAt: "now", mode: .live(refreshSeconds: 5)).html
        #expect(live.contains("id=\"status-missing\">No status.json in the directory yet"))
        #expect(live.contains("<meta http-equiv=\"refresh\" content=\"5\">"))
    }

    @Test func unreadableStatusIsNoted() throws {
        let dir = try directory(status: nil)
        try "{\"schema\": 1, \"state\": ".write(toFile: dir + "/status.json", atomically: true, encoding: .utf8)
        let data = try SweepData.load(directory: dir)
        #expect(data.status == nil)
        #expect(data.notes.contains("status.json is unreadable; the live status is not shown."))
    }
}
