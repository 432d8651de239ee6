import Foundation
import Results

#if canImport(Glibc)
import Glibc
#endif

/// How a sweep used its machines, from the bookkeeping columns of `results.csv` (`host`,
/// `wall_seconds`, `finished_at`), for any experiment family: busy time per host, finished tasks
/// per time bin, and the distribution of task wall times.
///
/// Wall time is what a worker measured around one task; busy time is its sum, in slot-seconds (a
/// host with 4 busy slots accrues 4 s per second). Tasks of earlier coordinator sessions count too.
struct Operations {
    /// One host's share of the work.
    struct HostLoad: Equatable {
        var host: String
        var tasks: Int
        /// Sum of `wall_seconds` of the host's tasks (tasks without a wall time add nothing).
        var busySeconds: Double
        /// `busySeconds` over the busy time of all hosts (0 when there is none).
        var share: Double
    }

    /// Order statistics of the tasks' wall times.
    struct WallTimes: Equatable {
        var count: Int
        var median: Double
        var p90: Double
        var max: Double
    }

    let runs: [TaskRun]

    init(_ data: SweepData) { runs = data.runs }

    /// Hosts by name, each with its tasks, busy time and share. Complexity: O(n log n).
    var hostLoads: [HostLoad] {
        var tasks: [String: Int] = [:]
        var busy: [String: Double] = [:]
        for run in runs {
            tasks[run.host, default: 0] += 1
            busy[run.host, default: 0] += run.wallSeconds.flatMap { $0.isFinite ? $0 : nil } ?? 0
        }
        let total = busy.values.sorted().reduce(0, +)
        return tasks.keys.sorted().map { host in
            HostLoad(host: host, tasks: tasks[host]!, busySeconds: busy[host]!, share: total > 0 ? busy[host]! / total : 0)
        }
    }

    /// Median, 90th percentile and maximum of the finite wall times; nil when there is none.
    var wallTimes: WallTimes? {
        let sorted = runs.compactMap(\.wallSeconds).filter(\.isFinite).sorted()
        guard let last = sorted.last else { return nil }
        return WallTimes(count: sorted.count, median: percentile(sorted, 0.5), p90: percentile(sorted, 0.9), max: last)
    }

    // MARK: Throughput over time

    /// Finished tasks per time bin: bins of a round width (1 s up to 1 day) chosen so that the
    /// span from the first to the last `finished_at` takes at most ``maximumBins`` of them.
    struct Throughput: Equatable {
        /// Seconds since 1970 of the first finished task: the start of bin 0.
        var start: Double
        /// Seconds from the first to the last finished task.
        var span: Double
        var binSeconds: Double
        var counts: [Int]
        /// Tasks whose `finished_at` could not be read (left out).
        var unreadable: Int
    }

    static let maximumBins = 60
    /// Round bin widths in seconds.
    static let binWidths: [Double] = [
        1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
    ]

    var throughput: Throughput? {
        var times: [Double] = []
        times.reserveCapacity(runs.count)
        var unreadable = 0
        for run in runs {
            if let t = parseUTCTimestamp(run.finishedAt) { times.append(t) } else { unreadable += 1 }
        }
        guard let start = times.min(), let end = times.max() else { return nil }
        let span = end - start
        let width = Self.binWidths.first { span / $0 < Double(Self.maximumBins) } ?? (span / Double(Self.maximumBins - 1)).rounded(.up)
        var counts = [Int](repeating: 0, count: Int((span / width).rounded(.down)) + 1)
        for t in times { counts[min(counts.count - 1, Int(((t - start) / width).rounded(.down)))] += 1 }
        return Throughput(start: start, span: span, binSeconds: width, counts: counts, unreadable: unreadable)
    }

    // MARK: Page

    /// The operations section: the host table, the throughput figure and the wall-time histogram.
    func section() -> (html: String, figures: [RenderedFigure]) {
        guard !runs.isEmpty else { return ("", []) }
        var h = "<h2>Operations</h2>\n<section id=\"operations\">\n"
        var figures: [RenderedFigure] = []
        h += "<h3>Busy time per host</h3>\n"
        h += "<p>Busy time is the sum of the wall times of a host's finished tasks (slot-seconds: a host running 4 tasks at once "
        h += "accrues 4 s per second), over every session of the sweep; time spent on failed attempts is not in it.</p>\n"
        h += "<table class=\"hosts-busy\" id=\"hosts-busy\">\n<thead><tr><th>host</th><th>tasks</th><th>busy time</th><th>busy s</th><th>share</th><th>mean wall s</th></tr></thead>\n<tbody>\n"
        let loads = hostLoads
        for load in loads {
            h += "<tr><td>\(escapeXML(load.host.isEmpty ? "(unknown)" : load.host))</td><td class=\"num\">\(load.tasks)</td>"
            h += "<td class=\"num\">\(formatDuration(load.busySeconds))</td><td class=\"num\">\(formatNumber(load.busySeconds))</td>"
            h += "<td class=\"num\">\(String(format: "%.1f%%", load.share * 100))</td>"
            h += "<td class=\"num\">\(load.tasks > 0 ? formatNumber(load.busySeconds / Double(load.tasks)) : "")</td></tr>\n"
        }
        let totalBusy = loads.map(\.busySeconds).reduce(0, +)
        h += "<tr class=\"total\"><td>all</td><td class=\"num\">\(runs.count)</td><td class=\"num\">\(formatDuration(totalBusy))</td>"
        h += "<td class=\"num\">\(formatNumber(totalBusy))</td><td class=\"num\">100.0%</td>"
        h += "<td class=\"num\">\(formatNumber(totalBusy / Double(runs.count)))</td></tr>\n</tbody>\n</table>\n"

        if let throughput, let figure = throughputFigure(throughput) {
            h += "<h3>Throughput over time</h3>\n"
            h += figureHTML(figure)
            figures.append(figure)
        }
        if let stats = wallTimes, let figure = wallTimeFigure(stats) {
            h += "<h3>Task wall times</h3>\n"
            h += "<p id=\"wall-stats\">\(stats.count) task(s): median \(formatNumber(stats.median)) s, "
            h += "p90 \(formatNumber(stats.p90)) s, max \(formatNumber(stats.max)) s.</p>\n"
            h += figureHTML(figure)
            figures.append(figure)
        }
        return (h + "</section>\n", figures)
    }

    private func throughputFigure(_ t: Throughput) -> RenderedFigure? {
        let total = t.counts.reduce(0, +)
        guard total > 0 else { return nil }
        // The x axis in a unit that keeps its numbers small.
        let span = t.binSeconds * Double(t.counts.count)
        let (unit, unitName): (Double, String) = span <= 180 ? (1, "seconds") : span <= 3 * 3600 ? (60, "minutes") : (3600, "hours")
        let width = t.binSeconds / unit
        let binText = formatDuration(t.binSeconds)
        let points = t.counts.enumerated().map { k, n in
            let from = utcTimestamp(Date(timeIntervalSince1970: t.start + Double(k) * t.binSeconds))
            return PlotPoint(x: (Double(k) + 0.5) * width, y: Double(n), tooltip: "\(n) task(s) finished in the \(binText) from \(from)")
        }
        let spec = FigureSpec(
            name: "throughput", title: "Finished tasks over time",
            x: AxisSpec(
                label: "\(unitName) after the first finished task, \(utcTimestamp(Date(timeIntervalSince1970: t.start)))",
                limits: 0...Double.greatestFiniteMagnitude, minimumSpan: width),
            y: AxisSpec(label: "finished tasks per \(binText)", integer: true, limits: 0...Double.greatestFiniteMagnitude),
            panels: [PlotPanel(title: nil, series: [PlotSeries(label: "finished", color: categoricalColors[0], barWidth: width, points: points)])],
            legendTitle: nil, legend: [], columns: 1, cellWidth: 560)
        var caption = "Tasks by the time they finished (finished_at, UTC) in bins of \(binText); "
            + "a gap is time when nothing finished (no worker, or a stopped coordinator)."
        if t.span > 0 {
            caption += " On average \(formatNumber(Double(total) / t.span * 60)) tasks/min from the first to the last finished task "
                + "(\(formatDuration(t.span))); at most \(t.counts.max()!) in one bin."
        }
        if t.unreadable > 0 { caption += " \(t.unreadable) task(s) without a readable finished_at are left out." }
        return RenderedFigure(name: spec.name, title: spec.title, caption: caption, svg: renderSVG(spec))
    }

    private func wallTimeFigure(_ stats: WallTimes) -> RenderedFigure? {
        let values = runs.compactMap(\.wallSeconds).filter(\.isFinite)
        guard let low = values.min(), let high = values.max() else { return nil }
        // About 20 bins of a round width, aligned to multiples of it.
        let width = high > low ? ResolvedAxis.niceStep((high - low) / 20) : ResolvedAxis.niceStep(max(abs(high) * 0.1, 1e-6))
        // Bin k holds [(first + k)·width, (first + k + 1)·width); the 1e-9 keeps a value that is a
        // multiple of the width (0.01 / 0.001 = 9.999…) in the bin it starts.
        func bin(_ v: Double) -> Double { (v / width + 1e-9).rounded(.down) }
        let first = bin(low)
        let binCount = Int(bin(high) - first) + 1
        var counts = [Int](repeating: 0, count: binCount)
        for v in values { counts[max(0, min(binCount - 1, Int(bin(v) - first)))] += 1 }
        let points = counts.enumerated().map { k, n in
            let from = (first + Double(k)) * width
            return PlotPoint(x: from + width / 2, y: Double(n), tooltip: "\(n) task(s) took \(formatNumber(from))–\(formatNumber(from + width)) s")
        }
        let spec = FigureSpec(
            name: "wall_seconds_histogram", title: "Distribution of task wall times",
            x: AxisSpec(label: "wall time of a task (seconds)", limits: 0...Double.greatestFiniteMagnitude, minimumSpan: width * 4),
            y: AxisSpec(label: "tasks", integer: true, limits: 0...Double.greatestFiniteMagnitude),
            panels: [PlotPanel(title: nil, series: [PlotSeries(label: "tasks", color: categoricalColors[2], barWidth: width, points: points)])],
            legendTitle: nil, legend: [], columns: 1, cellWidth: 560)
        let caption = "Histogram of the wall time each finished task took on its worker (bins of \(formatNumber(width)) s). "
            + "Median \(formatNumber(stats.median)) s, 90th percentile \(formatNumber(stats.p90)) s, maximum \(formatNumber(stats.max)) s "
            + "(percentiles interpolate linearly between order statistics, as numpy's default)."
        return RenderedFigure(name: spec.name, title: spec.title, caption: caption, svg: renderSVG(spec))
    }
}

/// The `p` quantile (0...1) of sorted values, interpolating linearly between the order
/// statistics around rank p·(n−1) (numpy's default, R's type 7). `sorted` must not be empty.
func percentile(_ sorted: [Double], _ p: Double) -> Double {
    precondition(!sorted.isEmpty, "percentile of no values")
    let rank = Double(sorted.count - 1) * min(max(p, 0), 1)
    let below = Int(rank.rounded(.down))
    guard below + 1 < sorted.count else { return sorted[below] }
    return sorted[below] + (rank - Double(below)) * (sorted[below + 1] - sorted[below])
}

/// A figure with its caption and a link to its SVG file, for the page.
func figureHTML(_ figure: RenderedFigure) -> String {
    "<figure id=\"\(escapeXML(figure.name))\">\n\(figure.svg)<figcaption>\(escapeXML(figure.caption)) "
        + "<a href=\"figures/\(escapeXML(figure.name)).svg\">SVG file</a></figcaption>\n</figure>\n"
}

/// A duration for people: `45 s`, `2 min 05 s`, `3 h 07 min`, `2 d 04 h`; fractions below 10 s
/// keep one decimal.
func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "unknown" }
    if seconds < 10 {
        return seconds == seconds.rounded() ? "\(Int(max(0, seconds))) s" : String(format: "%.1f s", max(0, seconds))
    }
    let s = Int(seconds.rounded())
    func two(_ x: Int) -> String { x < 10 ? "0\(x)" : "\(x)" }
    if s < 60 { return "\(s) s" }
    if s < 3600 { return "\(s / 60) min \(two(s % 60)) s" }
    if s < 86400 { return "\(s / 3600) h \(two(s % 3600 / 60)) min" }
    return "\(s / 86400) d \(two(s % 86400 / 3600)) h"
}

/// Seconds since 1970 of a UTC timestamp as grainsweep writes them (`2026-12-02T07:03:30Z`, also
/// with fractional seconds or a `+00:00` offset); nil for anything else.
func parseUTCTimestamp(_ text: String) -> Double? {
    let b = Array(text.utf8)
    guard b.count >= 20, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"), b[10] == UInt8(ascii: "T"),
          b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":") else { return nil }
    func number(_ range: Range<Int>) -> Int32? {
        var x: Int32 = 0
        for i in range {
            guard b[i] >= 48, b[i] <= 57 else { return nil }
            x = x * 10 + Int32(b[i] - 48)
        }
        return x
    }
    guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), let hour = number(11..<13),
          let minute = number(14..<16), let second = number(17..<19),
          (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
    var i = 19
    var fraction = 0.0
    if b[i] == UInt8(ascii: ".") {
        i += 1
        var scale = 0.1
        while i < b.count, b[i] >= 48, b[i] <= 57 {
            fraction += Double(b[i] - 48) * scale
            scale /= 10
            i += 1
        }
    }
    let zone = String(decoding: b[i...], as: UTF8.self)
    guard zone == "Z" || zone == "+00:00" else { return nil }
    var parts = tm()
    parts.tm_year = year - 1900
    parts.tm_mon = month - 1
    parts.tm_mday = day
    parts.tm_hour = hour
    parts.tm_min = minute
    parts.tm_sec = second
    return Double(timegm(&parts)) + fraction
}
