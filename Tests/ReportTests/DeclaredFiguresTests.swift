import ExperimentAPI
import Foundation
import Testing
@testable import Report

/// Figures a family declares are drawn as declared: lines, panels, the reference dashed, filters,
/// and a sentence when nothing matches; families without declarations keep the generic figures.
@Suite struct DeclaredFiguresTests {
    /// Runs of a made-up family: risk = n^-1 * (2 for top, 1 for bottom) + seed/100, from scratch 3/n.
    static func data() -> SweepData {
        var runs: [TaskRun] = []
        var curves: [CurveSample] = []
        var id = 0
        for n in [5, 10, 20] {
            for placement in ["top", "bottom"] {
                for pretrain in ["exact", "none"] {
                    for model in ["linear", "relu"] {
                        for seed in 0..<3 {
                            id += 1
                            let base = pretrain == "none" ? 3.0 : placement == "top" ? 2.0 : 1.0
                            let risk = base / Double(n) + Double(seed) / 100
                            let taskID = String(format: "%032x", id)
                            runs.append(TaskRun(
                                taskID: taskID, attempt: "1",
                                parameters: ["target_samples": String(n), "difference_in": placement, "pretrain": pretrain, "model": model],
                                seed: String(seed), metrics: ["risk": risk], host: "h", finishedAt: "", wallSeconds: 0.1))
                            for epoch in 1...3 {
                                curves.append(CurveSample(taskID: taskID, attempt: "1", phase: "finetune", epoch: epoch,
                                                          metrics: ["risk": risk * Double(4 - epoch)]))
                            }
                        }
                    }
                }
            }
        }
        return SweepData(
            directory: "/nonexistent", experiment: "made_up", parameterNames: ["target_samples", "difference_in", "pretrain", "model"],
            metricNames: ["risk"], curveMetricNames: ["risk"], runs: runs, curves: curves)
    }

    static let declarations = [
        FigureDeclaration(
            name: "risk_vs_n", title: "Risk vs n", x: .parameter("target_samples", log2: true), y: "risk",
            series: "difference_in", facets: ["model"], only: ["model": ["linear", "relu"]],
            reference: .init(parameter: "pretrain", value: "none", label: "from scratch"), caption: "Claim."),
        FigureDeclaration(
            name: "curves", title: "Curves", x: .epoch(phase: "finetune"), y: "risk", series: "difference_in",
            only: ["model": ["linear"]], caption: "Curves."),
        FigureDeclaration(
            name: "nothing", title: "Nothing", x: .parameter("target_samples", log2: false), y: "risk",
            only: ["model": ["deep_linear"]], caption: "None."),
    ]

    @Test func declaredFiguresAreDrawnAsDeclared() throws {
        let report = renderReport(Self.data(), provenance: ReportProvenance(version: "test"), generatedAt: "now",
                                  figures: Self.declarations)
        let names = report.figures.map(\.name)
        #expect(names.contains("risk_vs_n") && names.contains("curves"))
        #expect(!names.contains(where: { $0.hasPrefix("metric_") }), "no generic figures when a family declares its own")
        #expect(report.omittedFigures.map(\.name) == ["nothing"])
        let figure = try #require(report.figures.first { $0.name == "risk_vs_n" })
        // Two panels (model), two lines each (difference_in), dashed references per line.
        #expect(figure.svg.contains("model linear") && figure.svg.contains("model relu"))
        #expect(figure.svg.contains("difference_in top") && figure.svg.contains("difference_in bottom"))
        #expect(figure.svg.contains("from scratch"))
        #expect(figure.svg.contains("stroke-dasharray"))
        // The mean over seeds 0, 1, 2 at n = 5, top: 2/5 + 0.01 = 0.410 ± t(2)·s/√3.
        #expect(figure.svg.contains("0.410 ± 0.025"))
        #expect(figure.caption.hasPrefix("Claim.") && figure.caption.contains("One panel per model"))
        #expect(report.html.contains("<svg") && !report.html.contains("<img"))
    }

    @Test func familiesWithoutDeclarationsKeepTheGenericFigures() {
        let report = renderReport(Self.data(), provenance: ReportProvenance(version: "test"), generatedAt: "now")
        #expect(report.figures.contains { $0.name == "metric_risk_vs_target_samples" })
    }

    /// A declared figure of a metric the sweep does not have (results of an older core) is left
    /// out without a sentence; one whose tasks are all filtered out gets its sentence.
    @Test func aMetricTheSweepLacksLeavesItsFigureOut() {
        let missing = FigureDeclaration(name: "gap", title: "Gap", x: .parameter("target_samples", log2: false), y: "not_measured",
                                        caption: "Absent.")
        let report = renderReport(Self.data(), provenance: ReportProvenance(version: "test"), generatedAt: "now",
                                  figures: Self.declarations + [missing])
        #expect(!report.figures.contains { $0.name == "gap" })
        #expect(report.omittedFigures.map(\.name) == ["nothing"])
    }

    /// Against another metric: one point per task, the reference tasks as triangles.
    @Test func aMetricAxisDrawsOnePointPerTask() throws {
        var data = Self.data()
        for i in data.runs.indices { data.runs[i].metrics["start_risk"] = Double(i) / 100 }
        data.metricNames.append("start_risk")
        let scatter = FigureDeclaration(
            name: "scatter", title: "Risk vs start", x: .metric("start_risk"), y: "risk", series: "difference_in",
            only: ["model": ["linear"]], reference: .init(parameter: "pretrain", value: "none", label: "from scratch"), caption: "Points.")
        let report = renderReport(data, provenance: ReportProvenance(version: "test"), generatedAt: "now", figures: [scatter])
        let svg = try #require(report.figures.first { $0.name == "scatter" }?.svg)
        // 3 n x 2 placements x 3 seeds pretrained (circles), as many from scratch (triangles).
        #expect(svg.components(separatedBy: "<title>difference_in ").count - 1 == 18)
        #expect(svg.components(separatedBy: "<title>from scratch, ").count - 1 == 18)
        #expect(!svg.contains("<polyline"))
    }

    /// A reference belongs to a panel by the facets that vary among the reference runs; with
    /// `matchesEveryFacet`, by every facet.
    @Test func referencesMatchPanelsAsDeclared() throws {
        var data = Self.data()
        // The baseline was run with the linear model only.
        data.runs.removeAll { $0.parameters["pretrain"] == "none" && $0.parameters["model"] == "relu" }
        func figure(strict: Bool) throws -> String {
            let d = FigureDeclaration(
                name: "f", title: "F", x: .parameter("target_samples", log2: true), y: "risk", series: "difference_in",
                facets: ["model"], reference: .init(parameter: "pretrain", value: "none", label: "from scratch", matchesEveryFacet: strict),
                caption: "")
            return try #require(renderReport(data, provenance: ReportProvenance(version: "test"), generatedAt: "now", figures: [d])
                .figures.first?.svg)
        }
        func dashedLines(_ svg: String) -> Int { svg.components(separatedBy: "data-series=\"from scratch").count - 1 }
        #expect(dashedLines(try figure(strict: false)) == 2 * dashedLines(try figure(strict: true)))
    }
}
