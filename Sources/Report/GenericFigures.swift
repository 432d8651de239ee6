import ExperimentAPI
import Foundation

/// Figures for a family that declares none (`sleep`, `command`, any later one): each final metric
/// against each numeric parameter that varies, and each curve metric per epoch; so a sweep of the
/// user's own program gets its declared metrics drawn. They are made as ``FigureDeclaration``s and
/// drawn by ``DeclaredFigures``, like a family's own.
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
                slots += DeclaredFigures(data, [metricFigure(metric: metric, against: parameter)]).all()
                drawn += 1
            }
        }
        let phases = Array(Set(data.curves.map(\.phase))).sorted()
        for metric in data.curveMetricNames {
            for phase in phases {
                slots += DeclaredFigures(data, [curveFigure(metric: metric, phase: phase)]).all()
            }
        }
        return slots
    }

    /// The parameter whose values make the lines of a figure over `x`: the first other varying
    /// parameter with few enough values.
    private func seriesParameter(excluding x: String?) -> String? {
        varying.first { $0 != x && data.values(of: $0, in: data.runs).count <= Self.maximumSeries }
    }

    private func metricFigure(metric: String, against x: String) -> FigureDeclaration {
        let by = seriesParameter(excluding: x)
        let xs = data.values(of: x, in: data.runs).compactMap(Double.init).sorted()
        let logScale = (xs.first ?? 0) > 0 && (xs.last ?? 0) / (xs.first ?? 1) >= 16
        let others = varying.filter { $0 != x && $0 != by }
        let caption = "Mean of \(metric) over the finished tasks at each value of \(x) (%n per point), with the 95% t-interval"
            + (by.map { "; one line per value of \($0)" } ?? "")
            + (others.isEmpty ? "; each point pools the seeds." : "; each point pools the seeds and the values of \(others.joined(separator: ", ")).")
        return FigureDeclaration(
            name: "metric_\(metric)_vs_\(x)", title: "\(metric) against \(x)", x: .parameter(x, log2: logScale), y: metric,
            series: by, caption: caption, presentation: .init(palette: .sequential, captionTemplate: caption))
    }

    private func curveFigure(metric: String, phase: String) -> FigureDeclaration {
        let by = seriesParameter(excluding: nil)
        let caption = "Mean of \(metric) over tasks after each \(phase) epoch (%n per point), the shaded band its 95% t-interval"
            + (by.map { "; one line per value of \($0), the other parameters and seeds pooled." } ?? "; all tasks pooled.")
        return FigureDeclaration(
            name: "curves_\(metric)_\(phase)", title: "Curves: \(metric) per epoch (\(phase))", x: .epoch(phase: phase), y: metric,
            series: by, caption: caption,
            presentation: .init(flatSentence: "Curves of %metric (\(phase)) are not drawn: it is %value at every epoch of all %tasks tasks.",
                                palette: .sequential, captionTemplate: caption))
    }
}
