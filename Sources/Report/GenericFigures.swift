import Foundation

/// Figures for a family the report has no figures of its own for (`sleep`, `command`, any
/// later one): each final metric against each numeric parameter that varies, and each curve
/// metric per epoch; so a sweep of the user's own program gets its declared metrics drawn.
///
/// A metric-against-parameter figure draws the mean over every finished task at each value of
/// the parameter (seeds and the other parameters pooled) with its 95% t-interval, one line per
/// value of the first other varying parameter when it has at most ``maximumSeries`` values. At
/// most ``maximumFigures`` such figures are drawn (metrics in column order, then parameters).
struct GenericFigures {
    static let maximumSeries = 8
    static let maximumFigures = 12

    let data: SweepData
    /// Parameters with more than one value among the finished tasks, in column order.
    let varying: [String]

    init(_ data: SweepData) {
        self.data = data
        varying = data.varyingParameters
    }

    func all() -> [FigureSlot] {
        guard !data.runs.isEmpty else { return [] }
        var slots: [FigureSlot] = []
        let numeric = varying.filter { p in data.runs.allSatisfy { Double($0.parameters[p] ?? "") != nil } }
        var drawn = 0
        for metric in data.metricNames {
            let values = data.runs.compactMap { $0.metrics[metric] }
            guard !values.isEmpty else { continue }
            if let flat = flatValue(values) {
                slots.append(.omitted(OmittedFigure(
                    name: "metric_\(metric)", sentence: "\(metric) is \(flat) in all \(values.count) tasks: no figure is drawn for it.")))
                continue
            }
            for parameter in numeric where drawn < Self.maximumFigures {
                slots.append(.drawn(metricFigure(metric: metric, against: parameter)))
                drawn += 1
            }
        }
        let phases = Array(Set(data.curves.map(\.phase))).sorted()
        for metric in data.curveMetricNames {
            for phase in phases {
                if let slot = curveFigure(metric: metric, phase: phase) { slots.append(slot) }
            }
        }
        return slots
    }

    /// The parameter whose values make the lines of a figure over `x`: the first other varying
    /// parameter with few enough values.
    private func seriesParameter(excluding x: String?) -> String? {
        varying.first { $0 != x && data.values(of: $0, in: data.runs).count <= Self.maximumSeries }
    }

    private func lines(_ parameter: String?) -> [(label: String, color: String, marker: MarkerShape, value: String?)] {
        guard let parameter else { return [("all tasks", "#0072B2", .circle, nil)] }
        let values = data.values(of: parameter, in: data.runs)
        return values.enumerated().map { i, v in
            ("\(parameter) \(shortValue(v))", sequentialColor(i, of: values.count), MarkerShape.allCases[i % 4], v)
        }
    }

    private func metricFigure(metric: String, against x: String) -> RenderedFigure {
        let by = seriesParameter(excluding: x)
        let xs = data.values(of: x, in: data.runs).compactMap(Double.init).sorted()
        let logScale = (xs.first ?? 0) > 0 && (xs.last ?? 0) / (xs.first ?? 1) >= 16
        var series: [PlotSeries] = []
        var counts: [Int] = []
        for line in lines(by) {
            var byX: [Double: [Double]] = [:]
            for run in data.runs where line.value == nil || run.parameters[by!] == line.value {
                guard let xv = Double(run.parameters[x] ?? ""), let y = run.metrics[metric] else { continue }
                byX[xv, default: []].append(y)
            }
            let points = byX.keys.sorted().compactMap { xv -> PlotPoint? in
                guard let s = ReplicateSummary(byX[xv]!) else { return nil }
                counts.append(s.count)
                return PlotPoint(x: xv, y: s.mean, low: s.halfWidth.map { s.mean - $0 }, high: s.halfWidth.map { s.mean + $0 },
                                 tooltip: "\(line.label), \(x) \(shortValue(String(xv))): \(metric) \(formatSummary(s)) (n=\(s.count))")
            }
            if !points.isEmpty { series.append(PlotSeries(label: line.label, color: line.color, marker: line.marker, points: points)) }
        }
        let n = countRange(counts)
        let name = "metric_\(metric)_vs_\(x)"
        let spec = FigureSpec(
            name: name, title: "\(metric) against \(x)",
            x: AxisSpec(label: x + (logScale ? " (log2 scale)" : ""), scale: logScale ? .log2 : .linear),
            y: AxisSpec(label: metric, minimumSpan: 1e-9),
            panels: [PlotPanel(title: nil, series: series)], legendTitle: by.map { "\($0) (\(n) tasks per point)" } ?? "\(n) tasks per point",
            legend: series.map { LegendEntry(label: $0.label, color: $0.color, style: .lineAndMarker($0.marker)) }, columns: 1,
            cellWidth: 520)
        let others = varying.filter { $0 != x && $0 != by }
        let caption = "Mean of \(metric) over the finished tasks at each value of \(x) (\(n) per point), with the 95% t-interval"
            + (by.map { "; one line per value of \($0)" } ?? "")
            + (others.isEmpty ? "; each point pools the seeds." : "; each point pools the seeds and the values of \(others.joined(separator: ", ")).")
        return RenderedFigure(name: name, title: spec.title, caption: caption, svg: renderSVG(spec))
    }

    private func curveFigure(metric: String, phase: String) -> FigureSlot? {
        let runsByID = Dictionary(data.runs.map { ($0.taskID, $0) }, uniquingKeysWith: { a, _ in a })
        // Only the attempt that produced each accepted result.
        let samples = data.curves.filter {
            $0.phase == phase && $0.metrics[metric] != nil && runsByID[$0.taskID]?.attempt == $0.attempt
        }
        guard !samples.isEmpty else { return nil }
        let name = "curves_\(metric)_\(phase)"
        let curveRuns = Set(samples.map(\.taskID)).count
        if let flat = flatValue(samples.map { $0.metrics[metric]! }) {
            return .omitted(OmittedFigure(name: name, sentence: "Curves of \(metric) (\(phase)) are not drawn: it is \(flat) at every epoch of all \(curveRuns) tasks."))
        }
        let by = seriesParameter(excluding: nil)
        var series: [PlotSeries] = []
        var counts: [Int] = []
        for line in lines(by) {
            var byEpoch: [Int: [Double]] = [:]
            for s in samples {
                guard let run = runsByID[s.taskID], line.value == nil || run.parameters[by!] == line.value else { continue }
                byEpoch[s.epoch, default: []].append(s.metrics[metric]!)
            }
            let points = byEpoch.keys.sorted().compactMap { epoch -> PlotPoint? in
                guard let s = ReplicateSummary(byEpoch[epoch]!) else { return nil }
                counts.append(s.count)
                return PlotPoint(x: Double(epoch), y: s.mean, low: s.halfWidth.map { s.mean - $0 }, high: s.halfWidth.map { s.mean + $0 },
                                 tooltip: "\(line.label), epoch \(epoch): \(formatSummary(s)) (n=\(s.count))")
            }
            if !points.isEmpty {
                series.append(PlotSeries(label: line.label, color: line.color, marker: line.marker, markerRadius: 2.5, band: true, points: points))
            }
        }
        let n = countRange(counts)
        let spec = FigureSpec(
            name: name, title: "Curves: \(metric) per epoch (\(phase))",
            x: AxisSpec(label: "\(phase) epoch", integer: true), y: AxisSpec(label: metric, minimumSpan: 1e-9),
            panels: [PlotPanel(title: nil, series: series)], legendTitle: by.map { "\($0) (\(n) tasks per point)" } ?? "\(n) tasks per point",
            legend: series.map { LegendEntry(label: $0.label, color: $0.color, style: .lineWithBand($0.marker, dashed: false)) }, columns: 1,
            cellWidth: 520)
        let caption = "Mean of \(metric) over tasks after each \(phase) epoch (\(n) per point), the shaded band its 95% t-interval"
            + (by.map { "; one line per value of \($0), the other parameters and seeds pooled." } ?? "; all tasks pooled.")
        return .drawn(RenderedFigure(name: name, title: spec.title, caption: caption, svg: renderSVG(spec)))
    }
}
