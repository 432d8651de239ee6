import ExperimentAPI
import Foundation

/// The figures a family declares (``ExperimentFamily/figures``), for the report to draw: the
/// executable looks a sweep's family up by the name in its results and hands its declarations over.
public typealias FigureCatalog = @Sendable (_ experiment: String) -> [FigureDeclaration]

/// Draws declared figures (``FigureDeclaration``): for each, the mean over seeds with its 95%
/// t-interval of the y metric at each x, one line per value of the series parameter, one panel
/// per combination of the facets that vary, and the reference tasks (e.g. from scratch) in the
/// color of the line whose series value they share; or, against another metric, one point per
/// task. A figure whose metric no task has is left out; one with no matching task, or whose
/// metric is flat (``flatValue(_:)``), becomes a sentence.
struct DeclaredFigures {
    let data: SweepData
    let declarations: [FigureDeclaration]

    init(_ data: SweepData, _ declarations: [FigureDeclaration]) {
        self.data = data
        self.declarations = declarations
    }

    func all() -> [FigureSlot] { declarations.compactMap(draw) }

    /// The runs a declaration selects (a filter on a parameter the sweep lacks selects nothing).
    private func selected(_ d: FigureDeclaration) -> [TaskRun] {
        data.runs.filter { run in
            d.only.allSatisfy { parameter, values in run.parameters[parameter].map(values.contains) ?? false }
        }
    }

    /// y values of one run at each x: one (x, y) for a parameter or metric axis, one per epoch for a curve.
    private func points(_ d: FigureDeclaration, _ run: TaskRun, curves: [String: [CurveSample]]) -> [(Double, Double)] {
        switch d.x {
        case .parameter(let name, _):
            guard let x = Double(run.parameters[name] ?? ""), let y = run.metrics[d.y] else { return [] }
            return [(x, y)]
        case .metric(let name):
            guard let x = run.metrics[name], let y = run.metrics[d.y] else { return [] }
            return [(x, y)]
        case .epoch:
            return (curves[run.taskID] ?? []).compactMap { s in
                guard s.attempt == run.attempt, let y = s.metrics[d.y] else { return nil }
                return (Double(s.epoch), y)
            }
        }
    }

    /// Whether the sweep has the figure's metrics at all (older results may lack a newer metric).
    private func hasMetrics(_ d: FigureDeclaration) -> Bool {
        switch d.x {
        case .epoch: data.curveMetricNames.contains(d.y)
        case .metric(let x): data.metricNames.contains(d.y) && data.metricNames.contains(x)
        case .parameter: data.metricNames.contains(d.y)
        }
    }

    /// The panels' parameters: the declared facets, then (``FigureDeclaration/otherFacets``) every
    /// other varying one, of those that vary among `runs`.
    private func facets(_ d: FigureDeclaration, _ runs: [TaskRun]) -> [String] {
        var names = d.facets
        if d.otherFacets {
            var own = Set(d.facets)
            if case .parameter(let x, _) = d.x { own.insert(x) }
            if let s = d.series { own.insert(s) }
            if let r = d.reference { own.insert(r.parameter) }
            names += data.varyingParameters.filter { !own.contains($0) }
        }
        return names.filter { data.values(of: $0, in: runs).count > 1 }
    }

    private func draw(_ d: FigureDeclaration) -> FigureSlot? {
        guard hasMetrics(d) else { return nil }
        let p = d.presentation
        let chosen = selected(d)
        var curves: [String: [CurveSample]] = [:]
        if case .epoch(let phase) = d.x {
            for s in data.curves where s.phase == phase { curves[s.taskID, default: []].append(s) }
        }
        let isReference = { (run: TaskRun) in d.reference.map { run.parameters[$0.parameter] == $0.value } ?? false }
        let main = chosen.filter { !isReference($0) }
        let reference = chosen.filter(isReference)
        let pointsOfRuns = (main + reference).map { points(d, $0, curves: curves) }.filter { !$0.isEmpty }
        let all = pointsOfRuns.flatMap { $0.map(\.1) }
        guard !main.isEmpty, !all.isEmpty else {
            return .omitted(OmittedFigure(name: d.name, sentence: "\(d.title): no finished task of this sweep has what the figure needs (\(d.y) of the selected tasks)."))
        }
        if let flat = flatValue(all) {
            let template = p.flatSentence ?? (isEpoch(d)
                ? "\(d.title) is not drawn: %metric is %value at every epoch of all %tasks tasks."
                : "\(d.title) is not drawn: %metric is %value in all %tasks tasks.")
            let sentence = template.replacingOccurrences(of: "%metric", with: d.y).replacingOccurrences(of: "%value", with: flat)
                .replacingOccurrences(of: "%tasks", with: String(pointsOfRuns.count))
            return .omitted(OmittedFigure(name: d.name, sentence: sentence))
        }
        let facets = self.facets(d, main)
        let keys = Set(main.map { run in facets.map { run.parameters[$0] ?? "" } }).sorted(by: parameterTupleLess)
        let shownKeys = Array(keys.prefix(maximumPanels))
        let seriesValues: [String?] = d.series.map { s in data.values(of: s, in: main).map { Optional($0) } } ?? [nil]
        let referenceBySeries = d.series.map { data.values(of: $0, in: reference).count > 1 } ?? false
        let referenceFacets = facets.filter { f in
            guard let ref = d.reference, !ref.ignoring.contains(f) else { return false }
            return ref.matchesEveryFacet || data.values(of: f, in: reference).count > 1
        }
        let seriesName = p.seriesName ?? d.series ?? ""
        func seriesLabel(_ value: String?) -> String { value.map { "\(seriesName) \(shortValue($0))" } ?? d.y }
        func color(_ i: Int) -> String {
            p.palette == .sequential ? sequentialColor(i, of: seriesValues.count) : categoricalColors[i % categoricalColors.count]
        }
        let scatter = isScatter(d)
        var panels: [PlotPanel] = []
        var counts: [Int] = []
        var referenceCounts: [Int] = []
        func summaries(_ runs: [TaskRun]) -> [(Double, ReplicateSummary)] {
            var byX: [Double: [Double]] = [:]
            for run in runs { for (x, y) in points(d, run, curves: curves) { byX[x, default: []].append(y) } }
            return byX.keys.sorted().compactMap { x in ReplicateSummary(byX[x]!).map { (x, $0) } }
        }
        func scatterPoints(_ runs: [TaskRun], _ label: String) -> [PlotPoint] {
            runs.flatMap { run in
                points(d, run, curves: curves).map { x, y in
                    PlotPoint(x: x, y: y, tooltip: "\(label), seed \(run.seed): \(xName(d)) \(formatNumber(x)), \(p.yName ?? d.y) \(formatNumber(y))")
                }
            }
        }
        func summaryPoints(_ runs: [TaskRun], _ label: String, count: (Int) -> Void) -> [PlotPoint] {
            summaries(runs).map { x, s -> PlotPoint in
                count(s.count)
                // Epochs after the line ("g 8, epoch 3"), parameters before it ("g 8, rare_freq 0.3").
                let tooltip = isEpoch(d) ? "\(label), \(xName(d)) \(formatX(x))" : "\(xName(d)) \(formatX(x)), \(label)"
                return PlotPoint(x: x, y: s.mean, low: s.halfWidth.map { s.mean - $0 }, high: s.halfWidth.map { s.mean + $0 },
                                 tooltip: "\(tooltip): \(formatSummary(s)) (n=\(s.count))")
            }
        }
        let markerRadius = isEpoch(d) ? 2.5 : 3.5
        for key in shownKeys {
            let inPanel = { (run: TaskRun) in zip(facets, key).allSatisfy { run.parameters[$0] == $1 } }
            let referenceInPanel = { (run: TaskRun) in
                zip(facets, key).allSatisfy { f, v in !referenceFacets.contains(f) || run.parameters[f] == v }
            }
            var series: [PlotSeries] = []
            var referenceSeries: [PlotSeries] = []  // drawn after the lines
            var references: [ReferenceLine] = []
            for (i, value) in seriesValues.enumerated() {
                let label = seriesLabel(value)
                let marker = MarkerShape.allCases[i % 4]
                let inSeries = { (run: TaskRun) in value == nil || run.parameters[d.series!] == value }
                let runs = main.filter { inPanel($0) && inSeries($0) }
                let line = scatter ? scatterPoints(runs, label) : summaryPoints(runs, label) { counts.append($0) }
                if scatter { counts.append(runs.count) }
                if !line.isEmpty {
                    series.append(PlotSeries(label: label, color: color(i), marker: scatter ? .circle : marker, connect: !scatter,
                                             markerRadius: markerRadius, band: isEpoch(d), points: line))
                }
                guard let ref = d.reference else { continue }
                if !referenceBySeries && i > 0 { continue }
                let refRuns = reference.filter { referenceInPanel($0) && (!referenceBySeries || inSeries($0)) }
                let refColor = referenceBySeries ? color(i) : ref.color
                let refLabel = ref.lineLabel + (referenceBySeries ? ", \(label)" : "")
                if scatter {
                    let pts = scatterPoints(refRuns, refLabel)
                    if !pts.isEmpty {
                        referenceCounts.append(refRuns.count)
                        referenceSeries.append(PlotSeries(label: refLabel, color: refColor, marker: .triangle, connect: false, points: pts))
                    }
                    continue
                }
                let refPoints = summaries(refRuns)
                if refPoints.count == 1, let (_, s) = refPoints.first {
                    referenceCounts.append(s.count)
                    references.append(ReferenceLine(y: s.mean, color: refColor, label: "\(refLabel): \(formatSummary(s)) (n=\(s.count))",
                                                    low: s.halfWidth.map { s.mean - $0 }, high: s.halfWidth.map { s.mean + $0 }))
                } else if refPoints.count > 1 {
                    let pts = summaryPoints(refRuns, refLabel) { referenceCounts.append($0) }
                    referenceSeries.append(PlotSeries(label: refLabel, color: refColor, marker: .triangle, dashed: true,
                                                      markerRadius: markerRadius, band: isEpoch(d), points: pts))
                }
            }
            panels.append(PlotPanel(title: facets.isEmpty ? nil : zip(facets, key).map { "\($0) \(shortValue($1))" }.joined(separator: " · "),
                                    series: series + referenceSeries, references: references))
        }
        var legend = seriesValues.enumerated().map { i, value in
            LegendEntry(label: seriesLabel(value), color: color(i),
                        style: scatter ? .marker(.circle) : isEpoch(d) ? .lineWithBand(MarkerShape.allCases[i % 4], dashed: false)
                            : .lineAndMarker(MarkerShape.allCases[i % 4]))
        }
        let referenceN = countRange(referenceCounts)
        if let ref = d.reference, !referenceCounts.isEmpty, (isEpoch(d) || scatter) && !referenceBySeries {
            // A curve or points like the others: the legend names them; its title gives n.
            legend.append(LegendEntry(label: ref.lineLabel, color: ref.color,
                                      style: scatter ? .marker(.triangle) : .lineWithBand(.triangle, dashed: true)))
        } else if let ref = d.reference, !referenceCounts.isEmpty {
            let banded = !scatter && referenceCounts.contains { $0 >= 2 }
            let color = referenceBySeries ? "#555555" : ref.color
            legend.append(LegendEntry(
                label: "\(ref.label), \(referenceN)" + (banded ? ", band: 95% CI" : ""),
                color: color, style: scatter ? .marker(.triangle) : banded ? .lineWithBand(nil, dashed: true) : .dashedLine))
        }
        let n = countRange(counts)
        let xAxis: AxisSpec
        switch d.x {
        case .parameter(let name, let log2):
            xAxis = AxisSpec(label: p.xLabel ?? (name + (log2 ? " (log2 scale)" : "")), scale: log2 ? .log2 : .linear)
        case .epoch(let phase): xAxis = AxisSpec(label: p.xLabel ?? "\(phase) epoch", integer: true)
        case .metric(let name): xAxis = AxisSpec(label: p.xLabel ?? name)
        }
        let yLabel = p.yLabel ?? (d.y + (d.yLog ? " (log2 scale)" : ""))
        let legendTitle = p.legendTitle.map { $0.replacingOccurrences(of: "%n", with: n) }
            ?? (scatter ? d.series ?? "" : d.series.map { "\($0) (\(n) tasks per point)" } ?? "\(n) tasks per point")
        let spec = FigureSpec(
            name: d.name, title: d.title, x: xAxis,
            y: AxisSpec(label: yLabel, scale: d.yLog ? .log2 : .linear, limits: p.yLimits, minimumSpan: p.yLimits == nil ? 1e-9 : 0.05),
            panels: panels, legendTitle: legendTitle, legend: legend,
            columns: min(3, max(1, panels.count)), cellWidth: p.panelWidth ?? (panels.count > 1 ? 340 : 520))
        return .drawn(RenderedFigure(name: d.name, title: d.title,
                                     caption: caption(d, main: main, facets: facets, n: n, referenceN: referenceCounts.isEmpty ? nil : referenceN,
                                                      omittedPanels: keys.count - shownKeys.count),
                                     svg: renderSVG(spec)))
    }

    /// The declared caption, then how each point was made: what it pools, its interval, panels.
    private func caption(_ d: FigureDeclaration, main: [TaskRun], facets: [String], n: String, referenceN: String?,
                         omittedPanels: Int) -> String {
        var panelsSentence = facets.isEmpty ? "" : " One panel per \(facets.joined(separator: " × "))."
        if omittedPanels > 0 { panelsSentence += " \(omittedPanels) further panel(s) are left out; the table below has every group." }
        if let template = (referenceN == nil ? d.presentation.captionWithoutReference : nil) ?? d.presentation.captionTemplate {
            return template.replacingOccurrences(of: "%refn", with: referenceN ?? "n = 0").replacingOccurrences(of: "%n", with: n)
                .replacingOccurrences(of: "%panels", with: panelsSentence)
        }
        var caption = d.caption
        if isScatter(d) {
            caption += " One point per finished task."
        } else {
            // Parameters that take several values within one point (same panel, line and x): pooled.
            var xParameter: String?
            if case .parameter(let name, _) = d.x { xParameter = name }
            let grouping = facets + (d.series.map { [$0] } ?? []) + (xParameter.map { [$0] } ?? [])
            var valuesByPoint: [[String]: [String: Set<String>]] = [:]
            let varying = data.varyingParameters  // computed over every run: once, not per run
            for run in main {
                let point = grouping.map { run.parameters[$0] ?? "" }
                for p in varying where !grouping.contains(p) {
                    valuesByPoint[point, default: [:]][p, default: []].insert(run.parameters[p] ?? "")
                }
            }
            let pooledOver = varying.filter { p in valuesByPoint.values.contains { ($0[p]?.count ?? 0) > 1 } }
            caption += isEpoch(d)
                ? " Each point: the mean over seeds (\(n) tasks); the shaded band is the 95% t-interval over seeds"
                : " Each point: the mean over seeds (\(n) tasks) with its 95% t-interval"
            caption += pooledOver.isEmpty ? "." : ", pooling the values of \(pooledOver.joined(separator: ", "))."
            if let ref = d.reference, let referenceN {
                caption += " \(ref.lineLabel.prefix(1).uppercased() + ref.lineLabel.dropFirst()): the mean of its seeds (\(referenceN) per line)"
                    + (isEpoch(d) ? "." : ", shaded by its 95% t-interval where it has two seeds or more.")
            }
        }
        caption += panelsSentence
        if d.yLog { caption += " Points at or below 0 cannot be drawn on the log scale." }
        return caption
    }

    private func isEpoch(_ d: FigureDeclaration) -> Bool {
        if case .epoch = d.x { return true }
        return false
    }

    private func isScatter(_ d: FigureDeclaration) -> Bool {
        if case .metric = d.x { return true }
        return false
    }

    private func xName(_ d: FigureDeclaration) -> String {
        switch d.x {
        case .parameter(let name, _): d.presentation.xName ?? name
        case .epoch: "epoch"
        case .metric(let name): d.presentation.xName ?? name
        }
    }

    /// An x value in a tooltip: whole numbers without decimals (epochs, granularities).
    private func formatX(_ x: Double) -> String {
        x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : shortValue(String(x))
    }
}
