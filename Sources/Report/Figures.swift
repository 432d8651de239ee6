import Foundation

/// A figure ready for the page: its SVG and what it shows.
public struct RenderedFigure: Sendable {
    /// File name stem: the figure is written to `figures/<name>.svg`.
    public let name: String
    public let title: String
    /// A sentence under the figure saying how to read it.
    public let caption: String
    public let svg: String
}

/// A figure left out because it would be one flat line: its metric is the same, within
/// ``flatTolerance``, in every task it would plot (``flatValue(_:)``). The page shows its
/// sentence instead.
public struct OmittedFigure: Sendable, Equatable {
    /// The name the figure would have had (`figures/<name>.svg` is not written).
    public let name: String
    /// One sentence for the page, e.g. "… easy_acc is 1.000 in all 96 tasks."
    public let sentence: String
}

/// One place in the figures section: a figure, or the sentence replacing a flat one.
enum FigureSlot: Sendable {
    case drawn(RenderedFigure)
    case omitted(OmittedFigure)
}

/// Most panels one figure draws; further facet combinations are listed as left out.
let maximumPanels = 12

/// How far apart a metric's values may lie for its figure to count as flat: relative to the
/// values' magnitude, at least 1. For accuracies (0...1) that is a quarter of a percentage point:
/// 2 of 1000 test samples, below both the binomial noise of one accuracy and what a figure with
/// a 0.05-wide axis can show. For larger metrics (losses) it is 0.25% of the value.
let flatTolerance = 0.0025

/// The value (or narrow range) a metric has in every one of `values` when they are all within
/// ``flatTolerance`` of each other: "1.000", or "0.999 to 1.000" when they print differently.
/// Nil when they are farther apart, or there are fewer than two finite values (one task is no
/// evidence of a flat metric). Non-finite values are ignored. Complexity: O(n).
func flatValue(_ values: [Double]) -> String? {
    var count = 0
    var low = Double.infinity, high = -Double.infinity
    for v in values where v.isFinite {
        count += 1
        low = min(low, v)
        high = max(high, v)
    }
    guard count >= 2, high - low <= flatTolerance * max(1, abs(low), abs(high)) else { return nil }
    let (a, b) = (formatNumber(low), formatNumber(high))
    return a == b ? a : "\(a) to \(b)"
}

/// "n = 3", or "n = 2–3" when the counts differ.
func countRange(_ counts: [Int]) -> String {
    guard let low = counts.min(), let high = counts.max() else { return "n = 0" }
    return low == high ? "n = \(low)" : "n = \(low)–\(high)"
}

/// The science figures of the `hierarchy` family: accuracy against label granularity (hard and
/// easy test sets) with the from-scratch baseline and its interval, fine- against common-feature
/// alignment, and learning curves (hard accuracy and loss per phase, with bands over seeds). A
/// figure whose metric is flat (``flatValue(_:)``) becomes a sentence.
struct HierarchyFigures {
    let data: SweepData
    /// Runs that pretrain (`pretrain` other than `none`).
    let pretrained: [TaskRun]
    /// From-scratch runs (`pretrain: none`).
    let baseline: [TaskRun]
    /// Parameters other than granularity, rare_freq, pretrain that vary: each combination is a panel.
    let facets: [String]

    /// Whether the data has what the figures need.
    static func applies(to data: SweepData) -> Bool {
        data.experiment == "hierarchy" && data.parameterNames.contains("granularity")
            && (data.metricNames.contains("hard_acc") || data.metricNames.contains("easy_acc"))
    }

    init(_ data: SweepData) {
        self.data = data
        pretrained = data.runs.filter { $0.parameters["pretrain"] != "none" }
        baseline = data.runs.filter { $0.parameters["pretrain"] == "none" }
        let own: Set<String> = ["granularity", "rare_freq", "pretrain"]
        facets = data.varyingParameters.filter { !own.contains($0) }
    }

    func all() -> [FigureSlot] {
        var figures: [FigureSlot] = []
        if data.metricNames.contains("hard_acc") {
            figures.append(accuracyFigure(metric: "hard_acc", name: "hard_acc_vs_granularity", what: "Hard-sample", axis: "hard-sample test accuracy"))
        }
        if data.metricNames.contains("easy_acc") {
            figures.append(accuracyFigure(metric: "easy_acc", name: "easy_acc_vs_granularity", what: "Easy-sample", axis: "easy-sample test accuracy"))
        }
        if data.metricNames.contains("common_align"), data.metricNames.contains("fine_align"), let f = alignmentFigure() {
            figures.append(.drawn(f))
        }
        for metric in ["hard_acc", "loss"] {
            for phase in ["pretrain", "finetune"] {
                if let f = curveFigure(metric: metric, phase: phase) { figures.append(f) }
            }
        }
        return figures
    }

    // MARK: Facets

    /// The panels: distinct facet values among `runs`, sorted, at most ``maximumPanels``.
    private func panels(_ facets: [String], of runs: [TaskRun]) -> (keys: [[String]], omitted: Int) {
        let keys = Set(runs.map { run in facets.map { run.parameters[$0] ?? "" } }).sorted(by: parameterTupleLess)
        return (Array(keys.prefix(maximumPanels)), max(0, keys.count - maximumPanels))
    }

    private func panelTitle(_ facets: [String], _ key: [String]) -> String? {
        facets.isEmpty ? nil : zip(facets, key).map { "\($0) \(shortValue($1))" }.joined(separator: " · ")
    }

    private func omittedNote(_ omitted: Int) -> String {
        omitted == 0 ? "" : " \(omitted) further panel(s) are left out; the table below has every group."
    }

    private func matches(_ run: TaskRun, _ facets: [String], _ key: [String]) -> Bool {
        zip(facets, key).allSatisfy { run.parameters[$0] == $1 }
    }

    // MARK: Accuracy against granularity

    private func accuracyFigure(metric: String, name: String, what: String, axis: String) -> FigureSlot {
        let plotted = (pretrained + baseline).compactMap { $0.metrics[metric] }
        if let value = flatValue(plotted) {
            return .omitted(OmittedFigure(
                name: name, sentence: "\(what) accuracy against granularity is not drawn: \(metric) is \(value) in all \(plotted.count) tasks."))
        }
        let rareFrequencies = data.values(of: "rare_freq", in: pretrained)
        let (keys, omitted) = panels(facets, of: pretrained)
        // Baselines ignore granularity and alignment (no pretraining labels) and facets they were
        // run at one value of only; they must match rare_freq, which changes the data.
        let baselineFacets = facets.filter { $0 != "alignment" && data.values(of: $0, in: baseline).count > 1 }
        var plotPanels: [PlotPanel] = []
        var baselineCounts: [Int] = []
        for key in keys {
            let runs = pretrained.filter { matches($0, facets, key) }
            var series: [PlotSeries] = []
            var references: [ReferenceLine] = []
            for (i, rf) in rareFrequencies.enumerated() {
                let color = categoricalColors[i % categoricalColors.count]
                let lineRuns = runs.filter { $0.parameters["rare_freq"] == rf }
                let groups = data.replicateGroups(of: lineRuns)
                let points = groups.compactMap { group -> PlotPoint? in
                    guard let g = Double(group.parameters["granularity"] ?? ""), let s = group.summary(metric) else { return nil }
                    return PlotPoint(
                        x: g, y: s.mean, low: s.halfWidth.map { s.mean - $0 }, high: s.halfWidth.map { s.mean + $0 },
                        tooltip: "g \(group.parameters["granularity"] ?? ""), rare_freq \(rf): \(formatSummary(s)) (n=\(s.count))")
                }.sorted { $0.x < $1.x }
                if !points.isEmpty {
                    series.append(
                        PlotSeries(label: "rare_freq \(rf)", color: color, marker: MarkerShape.allCases[i % 4], points: points))
                }
                let scratch = baseline.filter { run in
                    run.parameters["rare_freq"] == rf
                        && baselineFacets.allSatisfy { f in run.parameters[f] == key[facets.firstIndex(of: f)!] }
                }
                if let s = ReplicateSummary(scratch.compactMap { $0.metrics[metric] }) {
                    references.append(ReferenceLine(
                        y: s.mean, color: color, label: "from scratch, rare_freq \(rf): \(formatSummary(s)) (n=\(s.count))",
                        low: s.halfWidth.map { s.mean - $0 }, high: s.halfWidth.map { s.mean + $0 }))
                    baselineCounts.append(s.count)
                }
            }
            plotPanels.append(PlotPanel(title: panelTitle(facets, key), series: series, references: references))
        }
        var legend = rareFrequencies.enumerated().map { i, rf in
            LegendEntry(label: "rare_freq \(rf)", color: categoricalColors[i % categoricalColors.count], style: .lineAndMarker(MarkerShape.allCases[i % 4]))
        }
        let baselineN = countRange(baselineCounts)
        if !baselineCounts.isEmpty {
            let banded = baselineCounts.contains { $0 >= 2 }
            legend.append(LegendEntry(
                label: "from scratch (pretrain: none), \(baselineN)" + (banded ? ", band: 95% CI" : ""), color: "#555555",
                style: banded ? .lineWithBand(nil, dashed: true) : .dashedLine))
        }
        let spec = FigureSpec(
            name: name, title: "\(what) accuracy after fine-tuning vs. pretraining label granularity",
            x: AxisSpec(label: "label granularity g (classes per superclass, log2)", scale: .log2),
            y: AxisSpec(label: "\(axis) (fraction)", limits: 0...1), panels: plotPanels, legendTitle: "rare-feature frequency",
            legend: legend)
        let caption = "Mean over seeds with 95% t-intervals (error bars) of the \(axis) after fine-tuning on coarse labels, "
            + "against the number of pretraining classes per superclass g (g = 1: coarse; g = subclasses: leaf level; larger: finer than the features). "
            + "One line per rare-feature frequency"
            + (baselineCounts.isEmpty
                ? "."
                : "; dashed lines in the same color are the from-scratch baseline (pretrain: none) at that frequency, "
                    + "the mean over its seeds (\(baselineN) per line), shaded by its 95% t-interval where it has two seeds or more.")
            + (facets.isEmpty ? "" : " One panel per \(facets.joined(separator: " × ")).") + omittedNote(omitted)
        return .drawn(RenderedFigure(name: name, title: spec.title, caption: caption, svg: renderSVG(spec)))
    }

    // MARK: Alignment scatter

    private func alignmentFigure() -> RenderedFigure? {
        let granularities = data.values(of: "granularity", in: pretrained)
        var series: [PlotSeries] = []
        for (i, g) in granularities.enumerated() {
            let points = pretrained.filter { $0.parameters["granularity"] == g }.compactMap { run -> PlotPoint? in
                guard let c = run.metrics["common_align"], let f = run.metrics["fine_align"] else { return nil }
                return PlotPoint(x: c, y: f, tooltip: "g \(g), seed \(run.seed): common \(formatNumber(c)), fine \(formatNumber(f))")
            }
            if !points.isEmpty {
                series.append(PlotSeries(label: "g \(g)", color: sequentialColor(i, of: granularities.count), marker: .circle, connect: false, points: points))
            }
        }
        guard !series.isEmpty else { return nil }
        var legend = series.map { LegendEntry(label: $0.label, color: $0.color, style: .marker(.circle)) }
        let scratchPoints = baseline.compactMap { run -> PlotPoint? in
            guard let c = run.metrics["common_align"], let f = run.metrics["fine_align"] else { return nil }
            return PlotPoint(x: c, y: f, tooltip: "from scratch, seed \(run.seed): common \(formatNumber(c)), fine \(formatNumber(f))")
        }
        if !scratchPoints.isEmpty {
            series.append(PlotSeries(label: "from scratch", color: "#888888", marker: .triangle, connect: false, points: scratchPoints))
            legend.append(LegendEntry(label: "from scratch", color: "#888888", style: .marker(.triangle)))
        }
        let spec = FigureSpec(
            name: "alignment_scatter", title: "Fine-feature vs. common-feature alignment of the learned filters",
            x: AxisSpec(label: "common-feature alignment (cosine)"), y: AxisSpec(label: "fine-feature alignment (cosine)"),
            panels: [PlotPanel(title: nil, series: series)], legendTitle: "granularity g", legend: legend, columns: 1)
        let caption = "One point per finished task (every seed and setting). Alignment is the mean over features v of the largest cosine "
            + "<w, v>/‖w‖ over the pretrained filters w: near 1, some filter points at the feature. Colors run from coarse (dark) to fine (light) labels."
        return RenderedFigure(name: spec.name, title: spec.title, caption: caption, svg: renderSVG(spec))
    }

    // MARK: Learning curves

    /// The learning curves of one curve metric in one phase: the mean over seeds per epoch, one
    /// line per granularity (and from scratch), a shaded 95% t-interval over seeds.
    private func curveFigure(metric: String, phase: String) -> FigureSlot? {
        guard data.curveMetricNames.contains(metric) else { return nil }
        let runsByID = Dictionary(data.runs.map { ($0.taskID, $0) }, uniquingKeysWith: { a, _ in a })
        let samples = data.curves.filter { $0.phase == phase && $0.metrics[metric] != nil && runsByID[$0.taskID] != nil }
        guard !samples.isEmpty else { return nil }
        let curveRuns = Set(samples.map(\.taskID)).sorted().compactMap { runsByID[$0] }
        let name = "curves_\(metric)_\(phase)"
        let phaseText = phase == "pretrain" ? "pretraining" : "fine-tuning"
        let (what, axisLabel, limits): (String, String, ClosedRange<Double>) = metric == "loss"
            ? ("training loss", "mean training loss of the epoch", 0...Double.greatestFiniteMagnitude)
            : ("hard-sample accuracy", "hard-sample test accuracy (fraction)", 0...1)
        if let value = flatValue(samples.map { $0.metrics[metric]! }) {
            return .omitted(OmittedFigure(
                name: name,
                sentence: "Learning curves (\(phaseText)) of \(what) are not drawn: \(metric) is \(value) at every epoch of all \(curveRuns.count) tasks."))
        }
        var curveFacets = facets
        if data.values(of: "rare_freq", in: curveRuns).count > 1 {
            curveFacets.insert("rare_freq", at: 0)
        }
        let (keys, omitted) = panels(curveFacets, of: curveRuns)
        let granularities = data.values(of: "granularity", in: curveRuns.filter { $0.parameters["pretrain"] != "none" })
        var lines: [(label: String, color: String, marker: MarkerShape, dashed: Bool, select: (TaskRun) -> Bool)] = []
        for (i, g) in granularities.enumerated() {
            lines.append(("g \(g)", sequentialColor(i, of: granularities.count), MarkerShape.allCases[i % 4], false,
                          { $0.parameters["pretrain"] != "none" && $0.parameters["granularity"] == g }))
        }
        if curveRuns.contains(where: { $0.parameters["pretrain"] == "none" }) {
            lines.append(("from scratch", "#888888", .triangle, true, { $0.parameters["pretrain"] == "none" }))
        }
        // Samples by task, in file order, so that each line reads only its own tasks' epochs.
        var samplesByTask: [String: [CurveSample]] = [:]
        for s in samples { samplesByTask[s.taskID, default: []].append(s) }
        var plotPanels: [PlotPanel] = []
        var counts: [Int] = []
        for key in keys {
            var series: [PlotSeries] = []
            for line in lines {
                var byEpoch: [Int: [Double]] = [:]
                for run in curveRuns where matches(run, curveFacets, key) && line.select(run) {
                    for s in samplesByTask[run.taskID] ?? [] { byEpoch[s.epoch, default: []].append(s.metrics[metric]!) }
                }
                let points = byEpoch.keys.sorted().compactMap { epoch -> PlotPoint? in
                    guard let s = ReplicateSummary(byEpoch[epoch]!) else { return nil }
                    counts.append(s.count)
                    return PlotPoint(
                        x: Double(epoch), y: s.mean, low: s.halfWidth.map { s.mean - $0 }, high: s.halfWidth.map { s.mean + $0 },
                        tooltip: "\(line.label), epoch \(epoch): \(formatSummary(s)) (n=\(s.count))")
                }
                if !points.isEmpty {
                    series.append(PlotSeries(
                        label: line.label, color: line.color, marker: line.marker, dashed: line.dashed, markerRadius: 2.5, band: true,
                        points: points))
                }
            }
            plotPanels.append(PlotPanel(title: panelTitle(curveFacets, key), series: series))
        }
        let n = countRange(counts)
        let legend = lines.map { LegendEntry(label: $0.label, color: $0.color, style: .lineWithBand($0.marker, dashed: $0.dashed)) }
        let spec = FigureSpec(
            name: name, title: "Learning curves (\(phaseText)): \(what) per epoch",
            x: AxisSpec(label: "\(phaseText) epoch", integer: true), y: AxisSpec(label: axisLabel, limits: limits),
            panels: plotPanels, legendTitle: "granularity g (\(n) seeds)", legend: legend)
        let caption = "Mean over tasks (seeds) of the \(metric == "loss" ? "training loss" : "hard-sample test accuracy") after each \(phaseText) epoch, "
            + "one line per label granularity; the shaded band is the 95% t-interval over seeds at each epoch "
            + "(\(n) seeds per point; each point's tooltip gives its own)."
            + (curveFacets.isEmpty ? "" : " One panel per \(curveFacets.joined(separator: " × ")).") + omittedNote(omitted)
        return .drawn(RenderedFigure(name: name, title: spec.title, caption: caption, svg: renderSVG(spec)))
    }
}

/// A number for tables and tooltips: 3 decimals below 10, fewer above.
func formatNumber(_ x: Double) -> String {
    guard x.isFinite else { return x.description }
    let a = abs(x)
    let s = String(format: a >= 1000 ? "%.0f" : a >= 100 ? "%.1f" : a >= 10 ? "%.2f" : "%.3f", x)
    return s.hasPrefix("-") && Double(s) == 0 ? String(s.dropFirst()) : s
}

/// `mean ± half-width` with the mean's decimals, or the mean alone for one replicate.
func formatSummary(_ s: ReplicateSummary) -> String {
    let mean = formatNumber(s.mean)
    guard let h = s.halfWidth else { return mean }
    let decimals = mean.split(separator: ".").dropFirst().first?.count ?? 0
    return "\(mean) ± \(String(format: "%.\(decimals)f", h))"
}

/// A parameter value short enough for a panel title: numbers to 4 significant digits
/// (`0.316227766017` -> `0.3162`), anything else as is.
func shortValue(_ text: String) -> String {
    guard let x = Double(text), x.isFinite, text.count > 6 else { return text }
    var s = String(format: "%.4g", x)
    if s.contains("e") { return s }
    if s.contains(".") { while s.hasSuffix("0") { s.removeLast() }; if s.hasSuffix(".") { s.removeLast() } }
    return s
}
