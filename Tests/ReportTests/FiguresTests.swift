import Foundation
import Testing
@testable import Report

/// The science figures' intervals, n and flat metrics (issue 16).
@Suite struct FiguresTests {
    let provenance = ReportProvenance(version: "9.9.9")

    func page(_ sweep: SyntheticSweep) throws -> RenderedReport {
        let dir = try sweep.write(to: temporaryDirectory())
        return renderReport(try SweepData.load(directory: dir), provenance: provenance, generatedAt: "now", figures: hierarchyFigures)
    }

    /// The from-scratch baseline is the mean of few seeds: its 95% t-interval is drawn as a band
    /// centred on its dashed line, and the legend and caption give its n.
    @Test func baselineHasItsIntervalAndN() throws {
        let report = try page(SyntheticSweep())
        let hard = try #require(svgOfFigure("hard_acc_vs_granularity", in: report.html))
        #expect(count("class=\"reference-band\"", in: hard) == 2)
        // Baseline hard accuracy at rare_freq 0.1: 0.56, 0.57, 0.58 → 0.570 ± t(2)·0.01/√3.
        let halfWidth = 4.3026527 * 0.01 / 3.0.squareRoot()
        #expect(hard.contains("<title>from scratch, rare_freq 0.1: 0.570 ± \(String(format: "%.3f", halfWidth)) (n=3)</title></rect>"))
        #expect(hard.contains("from scratch (pretrain: none), n = 3, band: 95% CI"))
        let caption = try #require(report.figures.first { $0.name == "hard_acc_vs_granularity" }?.caption)
        #expect(caption.contains("(n = 3 per line)") && caption.contains("95% t-interval"))
        // Each band is centred on its line.
        for rf in ["0.1", "0.3"] {
            let band = try #require(element("rect", titled: "from scratch, rare_freq \(rf):", in: hard))
            let line = try #require(element("line", titled: "from scratch, rare_freq \(rf):", in: hard))
            let center = attribute("y", band)! + attribute("height", band)! / 2
            #expect(abs(center - attribute("y1", line)!) <= 0.1)
            #expect(attribute("height", band)! > 1)
        }
    }

    @Test func aSingleBaselineSeedHasNoBand() throws {
        var sweep = SyntheticSweep()
        sweep.baselineSeeds = [0]
        let hard = try #require(svgOfFigure("hard_acc_vs_granularity", in: try page(sweep).html))
        #expect(count("class=\"reference\"", in: hard) == 2)
        #expect(count("class=\"reference-band\"", in: hard) == 0)
        #expect(hard.contains("from scratch (pretrain: none), n = 1<"))
    }

    /// Easy accuracy 1.000 in every task: one sentence instead of a flat figure, and no SVG file.
    @Test func aFlatMetricBecomesASentence() throws {
        var sweep = SyntheticSweep()
        sweep.constantEasyAccuracy = 1.0
        let dir = try sweep.write(to: temporaryDirectory())
        // A figure file from an earlier report, when the metric still varied, must go.
        try FileManager.default.createDirectory(atPath: dir + "/figures", withIntermediateDirectories: true)
        try "<svg/>".write(toFile: dir + "/figures/easy_acc_vs_granularity.svg", atomically: true, encoding: .utf8)
        let written = try writeReport(directory: dir, provenance: provenance, generatedAt: "now", figures: catalogFigures)
        let html = try String(contentsOfFile: written.htmlPath, encoding: .utf8)
        #expect(svgOfFigure("easy_acc_vs_granularity", in: html) == nil)
        #expect(html.contains("<p class=\"flat-figure\" id=\"easy_acc_vs_granularity\">Easy-sample accuracy against granularity is not drawn: easy_acc is 1.000 in all 36 tasks.</p>"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/figures/easy_acc_vs_granularity.svg"))
        #expect(svgOfFigure("hard_acc_vs_granularity", in: html) != nil)
    }

    /// Flat: within 0.0025 (relative to the values, at least 1) of each other.
    @Test func flatWithinAQuarterPoint() {
        #expect(flatValue([1, 1, 1]) == "1.000")
        #expect(flatValue([0.99951, 1.0004]) == "1.000")
        #expect(flatValue([1, 0.999, 1, 0.998]) == "0.998 to 1.000")
        #expect(flatValue([0.997, 1.0]) == nil)
        #expect(flatValue([0.5, 0.51]) == nil)
        #expect(flatValue([100.1, 100.3]) == "100.1 to 100.3")  // 0.25% of 100
        #expect(flatValue([100, 101]) == nil)
        #expect(flatValue([0.5]) == nil)  // one task: nothing to compare
        #expect(flatValue([0.5, .nan]) == nil)
        #expect(flatValue([0.25, 0.25, .infinity]) == "0.250")
    }

    /// As in the quickstart sweep: 94 tasks at 1.000 and two at 0.999.
    @Test func nearlyFlatAccuracyIsASentenceWithItsRange() throws {
        let dir = try SyntheticSweep().write(to: temporaryDirectory())
        var data = try SweepData.load(directory: dir)
        for i in data.runs.indices { data.runs[i].metrics["easy_acc"] = i == 3 || i == 20 ? 0.999 : 1.0 }
        let report = renderReport(data, provenance: provenance, generatedAt: "now", figures: hierarchyFigures)
        #expect(report.omittedFigures.map(\.name) == ["easy_acc_vs_granularity"])
        #expect(report.html.contains("easy_acc is 0.999 to 1.000 in all 36 tasks."))
        #expect(svgOfFigure("easy_acc_vs_granularity", in: report.html) == nil)
    }

    @Test func flatLossCurvesBecomeSentences() throws {
        // Loss the same at every epoch of every task: both loss figures go, hard accuracy stays.
        let dir = try SyntheticSweep().write(to: temporaryDirectory())
        var data = try SweepData.load(directory: dir)
        data.curves = data.curves.map { var c = $0; c.metrics["loss"] = 0.693; return c }
        let report = renderReport(data, provenance: provenance, generatedAt: "now", figures: hierarchyFigures)
        #expect(report.omittedFigures.map(\.name) == ["curves_loss_pretrain", "curves_loss_finetune"])
        #expect(report.html.contains("Learning curves (fine-tuning) of training loss are not drawn: loss is 0.693 at every epoch of all 36 tasks."))
        #expect(svgOfFigure("curves_hard_acc_finetune", in: report.html) != nil)
    }

    /// Learning curves: a band per line (95% over seeds), n in the legend and tooltips, and loss.
    @Test func curvesHaveBandsNAndLoss() throws {
        let report = try page(SyntheticSweep())
        for metric in ["hard_acc", "loss"] {
            for phase in ["pretrain", "finetune"] {
                let svg = try #require(svgOfFigure("curves_\(metric)_\(phase)", in: report.html))
                let lines = 6  // 5 granularities and from scratch (the fixture gives it pretraining rows too)
                #expect(count("<polyline", in: svg) == 2 * lines, "\(metric) \(phase)")
                #expect(count("<polygon class=\"band\"", in: svg) == 2 * lines, "\(metric) \(phase)")
                #expect(svg.contains("granularity g (n = 3 seeds)"))
                #expect(!svg.contains("class=\"errorbar\""))
            }
        }
        // Loss at epoch 1 over seeds 0, 1, 2: 1.00, 1.01, 1.02 → 1.010 ± t(2)·0.01/√3.
        let loss = try #require(svgOfFigure("curves_loss_finetune", in: report.html))
        #expect(loss.contains("<title>g 1, epoch 1: 1.010 ± 0.025 (n=3)</title>"))
        #expect(loss.contains("mean training loss of the epoch"))
        let caption = try #require(report.figures.first { $0.name == "curves_loss_finetune" }?.caption)
        #expect(caption.contains("95% t-interval over seeds") && caption.contains("n = 3"))
    }

    @Test func failuresTableHasTheSeed() throws {
        let dir = try SyntheticSweep().write(to: temporaryDirectory())
        let header = "task_id,experiment,\(SyntheticSweep.parameters.joined(separator: ",")),seed,attempts,hosts,last_error,quarantined_at\n"
        let row = "00000000000000f1,hierarchy,2,8,4,0.1,0.5,16,64,8,aligned,supervised,probe,7,3,node-a;node-b,boom,2026-11-02T00:00:00Z\n"
        try (header + row).write(toFile: dir + "/failures.csv", atomically: true, encoding: .utf8)
        let html = renderReport(try SweepData.load(directory: dir), provenance: provenance, generatedAt: "now", figures: hierarchyFigures).html
        #expect(html.contains("<th>parameters</th><th>seed</th><th>attempts</th>"))
        #expect(html.contains("<td class=\"num\">7</td><td class=\"num\">3</td><td>node-a;node-b</td><td>boom</td>"))
        #expect(!html.contains("seed 7"))  // not also among the parameters
    }
}

/// The first `<name …>` element whose `<title>` starts with `title`.
func element(_ name: String, titled title: String, in svg: String) -> String? {
    for part in svg.components(separatedBy: "<\(name) ").dropFirst() {
        let tag = part.prefix { $0 != ">" }
        if part.dropFirst(tag.count).hasPrefix("><title>\(title)") { return String(tag) }
    }
    return nil
}

/// A numeric attribute of an element's text.
func attribute(_ name: String, _ element: String) -> Double? {
    guard let start = element.range(of: " \(name)=\"") ?? (element.hasPrefix("\(name)=\"") ? element.range(of: "\(name)=\"") : nil) else { return nil }
    return Double(element[start.upperBound...].prefix { $0 != "\"" })
}
