import ExperimentAPI
import Foundation
import Results

/// Who made the report: the grainsweep build that runs `grainsweep report`.
public struct ReportProvenance: Sendable, Equatable {
    /// The grainsweep version (e.g. `0.3.0`).
    public var version: String
    /// The git commit the build came from, when known.
    public var commit: String?
    public init(version: String, commit: String? = nil) {
        self.version = version
        self.commit = commit
    }
}

/// A report in memory: the HTML page (figures inlined) and each figure on its own.
public struct RenderedReport: Sendable {
    public let html: String
    /// Every drawn figure: the science figures, then the operations figures.
    public let figures: [RenderedFigure]
    /// Figures left out because their metric is flat; the page has a sentence for each.
    public let omittedFigures: [OmittedFigure]
}

/// What kind of page to write: a one-off report, or a page of `report --watch`.
public enum PageMode: Sendable, Equatable {
    /// A report made once: no refresh tag.
    case snapshot
    /// A page of a running watch: `<meta http-equiv="refresh">` makes a browser reload it every
    /// `refreshSeconds`, and it says that it is live.
    case live(refreshSeconds: Int)
    /// The last page of a watch (no refresh tag), saying why the watch ended.
    case final(WatchEnd)
}

/// What ``writeReport(directory:output:provenance:generatedAt:mode:now:)`` wrote.
public struct WrittenReport: Sendable {
    public let htmlPath: String
    public let figurePaths: [String]
    /// Finished tasks the report covers.
    public let taskCount: Int
    /// Tasks in the plan, from `status.json`; nil without one (an older grainsweep's directory).
    public let plannedTaskCount: Int?
    /// The coordinator's status the page showed, if any.
    public let status: SweepStatus?

    /// "45 of 80 finished task(s)", or "45 finished task(s)" when the plan's size is unknown.
    public var finishedText: String { finishedTasksText(taskCount, of: plannedTaskCount) }
}

/// "45 of 80 finished task(s)", or "45 finished task(s)" without a plan size.
func finishedTasksText(_ finished: Int, of total: Int?) -> String {
    total.map { "\(finished) of \($0) finished task(s)" } ?? "\(finished) finished task(s)"
}

/// Reads a sweep's results directory and writes its report: one self-contained HTML page with
/// inline SVG figures, the table of replicate means with 95% t-intervals, operations (busy time
/// per host, throughput, wall times), the coordinator's live status when `status.json` exists,
/// and provenance; and each figure as `figures/<name>.svg` beside the page. Works on a partial
/// (still running) or empty directory. The same directory gives the same bytes, apart from the
/// generated-at line (and the live status's age, which depends on `now`).
///
/// Every file is replaced atomically (written beside it, then renamed), so a browser reloading
/// the page sees the old or the new one, never half of one.
///
/// - Parameters:
///   - directory: the sweep's results directory (holding `results.csv`).
///   - output: the HTML file to write; default `directory/report.html`.
///   - provenance: version and commit of the grainsweep build making the report.
///   - generatedAt: the time shown on the page's generated-at line.
///   - mode: a one-off page, or a live or final page of `report --watch`.
///   - now: the time against which `status.json`'s age is judged.
///   - figures: the figures the sweep's family declares, looked up by its name (none: generic
///     ones, each metric against each varying parameter).
/// - Returns: the paths written and what the page counted.
/// - Throws: ``ReportError`` when the directory can't be read or a file can't be written.
public func writeReport(
    directory: String, output: String? = nil, provenance: ReportProvenance, generatedAt: String = utcTimestamp(),
    mode: PageMode = .snapshot, now: Date = Date(), figures: FigureCatalog = { _ in [] }
) throws(ReportError) -> WrittenReport {
    let data = try SweepData.load(directory: directory)
    return try writeReport(data, output: output, provenance: provenance, generatedAt: generatedAt, mode: mode, now: now,
                           figures: figures(data.experiment))
}

/// Writes the report of loaded data; see ``writeReport(directory:output:provenance:generatedAt:mode:now:)``.
func writeReport(
    _ data: SweepData, output: String?, provenance: ReportProvenance, generatedAt: String, mode: PageMode, now: Date,
    figures: [FigureDeclaration] = []
) throws(ReportError) -> WrittenReport {
    let directory = data.directory
    let report = renderReport(data, provenance: provenance, generatedAt: generatedAt, mode: mode, now: now, figures: figures)
    let htmlPath = output ?? (directory + "/report.html")
    let base = (htmlPath as NSString).deletingLastPathComponent
    let figuresDirectory = (base.isEmpty ? "." : base) + "/figures"
    var figurePaths: [String] = []
    if !report.figures.isEmpty {
        do {
            try FileManager.default.createDirectory(atPath: figuresDirectory, withIntermediateDirectories: true)
        } catch {
            throw ReportError(path: figuresDirectory, message: "cannot create the figures directory: \(error.localizedDescription)")
        }
    }
    for figure in report.figures {
        let path = figuresDirectory + "/\(figure.name).svg"
        try writeAtomically("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + figure.svg, to: path)
        figurePaths.append(path)
    }
    // A figure drawn by an earlier report (of fewer tasks) and flat now must not linger beside the page.
    for omitted in report.omittedFigures {
        try? FileManager.default.removeItem(atPath: figuresDirectory + "/\(omitted.name).svg")
    }
    try writeAtomically(report.html, to: htmlPath)
    return WrittenReport(
        htmlPath: htmlPath, figurePaths: figurePaths, taskCount: data.runs.count, plannedTaskCount: data.status?.total,
        status: data.status)
}

/// Replaces `path` by `text` atomically: written to a temporary file beside it, then renamed over
/// it (`rename(2)` replaces in one step). No fsync: a report can always be made again.
func writeAtomically(_ text: String, to path: String) throws(ReportError) {
    let temporary = path + ".tmp-\(getpid())"
    do {
        try Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
    } catch {
        throw ReportError(path: path, message: "cannot write: \(error.localizedDescription)")
    }
    guard rename(temporary, path) == 0 else {
        let reason = String(cString: strerror(errno))
        try? FileManager.default.removeItem(atPath: temporary)
        throw ReportError(path: path, message: "cannot replace: \(reason)")
    }
}

/// Renders the report of loaded sweep data (no I/O).
/// - Parameters:
///   - data: the sweep, from ``SweepData/load(directory:)`` or built by hand.
///   - provenance: the grainsweep build making the report.
///   - generatedAt: the time for the page's generated-at line (the only varying line).
///   - mode: a one-off page (no refresh tag), or a live or final page of `report --watch`.
///   - now: the time against which `status.json`'s age is judged (a stale coordinator).
///   - figures: the figures the sweep's family declares (``FigureDeclaration``).
public func renderReport(
    _ data: SweepData, provenance: ReportProvenance, generatedAt: String, mode: PageMode = .snapshot, now: Date = Date(),
    figures: [FigureDeclaration] = []
) -> RenderedReport {
    // The figures the family declares; else its metrics against its varying parameters.
    let slots = data.runs.isEmpty ? []
        : !figures.isEmpty ? DeclaredFigures(data, figures).all()
        : GenericFigures(data).all()
    let operations = Operations(data).section()
    let title = "grainsweep report: " + (data.manifest?.name ?? ((data.directory as NSString).lastPathComponent))
    var refresh = ""
    if case .live(let seconds) = mode { refresh = "<meta http-equiv=\"refresh\" content=\"\(seconds)\">\n" }
    var h = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        \(refresh)<meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escapeXML(title))</title>
        <style>
        \(stylesheet)
        </style>
        </head>
        <body>
        <h1>\(escapeXML(title))</h1>
        <p class="generated">Generated at \(escapeXML(generatedAt))</p>

        """
    h += liveStatusSection(data.status, mode: mode, now: now)
    h += statusSection(data, hasScienceFigures: !slots.isEmpty)
    h += provenanceSection(data, provenance: provenance)
    var figures: [RenderedFigure] = []
    var omitted: [OmittedFigure] = []
    if !slots.isEmpty {
        h += "<h2>Figures</h2>\n"
        for slot in slots {
            switch slot {
            case .drawn(let figure):
                h += figureHTML(figure)
                figures.append(figure)
            case .omitted(let o):
                h += "<p class=\"flat-figure\" id=\"\(escapeXML(o.name))\">\(escapeXML(o.sentence))</p>\n"
                omitted.append(o)
            }
        }
    }
    h += tableSection(data)
    h += failuresSection(data)
    h += operations.html
    figures += operations.figures
    h += "<h2>Spec</h2>\n"
    if let spec = data.specText {
        h += "<pre class=\"spec\">\(escapeXML(spec))</pre>\n"
    } else {
        h += "<p>No spec.yaml in the directory.</p>\n"
    }
    h += "</body>\n</html>\n"
    return RenderedReport(html: h, figures: figures, omittedFigures: omitted)
}

private let stylesheet = """
    body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; font-size: 15px; line-height: 1.45; color: #1d1d1d; max-width: 1280px; margin: 24px auto; padding: 0 20px; }
    h1 { font-size: 24px; margin-bottom: 4px; } h2 { font-size: 19px; margin-top: 34px; border-bottom: 1px solid #ddd; padding-bottom: 3px; }
    p.generated { color: #666; margin-top: 0; font-size: 13px; }
    figure { margin: 18px 0 30px 0; } figure svg { max-width: 100%; height: auto; display: block; border: 1px solid #e5e5e5; }
    figcaption { color: #444; font-size: 13.5px; margin-top: 6px; max-width: 1000px; }
    table { border-collapse: collapse; font-size: 13.5px; margin: 8px 0; }
    th, td { border: 1px solid #d8d8d8; padding: 3px 8px; } th { background: #f1f1f1; text-align: left; }
    td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
    tbody tr:nth-child(even) { background: #fafafa; }
    dl.provenance { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; } dl.provenance dt { font-weight: bold; } dl.provenance dd { margin: 0; }
    pre.spec { background: #f6f6f6; border: 1px solid #ddd; padding: 10px; overflow-x: auto; font-size: 13px; }
    .note { color: #8a4b00; } .empty { font-size: 17px; font-weight: bold; }
    h3 { font-size: 16px; margin-top: 22px; } p.flat-figure { font-style: italic; color: #444; }
    tr.total td { font-weight: bold; }
    section.live { border: 1px solid #cfd8e3; background: #f5f8fb; padding: 4px 16px 10px 16px; margin-top: 16px; }
    section.live h2 { margin-top: 8px; } section.live.stale { border-color: #d55e00; background: #fff4ec; }
    p.stale { color: #a33b00; font-weight: bold; } p.watch-note { color: #555; font-size: 13.5px; }
    div.progress { display: flex; width: 100%; max-width: 640px; height: 14px; background: #e4e4e4; border-radius: 3px; overflow: hidden; margin: 6px 0; }
    div.progress span { display: block; height: 100%; } div.progress .done { background: #009E73; }
    div.progress .quarantined { background: #D55E00; } div.progress .running { background: #56B4E9; }
    dl.live { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; } dl.live dt { font-weight: bold; } dl.live dd { margin: 0; }
    """

private func statusSection(_ data: SweepData, hasScienceFigures: Bool) -> String {
    var h = "<h2>Status</h2>\n"
    let groups = data.replicateGroups()
    let finished = finishedTasksText(data.runs.count, of: data.status?.total)
    if data.runs.isEmpty {
        let planned = data.status.map { " (0 of \($0.total))" } ?? ""
        h += "<p class=\"empty\" id=\"finished-count\">No finished tasks yet\(planned): results.csv has no rows.</p>\n"
    } else {
        let sizes = groups.map(\.runs.count)
        let seeds = sizes.min() == sizes.max() ? "\(sizes[0])" : "\(sizes.min()!)–\(sizes.max()!)"
        h += "<p id=\"finished-count\">\(finished) in \(groups.count) group(s) of replicates (seeds per group: \(seeds)); "
        h += "\(data.failures.count) quarantined. A sweep still running shows what was finished when the report was made.</p>\n"
    }
    if !data.runs.isEmpty, !hasScienceFigures {
        h += "<p>Experiment <code>\(escapeXML(data.experiment))</code>: no parameter varies and no curve was recorded, so there is nothing to draw; the table shows its metrics.</p>\n"
    }
    for note in data.notes { h += "<p class=\"note\">\(escapeXML(note))</p>\n" }
    return h
}

private func provenanceSection(_ data: SweepData, provenance: ReportProvenance) -> String {
    var rows: [(String, String)] = []
    if let m = data.manifest {
        rows.append(("Sweep", m.name))
        rows.append(("Experiment", m.experiment))
        rows.append(("Created", m.createdAt))
        rows.append(("Base digest", m.baseDigest))
        rows.append(("Run by", "grainsweep " + m.grainsweepVersion))
    } else {
        rows.append(("Experiment", data.experiment.isEmpty ? "unknown (no sweep.json)" : data.experiment))
    }
    rows.append(("Directory", data.directory))
    rows.append(("Report by", "grainsweep \(provenance.version)" + (provenance.commit.map { ", commit \($0)" } ?? "")))
    var hostCounts: [String: Int] = [:]
    for run in data.runs { hostCounts[run.host, default: 0] += 1 }
    if !hostCounts.isEmpty {
        rows.append(("Hosts", hostCounts.keys.sorted().map { "\($0) (\(hostCounts[$0]!))" }.joined(separator: ", ")))
    }
    let times = data.runs.map(\.finishedAt).filter { !$0.isEmpty }.sorted()
    if let first = times.first, let last = times.last {
        rows.append(("Finished", first == last ? first : "\(first) to \(last)"))
    }
    var h = "<h2>Provenance</h2>\n<dl class=\"provenance\">\n"
    for (k, v) in rows { h += "<dt>\(escapeXML(k))</dt><dd>\(escapeXML(v))</dd>\n" }
    return h + "</dl>\n"
}

private func tableSection(_ data: SweepData) -> String {
    guard !data.runs.isEmpty else { return "" }
    let varying = data.varyingParameters
    let fixed = data.parameterNames.filter { !varying.contains($0) }
    let metrics = data.metricNames
    var h = "<h2>Results by group</h2>\n"
    h += "<p>Each row groups the replicates of one setting: runs identical in every parameter but <code>seed</code>. "
    h += "Cells show the mean over seeds ± the half-width of a 95% Student t-interval, mean ± t<sub>0.975, n−1</sub>·s/√n "
    h += "(s: sample standard deviation); a single seed shows the mean alone.</p>\n"
    if !fixed.isEmpty, let first = data.runs.first {
        h += "<p>The same in every run: " + fixed.map { "<code>\(escapeXML($0))</code> \(escapeXML(first.parameters[$0] ?? ""))" }.joined(separator: ", ") + ".</p>\n"
    }
    h += "<table class=\"results\">\n<thead><tr>"
    for name in varying { h += "<th>\(escapeXML(name))</th>" }
    h += "<th>n</th>"
    for name in metrics { h += "<th>\(escapeXML(name))</th>" }
    h += "<th>wall s</th></tr></thead>\n<tbody>\n"
    for group in data.replicateGroups() {
        h += "<tr>"
        for name in varying { h += "<td>\(escapeXML(group.parameters[name] ?? ""))</td>" }
        h += "<td class=\"num\">\(group.runs.count)</td>"
        for name in metrics + ["wall s"] {
            let s = name == "wall s" ? group.wallSeconds : group.summary(name)
            h += "<td class=\"num\">\(s.map { escapeXML(formatSummary($0)) } ?? "")</td>"
        }
        h += "</tr>\n"
    }
    return h + "</tbody>\n</table>\n"
}

private func failuresSection(_ data: SweepData) -> String {
    guard !data.failures.isEmpty else { return "" }
    var h = "<h2>Quarantined tasks</h2>\n<p>Tasks that failed every attempt; they have no result above.</p>\n"
    h += "<table class=\"failures\">\n<thead><tr><th>task</th><th>parameters</th><th>seed</th><th>attempts</th><th>hosts</th><th>last error</th></tr></thead>\n<tbody>\n"
    for f in data.failures {
        let parameters = f.parameters.keys.sorted().map { "\($0) \(f.parameters[$0]!)" }.joined(separator: ", ")
        h += "<tr><td><code>\(escapeXML(String(f.taskID.prefix(12))))</code></td><td>\(escapeXML(parameters))</td>"
        h += "<td class=\"num\">\(escapeXML(f.seed))</td>"
        h += "<td class=\"num\">\(escapeXML(f.attempts))</td><td>\(escapeXML(f.hosts))</td><td>\(escapeXML(f.lastError))</td></tr>\n"
    }
    return h + "</tbody>\n</table>\n"
}
