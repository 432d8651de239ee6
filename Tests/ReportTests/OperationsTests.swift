import Foundation
import Testing
@testable import Report

/// Busy time per host, throughput over time and wall times, from results.csv's bookkeeping
/// columns: the same for every experiment family.
@Suite struct OperationsTests {
    let provenance = ReportProvenance(version: "9.9.9")

    /// A sleep-family results.csv: one row per (host, wall seconds, seconds after 07:00:00).
    func sleepDirectory(_ rows: [(host: String, wall: Double, at: Int)]) throws -> String {
        let dir = temporaryDirectory()
        var csv = "task_id,experiment,sleep_ms,epochs,fail,seed,value,attempt,host,threads,wall_seconds,finished_at\n"
        for (i, row) in rows.enumerated() {
            let at = utcText(secondsAfter0700: row.at)
            csv += "\(String(format: "%016x", i + 1)),sleep,10,0,never,\(i),1.0,1,\(row.host),1,\(row.wall),\(at)\n"
        }
        try csv.write(toFile: dir + "/results.csv", atomically: true, encoding: .utf8)
        return dir
    }

    func utcText(secondsAfter0700 s: Int) -> String {
        let t = 1_796_194_800 + s  // 2026-12-02T07:00:00Z
        var time = time_t(t)
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec)
    }

    @Test func busyTimePerHost() throws {
        let dir = try sleepDirectory([("alpha", 1, 0), ("beta", 2, 1), ("alpha", 2, 2), ("alpha", 3, 3)])
        let data = try SweepData.load(directory: dir)
        #expect(Operations(data).hostLoads == [
            .init(host: "alpha", tasks: 3, busySeconds: 6, share: 0.75), .init(host: "beta", tasks: 1, busySeconds: 2, share: 0.25),
        ])
        let html = renderReport(data, provenance: provenance, generatedAt: "now").html
        #expect(html.contains("<tr><td>alpha</td><td class=\"num\">3</td><td class=\"num\">6 s</td><td class=\"num\">6.000</td><td class=\"num\">75.0%</td><td class=\"num\">2.000</td></tr>"))
        #expect(html.contains("<tr><td>beta</td><td class=\"num\">1</td><td class=\"num\">2 s</td><td class=\"num\">2.000</td><td class=\"num\">25.0%</td><td class=\"num\">2.000</td></tr>"))
        #expect(html.contains("<tr class=\"total\"><td>all</td><td class=\"num\">4</td><td class=\"num\">8 s</td>"))
    }

    @Test func throughputBinsByFinishTime() throws {
        // 100 s: bins of 2 s (100 / 1 = 100 bins would be too many).
        let dir = try sleepDirectory([("h", 1, 0), ("h", 1, 1), ("h", 1, 1), ("h", 1, 30), ("h", 1, 100)])
        let data = try SweepData.load(directory: dir)
        let t = try #require(Operations(data).throughput)
        #expect(t.binSeconds == 2 && t.span == 100 && t.unreadable == 0)
        #expect(t.counts.count == 51)
        #expect(t.counts[0] == 3 && t.counts[15] == 1 && t.counts[50] == 1 && t.counts.reduce(0, +) == 5)
        let html = renderReport(data, provenance: provenance, generatedAt: "now").html
        let svg = try #require(svgOfFigure("throughput", in: html))
        #expect(count("<rect class=\"bar\"", in: svg) == 51)
        #expect(svg.contains("<title>3 task(s) finished in the 2 s from 2026-12-02T07:00:00Z</title>"))
        #expect(svg.contains("finished tasks per 2 s") && svg.contains("seconds after the first finished task, 2026-12-02T07:00:00Z"))
        #expect(html.contains("On average 3.000 tasks/min"))
    }

    @Test func throughputOverHoursUsesWiderBins() throws {
        let dir = try sleepDirectory([("h", 1, 0), ("h", 1, 7200), ("h", 1, 7199)])
        let t = try #require(Operations(try SweepData.load(directory: dir)).throughput)
        #expect(t.binSeconds == 300 && t.counts.count == 25 && t.counts[23] == 1 && t.counts[24] == 1)
    }

    @Test func wallTimeDistribution() throws {
        let dir = try sleepDirectory((1...10).map { ("h", Double($0), $0) })
        let data = try SweepData.load(directory: dir)
        #expect(Operations(data).wallTimes == .init(count: 10, median: 5.5, p90: 9.1, max: 10))
        let html = renderReport(data, provenance: provenance, generatedAt: "now").html
        #expect(html.contains("<p id=\"wall-stats\">10 task(s): median 5.500 s, p90 9.100 s, max 10.00 s.</p>"))
        // Bins of 0.5 s (a round width near (10 − 1) / 20) from 1 to 10.
        let svg = try #require(svgOfFigure("wall_seconds_histogram", in: html))
        #expect(count("<rect class=\"bar\"", in: svg) == 19)
        #expect(svg.contains("<title>1 task(s) took 10.00–10.50 s</title>"))
    }

    @Test func equalWallTimesGiveOneBar() throws {
        let dir = try sleepDirectory([("h", 0.01, 0), ("h", 0.01, 1), ("h", 0.01, 2)])
        let html = renderReport(try SweepData.load(directory: dir), provenance: provenance, generatedAt: "now").html
        let svg = try #require(svgOfFigure("wall_seconds_histogram", in: html))
        #expect(count("<rect class=\"bar\"", in: svg) == 1)
        #expect(svg.contains("<title>3 task(s) took 0.010–0.011 s</title>"))
        #expect(!svg.contains(">-0."))  // no negative wall times on the axis
    }

    @Test func percentilesInterpolate() {
        #expect(percentile([1, 2, 3, 4], 0.5) == 2.5)
        #expect(percentile([7], 0.9) == 7)
        #expect(abs(percentile([0, 10], 0.9) - 9) < 1e-12)
    }

    @Test func timestamps() {
        #expect(parseUTCTimestamp("1970-01-01T00:01:00Z") == 60)
        #expect(parseUTCTimestamp("2026-12-02T07:00:00Z") == 1_796_194_800)
        #expect(parseUTCTimestamp("2026-12-02T07:00:00.25Z") == 1_796_194_800.25)
        #expect(parseUTCTimestamp("2026-12-02T07:00:00+00:00") == 1_796_194_800)
        #expect(parseUTCTimestamp("2026-12-02 07:00:00") == nil)
        #expect(parseUTCTimestamp("") == nil)
        #expect(parseUTCTimestamp("2026-13-02T07:00:00Z") == nil)
    }

    @Test func durations() {
        #expect(formatDuration(4.5) == "4.5 s")
        #expect(formatDuration(2) == "2 s")
        #expect(formatDuration(45) == "45 s")
        #expect(formatDuration(175) == "2 min 55 s")
        #expect(formatDuration(3 * 3600 + 7 * 60) == "3 h 07 min")
        #expect(formatDuration(2 * 86400 + 4 * 3600) == "2 d 04 h")
    }

    @Test func noRunsNoSection() throws {
        let html = renderReport(try SweepData.load(directory: temporaryDirectory()), provenance: provenance, generatedAt: "now").html
        #expect(!html.contains("Operations"))
    }
}
