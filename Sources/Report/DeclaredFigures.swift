import ExperimentAPI
import Foundation

/// The figures a family declares (``ExperimentFamily/figures``), for the report to draw: the
/// executable looks a sweep's family up by the name in its results and hands its declarations over.
public typealias FigureCatalog = @Sendable (_ experiment: String) -> [FigureDeclaration]

/// Draws declared figures (``FigureDeclaration``): for each, the mean over seeds with its 95%
/// t-interval of the y metric at each x, one line per value of the series parameter, one panel
/// per combination of the facets that vary, and the reference tasks (e.g. from scratch) dashed in
/// the color of the line whose series value they share. A figure with no matching task, or
/// whose metric is flat (``flatValue(_:)``), becomes a sentence.
struct DeclaredFigures {
    let data: SweepData
    let declarations: [FigureDeclaration]

    init(_ data: SweepData, _ declarations: [FigureDeclaration]) {
        self.data = data
        self.declarations = declarations
    }

    func all() -> [FigureSlot] { declarations.map(draw) }

    /// The runs a declaration selects (a filter on a parameter the sweep lacks selects nothing).
    private func selected(_ d: FigureDeclaration) -> [TaskRun] {
        data.runs.filter { run in
            d.only.allSatisfy { parameter, values in run.parameters[parameter].map(values.contains) ?? false }
        }
    }

    /// y values of one run at each x: one (x, y) for a parameter axis, one per epoch for a curve.
    private func points(_ d: FigureDeclaration, _ run: TaskRun, curves: [String: [CurveSample]]) -> [(Double, Double)] {
        switch d.x {
        case .parameter(let name, _):
            guard let x = Double(run.parameters[name] ?? ""), let y = run.metrics[d.y] else { return [] }
            return [(x, y)]
        case .epoch:
            return (curves[run.taskID] ?? []).compactMap { s in
                guard s.attempt == run.attempt, let y = s.metrics[d.y] else { return nil }
                return (Double(s.epoch), y)
            }
        }
    }

    private func draw(_ d: FigureDeclaration) -> FigureSlot {
        let chosen = selected(d)
        var curves: [String: [CurveSample]] = [:]
        if case .epoch(let phase) = d.x {
            for s in data.curves where s.phase == phase { curves[s.taskID, default: []].append(s) }
        }
        let isReference = { (run: TaskRun) in d.reference.map { run.parameters[$0.parameter] == $0.value } ?? false }
        let main = chosen.filter { !isReference($0) }
        let reference = chosen.filter(isReference)
        let all = (main + reference).flatMap { points(d, $0, curves: curves) }.map(\.1)
        guard !main.isEmpty, !all.isEmpty else {
            return .omitted(OmittedFigure(name: d.name, sentence: "\(d.title): no finished task of this sweep has what the figure needs (\(d.y) of the selected tasks)."))
        }
        if let flat = flatValue(all) {
            return .omitted(OmittedFigure(name: d.name, sentence: "\(d.title) is not drawn: \(d.y) is \(flat) in all \(all.count) points."))
        }
        let facets = d.facets.filter { data.values(of: $0, in: main).count > 1 }
        let keys = Set(main.map { run in facets.map { run.parameters[$0] ?? "" } }).sorted(by: parameterTupleLess)
        let shownKeys = Array(keys.prefix(maximumPanels))
        let seriesValues: [String?] = d.series.map { s in data.values(of: s, in: main).map { Optional($0) } } ?? [nil]
        let referenceBySeries = d.series.map { data.values(of: $0, in: reference).count > 1 } ?? false
        var panels: [PlotPanel] = []
        var counts: [Int] = []
        var referenceCounts: [Int] = []
        func summaries(_ runs: [TaskRun]) -> [(Double, ReplicateSummary)] {
            var byX: [Double: [Double]] = [:]
            for run in runs { for (x, y) in points(d, run, curves: curves) { byX[x, default: []].append(y) } }
            return byX.keys.sorted().compactMap { x in ReplicateSummary(byX[x]!).map { (x, $0) } }
        }
        for key in shownKeys {
            let inPanel = { (run: TaskRun) in zip(facets, key).allSatisfy { run.parameters[$0] == $1 } }
            var series: [PlotSeries] = []
            var references: [ReferenceLine] = []
            for (i, value) in seriesValues.enumerated() {
                let color = categoricalColors[i % categoricalColors.count]
                let marker = MarkerShape.allCases[i % 4]
                let label = value.map { "\(d.series!) \(shortValue($0))" } ?? d.y
                let inSeries = { (run: TaskRun) in value == nil || run.parameters[d.series!] == value }
                let line = summaries(main.filter { inPanel($0) && inSeries($0) }).map { x, s -> PlotPoint in
                    counts.append(s.count)
                    return PlotPoint(x: x, y: s.mean, low: s.halfWidth.map { s.mean - $0 }, high: s.halfWidth.map { s.mean + $0 },
                                     tooltip: "\(label), \(xName(d)) \(shortValue(String(x))): \(d.y) \(formatSummary(s)) (n=\(s.count))")
                }
                if !line.isEmpty {
                    series.append(PlotSeries(label: label, color: color, marker: marker, band: isEpoch(d), points: line))
                }
                guard let ref = d.reference else { continue }
                let refRuns = reference.filter { inPanel($0) && (!referenceBySeries || inSeries($0)) }
                if !referenceBySeries && i > 0 { continue }
                let refColor = referenceBySeries ? color : "#555555"
                let refLabel = ref.label + (referenceBySeries ? ", \(label)" : "")
                let refPoints = summaries(refRuns)
                if refPoints.count == 1, let (_, s) = refPoints.first {
                    referenceCounts.append(s.count)
                    references.append(ReferenceLine(y: s.mean, color: refColor, label: "\(refLabel): \(formatSummary(s)) (n=\(s.count))",
                                                    low: s.halfWidth.map { s.mean - $0 }, high: s.halfWidth.map { s.mean + $0 }))
                } else if refPoints.count > 1 {
                    let pts = refPoints.map { x, s -> PlotPoint in
                        referenceCounts.append(s.count)
                        return PlotPoint(x: x, y: s.mean, low: s.halfWidth.map { s.mean - $0 }, high: s.halfWidth.map { s.mean + $0 },
                                         tooltip: "\(refLabel), \(xName(d)) \(shortValue(String(x))): \(d.y) \(formatSummary(s)) (n=\(s.count))")
                    }
                    series.append(PlotSeries(label: refLabel, color: refColor, marker: .triangle, dashed: true, band: isEpoch(d), points: pts))
                }
            }
            panels.append(PlotPanel(title: facets.isEmpty ? nil : zip(facets, key).map { "\($0) \(shortValue($1))" }.joined(separator: " · "),
                                    series: series, references: references))
        }
        var legend = seriesValues.enumerated().map { i, value in
            LegendEntry(label: value.map { "\(d.series!) \(shortValue($0))" } ?? d.y, color: categoricalColors[i % categoricalColors.count],
                        style: .lineAndMarker(MarkerShape.allCases[i % 4]))
        }
        if let ref = d.reference, !referenceCounts.isEmpty {
            legend.append(LegendEntry(label: "\(ref.label), dashed" + (referenceBySeries ? " (color of its line)" : "") + ", \(countRange(referenceCounts))",
                                      color: "#555555", style: .dashedLine))
        }
        let n = countRange(counts)
        let xAxis: AxisSpec
        switch d.x {
        case .parameter(let name, let log2): xAxis = AxisSpec(label: name + (log2 ? " (log2 scale)" : ""), scale: log2 ? .log2 : .linear)
        case .epoch(let phase): xAxis = AxisSpec(label: "\(phase) epoch", integer: true)
        }
        let spec = FigureSpec(
            name: d.name, title: d.title, x: xAxis,
            y: AxisSpec(label: d.y + (d.yLog ? " (log2 scale)" : ""), scale: d.yLog ? .log2 : .linear, minimumSpan: 1e-9),
            panels: panels, legendTitle: d.series.map { "\($0) (\(n) tasks per point)" } ?? "\(n) tasks per point", legend: legend,
            columns: min(3, max(1, panels.count)), cellWidth: panels.count > 1 ? 340 : 520)
        // Parameters that take several values within one point (same panel, line and x): pooled.
        var xParameter: String?
        if case .parameter(let name, _) = d.x { xParameter = name }
        let grouping = facets + (d.series.map { [$0] } ?? []) + (xParameter.map { [$0] } ?? [])
        var valuesByPoint: [[String]: [String: Set<String>]] = [:]
        for run in main {
            let point = grouping.map { run.parameters[$0] ?? "" }
            for p in data.varyingParameters where !grouping.contains(p) {
                valuesByPoint[point, default: [:]][p, default: []].insert(run.parameters[p] ?? "")
            }
        }
        let pooledOver = data.varyingParameters.filter { p in valuesByPoint.values.contains { ($0[p]?.count ?? 0) > 1 } }
        var caption = d.caption + " Each point: the mean over seeds (\(n) tasks) with its 95% t-interval"
        caption += pooledOver.isEmpty ? "." : ", pooling the values of \(pooledOver.joined(separator: ", "))."
        if !facets.isEmpty { caption += " One panel per \(facets.joined(separator: " × "))." }
        if keys.count > shownKeys.count { caption += " \(keys.count - shownKeys.count) further panel(s) are left out; the table below has every group." }
        if d.yLog { caption += " Points at or below 0 cannot be drawn on the log scale." }
        return .drawn(RenderedFigure(name: d.name, title: d.title, caption: caption, svg: renderSVG(spec)))
    }

    private func isEpoch(_ d: FigureDeclaration) -> Bool {
        if case .epoch = d.x { return true }
        return false
    }

    private func xName(_ d: FigureDeclaration) -> String {
        switch d.x {
        case .parameter(let name, _): name
        case .epoch: "epoch"
        }
    }
}
