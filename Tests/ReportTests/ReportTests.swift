import Foundation
import Testing
@testable import Report

@Suite struct ReportTests {
    let provenance = ReportProvenance(version: "9.9.9", commit: "cafebabe")

    func render(_ dir: String) throws -> RenderedReport {
        renderReport(try SweepData.load(directory: dir), provenance: provenance, generatedAt: "2026-11-28T00:00:00Z", figures: hierarchyFigures)
    }

    /// `mean ± half-width` computed here, independently of the module.
    func expectedCell(_ values: [Double]) -> String {
        let n = Double(values.count)
        let mean = values.reduce(0, +) / n
        let s = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / (n - 1)).squareRoot()
        let t: [Int: Double] = [2: 4.3026527, 1: 12.7062047]
        return String(format: "%.3f ± %.3f", mean, t[values.count - 1]! * s / n.squareRoot())
    }

    @Test func figuresOfTheHierarchyFamily() throws {
        let dir = try SyntheticSweep().write(to: temporaryDirectory())
        let written = try writeReport(directory: dir, provenance: provenance, generatedAt: "now", figures: catalogFigures)
        #expect(written.htmlPath == dir + "/report.html")
        #expect(written.taskCount == 2 * 5 * 3 + 2 * 3)
        let names = written.figurePaths.map { ($0 as NSString).lastPathComponent }
        #expect(names == [
            "hard_acc_vs_granularity.svg", "easy_acc_vs_granularity.svg", "alignment_scatter.svg",
            "curves_hard_acc_pretrain.svg", "curves_hard_acc_finetune.svg", "curves_loss_pretrain.svg", "curves_loss_finetune.svg",
            "throughput.svg", "wall_seconds_histogram.svg",
        ])
        for path in written.figurePaths {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            #expect(text.hasPrefix("<?xml") && text.hasSuffix("</svg>\n"))
        }
        let html = try String(contentsOfFile: written.htmlPath, encoding: .utf8)
        let hard = try #require(svgOfFigure("hard_acc_vs_granularity", in: html))
        // One panel (only granularity, rare_freq and pretrain vary): one polyline per rare_freq,
        // one dashed baseline per rare_freq, 5 granularities × 2 lines of error bars.
        #expect(count("<polyline", in: hard) == 2)
        #expect(count("class=\"reference\"", in: hard) == 2)
        #expect(count("class=\"errorbar\"", in: hard) == 10)
        #expect(count("class=\"panel\"", in: hard) == 1)
        #expect(hard.contains("label granularity g (classes per superclass, log2)"))
        #expect(hard.contains("hard-sample test accuracy (fraction)"))
        for tick in ["1", "2", "4", "8", "16"] { #expect(hard.contains(">\(tick)</text>")) }
        #expect(hard.contains("rare_freq 0.1") && hard.contains("rare_freq 0.3") && hard.contains("from scratch (pretrain: none)"))
        // The scatter has one point per pretrained task, colored by granularity.
        let scatter = try #require(svgOfFigure("alignment_scatter", in: html))
        #expect(count("<circle class=\"marker\" cx=", in: scatter) >= 30)
        #expect(scatter.contains("common-feature alignment") && scatter.contains("fine-feature alignment"))
        // Curves: one line per granularity plus the from-scratch line in fine-tuning, per rare_freq panel.
        let finetune = try #require(svgOfFigure("curves_hard_acc_finetune", in: html))
        #expect(count("<polyline", in: finetune) == 2 * 6)
        #expect(!finetune.contains("0.010"))  // the running task's curve point is not drawn
        let pretrain = try #require(svgOfFigure("curves_hard_acc_pretrain", in: html))
        #expect(count("<polyline", in: pretrain) == 2 * 6)
    }

    @Test func tableHasTheGroupMeans() throws {
        let sweep = SyntheticSweep()
        let html = try render(sweep.write(to: temporaryDirectory())).html
        for rf in sweep.rareFrequencies {
            for g in sweep.granularities {
                let hard = sweep.seeds.map { SyntheticSweep.hardAccuracy(g: g, rf: rf, noise: 0.5, seed: $0) }
                let easy = sweep.seeds.map { SyntheticSweep.easyAccuracy(g: g, rf: rf, noise: 0.5, seed: $0) }
                let row = "<tr><td>\(g)</td><td>\(rf)</td><td>supervised</td><td class=\"num\">3</td>"
                    + "<td class=\"num\">\(expectedCell(easy))</td><td class=\"num\">\(expectedCell(hard))</td>"
                #expect(html.contains(row), "missing row \(row)")
            }
        }
        #expect(html.contains("The same in every run: <code>superclasses</code> 2"))
        #expect(!html.contains("extra_column"))
        // Provenance.
        #expect(html.contains("grainsweep 9.9.9, commit cafebabe"))
        #expect(html.contains("grainsweep 0.1.0"))
        #expect(html.contains("node-a (24), node-b (12)"))
        #expect(html.contains("2026-11-01T10:00:00Z to 2026-11-03T10:00:00Z"))
    }

    @Test func panelsPerNoise() throws {
        var sweep = SyntheticSweep()
        sweep.noises = [0.25, 0.5]
        let html = try render(sweep.write(to: temporaryDirectory())).html
        let hard = try #require(svgOfFigure("hard_acc_vs_granularity", in: html))
        #expect(count("class=\"panel\"", in: hard) == 2)
        #expect(count("<polyline", in: hard) == 4)
        #expect(hard.contains("noise 0.25") && hard.contains("noise 0.5"))
    }

    @Test func alignmentVariantsArePanelsWithTheSameBaseline() throws {
        var sweep = SyntheticSweep()
        sweep.alignments = ["aligned", "misaligned", "random"]
        let html = try render(sweep.write(to: temporaryDirectory())).html
        let hard = try #require(svgOfFigure("hard_acc_vs_granularity", in: html))
        #expect(count("class=\"panel\"", in: hard) == 3)
        #expect(count("<polyline", in: hard) == 3 * 2)
        // The from-scratch runs have no pretraining labels: each panel shows them, per rare_freq.
        #expect(count("class=\"reference\"", in: hard) == 3 * 2)
        #expect(hard.contains(">alignment misaligned<") && hard.contains(">alignment random<"))
    }

    @Test func partialDirectoryWithATornLastLine() throws {
        // A row cut mid-write, inside an open quote: it must be dropped, not crash the reader.
        let dir = try SyntheticSweep().write(to: temporaryDirectory(), tornResults: "00000000000000ff,hierarchy,2,8,4,0.1,0.5,16,\"ali")
        let data = try SweepData.load(directory: dir)
        #expect(data.runs.count == 36)
        #expect(data.notes.contains { $0.contains("torn last line") })
        let html = renderReport(data, provenance: provenance, generatedAt: "now", figures: hierarchyFigures).html
        #expect(html.contains("torn last line"))
        #expect(svgOfFigure("hard_acc_vs_granularity", in: html) != nil)
    }

    @Test func rowsWithTheWrongFieldCountAreDropped() throws {
        let dir = try SyntheticSweep().write(to: temporaryDirectory(), tornResults: "00000000000000ff,hierarchy,2,8\n")
        let data = try SweepData.load(directory: dir)
        #expect(data.runs.count == 36)
        #expect(data.notes.contains { $0.contains("wrong number of fields") })
    }

    @Test func emptyDirectory() throws {
        var sweep = SyntheticSweep()
        sweep.granularities = []
        sweep.withBaseline = false
        let dir = try sweep.write(to: temporaryDirectory())
        let written = try writeReport(directory: dir, provenance: provenance, generatedAt: "now", figures: catalogFigures)
        #expect(written.taskCount == 0 && written.figurePaths.isEmpty)
        let html = try String(contentsOfFile: written.htmlPath, encoding: .utf8)
        #expect(html.contains("No finished tasks yet"))
        #expect(!html.contains("<svg"))
    }

    @Test func directoryWithoutAnyFile() throws {
        let dir = temporaryDirectory()
        let html = try render(dir).html
        #expect(html.contains("No finished tasks yet"))
        #expect(html.contains("No spec.yaml"))
    }

    @Test func missingDirectoryIsAnError() {
        #expect(throws: ReportError.self) { try SweepData.load(directory: "/nonexistent/grainsweep-report") }
    }

    @Test func sleepFamilyShowsATable() throws {
        let dir = temporaryDirectory()
        var csv = "task_id,experiment,sleep_ms,epochs,fail,seed,value,attempt,host,threads,wall_seconds,finished_at\n"
        for ms in [0, 10] {
            for seed in 0..<4 {
                csv += "\(String(format: "%016x", ms * 10 + seed)),sleep,\(ms),0,never,\(seed),\(Double(seed) * 0.5 + Double(ms)),1,h,1,0.01,2026-11-01T00:00:0\(seed)Z\n"
            }
        }
        try csv.write(toFile: dir + "/results.csv", atomically: true, encoding: .utf8)
        try "task_id,attempt,phase,epoch,value\n".write(toFile: dir + "/curves.csv", atomically: true, encoding: .utf8)
        let written = try writeReport(directory: dir, provenance: provenance, generatedAt: "now", figures: catalogFigures)
        // A family without figures of its own gets its metric against each varying numeric
        // parameter, then the family-independent operations figures.
        #expect(written.figurePaths.map { ($0 as NSString).lastPathComponent }
                == ["metric_value_vs_sleep_ms.svg", "throughput.svg", "wall_seconds_histogram.svg"])
        let html = try String(contentsOfFile: written.htmlPath, encoding: .utf8)
        #expect(count("<svg", in: html) == 3)
        #expect(html.contains("value against sleep_ms") && html.contains("(n=4)"))
        // value = seed/2 + ms over seeds 0..3: mean ms + 0.75, s = sqrt(5/12) * 1, t(3) = 3.1824463.
        let hw = 3.1824463 * (5.0 / 12.0).squareRoot() / 2
        #expect(html.contains("<tr><td>10</td><td class=\"num\">4</td><td class=\"num\">\(String(format: "10.75 ± %.2f", hw))</td>"))
        #expect(html.contains("<tr><td>0</td><td class=\"num\">4</td><td class=\"num\">\(String(format: "0.750 ± %.3f", hw))</td>"))
    }

    /// The coordinator compacts curves.csv only when it starts: after a sweep with retries the file
    /// still holds rows of superseded attempts, and rows of tasks that never finished.
    @Test func curvesKeepOnlyTheAttemptRecordedInResults() throws {
        let dir = temporaryDirectory()
        let results = """
            task_id,experiment,sleep_ms,epochs,fail,seed,value,attempt,host,threads,wall_seconds,finished_at
            00000000000000aa,sleep,0,2,never,0,1.5,2,h,1,0.01,2026-11-01T00:00:00Z
            00000000000000bb,sleep,0,2,never,1,2.5,1,h,1,0.01,2026-11-01T00:00:01Z

            """
        let curves = """
            task_id,attempt,phase,epoch,value
            00000000000000aa,1,sleep,1,100
            00000000000000bb,1,sleep,1,2.5
            00000000000000aa,1,sleep,2,101
            00000000000000aa,2,sleep,1,1.5
            00000000000000cc,1,sleep,1,300
            00000000000000aa,2,sleep,2,2.5
            00000000000000bb,1,sleep,2,3.5
            00000000000000bb,2,sleep,1,200
            00000000000000aa,3,sleep,1,400

            """
        try results.write(toFile: dir + "/results.csv", atomically: true, encoding: .utf8)
        try curves.write(toFile: dir + "/curves.csv", atomically: true, encoding: .utf8)
        let data = try SweepData.load(directory: dir)
        #expect(data.curves.map { "\($0.taskID)/\($0.attempt)/\($0.epoch)" } == [
            "00000000000000bb/1/1", "00000000000000aa/2/1", "00000000000000aa/2/2", "00000000000000bb/1/2",
        ])
        #expect(data.curves.allSatisfy { $0.metrics["value"]! < 100 })
        #expect(data.notes.contains("curves.csv: 5 row(s) of tasks without a result or of superseded attempts not shown."))
    }

    @Test func textIsEscaped() throws {
        var sweep = SyntheticSweep()
        sweep.specText = "name: x\n# <script>alert('x')</script> & more\n"
        let html = try render(sweep.write(to: temporaryDirectory())).html
        #expect(!html.contains("<script"))
        #expect(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"))
    }

    @Test func outputIsDeterministic() throws {
        let dir = try SyntheticSweep().write(to: temporaryDirectory())
        let a = try writeReport(directory: dir, output: dir + "/a.html", provenance: provenance, generatedAt: "same", figures: catalogFigures)
        let first = try String(contentsOfFile: a.htmlPath, encoding: .utf8)
        let svg = try String(contentsOfFile: a.figurePaths[0], encoding: .utf8)
        _ = try writeReport(directory: dir, output: dir + "/a.html", provenance: provenance, generatedAt: "same", figures: catalogFigures)
        #expect(try String(contentsOfFile: a.htmlPath, encoding: .utf8) == first)
        #expect(try String(contentsOfFile: a.figurePaths[0], encoding: .utf8) == svg)
        let other = try render(dir).html
        let strip = { (s: String) in s.split(separator: "\n").filter { !$0.hasPrefix("<p class=\"generated\">") } }
        #expect(strip(other) == strip(first))
    }
}

/// Figures of families the report has none of its own for (command, sleep).
@Suite struct GenericFigureTests {
    @Test func everyDeclaredMetricIsDrawnAgainstEachNumericParameterAndCurvesPerEpoch() throws {
        let dir = NSTemporaryDirectory() + "grainsweep-generic-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var csv = "task_id,experiment,lr,opt,seed,loss,acc,attempt,host,threads,wall_seconds,finished_at\n"
        var curves = "task_id,attempt,phase,epoch,loss,acc\n"
        var n = 0
        for lr in ["0.01", "0.1", "1.0"] {
            for opt in ["sgd", "adam"] {
                for seed in 0..<3 {
                    let id = String(format: "%032x", n)
                    let loss = Double(lr)! + Double(seed) * 0.01 + (opt == "adam" ? 0.5 : 0)
                    csv += "\(id),command,\(lr),\(opt),\(seed),\(loss),0.9,1,h,1,0.2,2026-11-01T00:00:0\(seed)Z\n"
                    for epoch in 1...3 { curves += "\(id),1,train,\(epoch),\(loss / Double(epoch)),0.9\n" }
                    // A superseded attempt's point must not be drawn.
                    curves += "\(id),0,train,1,999,0.1\n"
                    n += 1
                }
            }
        }
        try csv.write(toFile: dir + "/results.csv", atomically: true, encoding: .utf8)
        try curves.write(toFile: dir + "/curves.csv", atomically: true, encoding: .utf8)
        let written = try writeReport(directory: dir, provenance: ReportProvenance(version: "t"), generatedAt: "now", figures: catalogFigures)
        let names = written.figurePaths.map { (($0 as NSString).lastPathComponent as NSString).deletingPathExtension }
        #expect(names.contains("metric_loss_vs_lr") && names.contains("curves_loss_train"), "\(names)")
        #expect(!names.contains("metric_loss_vs_opt"), "a text parameter makes lines, not an axis")
        #expect(!names.contains("metric_acc_vs_lr") && !names.contains("curves_acc_train"), "flat metrics are sentences")
        let html = try String(contentsOfFile: written.htmlPath, encoding: .utf8)
        #expect(html.contains("acc is 0.900 in all 18 tasks"))
        let figure = try String(contentsOfFile: dir + "/figures/metric_loss_vs_lr.svg", encoding: .utf8)
        #expect(figure.contains("opt adam") && figure.contains("opt sgd"))
        // lr 1.0, sgd: loss 1.0, 1.01, 1.02: mean 1.010 over n = 3.
        #expect(figure.contains("lr 1, opt sgd: 1.010 ± 0.025 (n=3)"), "\(figure)")
        let curve = try String(contentsOfFile: dir + "/figures/curves_loss_train.svg", encoding: .utf8)
        // Epoch 1 pools 2 optimisers × 3 seeds; a superseded attempt's point would make it 12.
        #expect(curve.contains("lr 0.01, epoch 1: 0.270 ± 0.288 (n=6)"), "points of superseded attempts are not drawn: \(curve)")
    }
}
