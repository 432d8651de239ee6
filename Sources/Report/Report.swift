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
    public let figures: [RenderedFigure]
}

/// What ``writeReport(directory:output:provenance:generatedAt:)`` wrote.
public struct WrittenReport: Sendable {
    public let htmlPath: String
    public let figurePaths: [String]
    /// Finished tasks the report covers.
    public let taskCount: Int
}

/// Reads a sweep's results directory and writes its report: one self-contained HTML page with
/// inline SVG figures, the table of replicate means with 95% t-intervals, and provenance; and each
/// figure as `figures/<name>.svg` beside the page. Works on a partial (still running) or empty
/// directory. The same directory gives the same bytes, apart from the generated-at line.
///
/// - Parameters:
///   - directory: the sweep's results directory (holding `results.csv`).
///   - output: the HTML file to write; default `directory/report.html`.
///   - provenance: version and commit of the grainsweep build making the report.
///   - generatedAt: the time shown on the page's generated-at line.
/// - Returns: the paths written.
/// - Throws: ``ReportError`` when the directory can't be read or a file can't be written.
public func writeReport(
    directory: String, output: String? = nil, provenance: ReportProvenance, generatedAt: String = utcTimestamp()
) throws(ReportError) -> WrittenReport {
    let data = try SweepData.load(directory: directory)
    let report = renderReport(data, provenance: provenance, generatedAt: generatedAt)
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
        try write("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + figure.svg, to: path)
        figurePaths.append(path)
    }
    try write(report.html, to: htmlPath)
    return WrittenReport(htmlPath: htmlPath, figurePaths: figurePaths, taskCount: data.runs.count)
}

private func write(_ text: String, to path: String) throws(ReportError) {
    do {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
        throw ReportError(path: path, message: "cannot write: \(error.localizedDescription)")
    }
}

/// Renders the report of loaded sweep data (no I/O).
/// - Parameters:
///   - data: the sweep, from ``SweepData/load(directory:)`` or built by hand.
///   - provenance: the grainsweep build making the report.
///   - generatedAt: the time for the page's generated-at line (the only varying line).
public func renderReport(_ data: SweepData, provenance: ReportProvenance, generatedAt: String) -> RenderedReport {
    let figures = HierarchyFigures.applies(to: data) && !data.runs.isEmpty ? HierarchyFigures(data).all() : []
    let title = "grainsweep report: " + (data.manifest?.name ?? ((data.directory as NSString).lastPathComponent))
    var h = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escapeXML(title))</title>
        <style>
        \(stylesheet)
        </style>
        </head>
        <body>
        <h1>\(escapeXML(title))</h1>
        <p class="generated">Generated at \(escapeXML(generatedAt))</p>

        """
    h += statusSection(data, figures: figures)
    h += provenanceSection(data, provenance: provenance)
    if !figures.isEmpty {
        h += "<h2>Figures</h2>\n"
        for figure in figures {
            h += "<figure id=\"\(escapeXML(figure.name))\">\n\(figure.svg)<figcaption>\(escapeXML(figure.caption)) "
            h += "<a href=\"figures/\(escapeXML(figure.name)).svg\">SVG file</a></figcaption>\n</figure>\n"
        }
    }
    h += tableSection(data)
    h += failuresSection(data)
    h += "<h2>Spec</h2>\n"
    if let spec = data.specText {
        h += "<pre class=\"spec\">\(escapeXML(spec))</pre>\n"
    } else {
        h += "<p>No spec.yaml in the directory.</p>\n"
    }
    h += "</body>\n</html>\n"
    return RenderedReport(html: h, figures: figures)
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
    """

private func statusSection(_ data: SweepData, figures: [RenderedFigure]) -> String {
    var h = "<h2>Status</h2>\n"
    let groups = data.replicateGroups()
    if data.runs.isEmpty {
        h += "<p class=\"empty\">No finished tasks yet: results.csv has no rows.</p>\n"
    } else {
        let sizes = groups.map(\.runs.count)
        let seeds = sizes.min() == sizes.max() ? "\(sizes[0])" : "\(sizes.min()!)–\(sizes.max()!)"
        h += "<p>\(data.runs.count) finished task(s) in \(groups.count) group(s) of replicates (seeds per group: \(seeds)); "
        h += "\(data.failures.count) quarantined. A sweep still running shows what was finished when the report was made.</p>\n"
    }
    if !data.runs.isEmpty, figures.isEmpty {
        h += "<p>Experiment <code>\(escapeXML(data.experiment))</code>: no science figures for this family; the table shows its metrics.</p>\n"
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
    h += "<table class=\"failures\">\n<thead><tr><th>task</th><th>parameters</th><th>attempts</th><th>hosts</th><th>last error</th></tr></thead>\n<tbody>\n"
    for f in data.failures {
        let parameters = f.parameters.keys.sorted().map { "\($0) \(f.parameters[$0]!)" }.joined(separator: ", ")
        h += "<tr><td><code>\(escapeXML(String(f.taskID.prefix(12))))</code></td><td>\(escapeXML(parameters))</td>"
        h += "<td class=\"num\">\(escapeXML(f.attempts))</td><td>\(escapeXML(f.hosts))</td><td>\(escapeXML(f.lastError))</td></tr>\n"
    }
    return h + "</tbody>\n</table>\n"
}
