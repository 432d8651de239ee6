import Foundation
import Testing

/// The linear-teachers family end to end: a small sweep with two workers gives, row for row, the
/// bits of `grainsweep train --experiment linear-teachers` with another thread count, and its
/// report draws the family's declared figures.
@Suite(.serialized) struct LinearTeachersSweepTests {
    @Test func sweepRowsEqualTrainBitForBitAndTheReportDrawsTheFamilysFigures() throws {
        let dir = scratchDirectory("linear-teachers")
        let spec = dir + "/lt.yaml"
        write("""
            name: lt-tiny
            experiment: linear_teachers
            base: {dim: 20, difference_dims: 4, max_steps: 600, epoch_steps: 100, noise: 0.1}
            axes:
              target_samples: [5, 40]
            zip:
              - model: [linear, linear, deep_linear, relu]
                depth: [1, 1, 3, 1]
                pretrain: [exact, none, exact, source]
                width: [64, 64, 64, 16]
            seeds: 1
            """, to: spec)
        let out = dir + "/out"
        let r = try grainsweep(["run", spec, "--out", out, "--workers", "2"] + fastTiming, in: dir, timeout: 120)
        #expect(r.status == 0, "\(r.err)")
        let (header, rows) = try readCSV(out + "/results.csv")
        #expect(rows.count == 8)
        let experimentColumn = header.firstIndex(of: "experiment")!
        let seedColumn = header.firstIndex(of: "seed")!
        let attemptColumn = header.firstIndex(of: "attempt")!
        let parameters = Array(header[(experimentColumn + 1)...seedColumn])
        let metrics = Array(header[(seedColumn + 1)..<attemptColumn])
        #expect(metrics.first == "risk")
        for row in rows {
            #expect(row[experimentColumn] == "linear_teachers")
            var arguments = ["train", "--experiment", "linear-teachers", "--threads", "3"]
            for (offset, name) in parameters.enumerated() { arguments += ["--\(name)", row[experimentColumn + 1 + offset]] }
            let t = try grainsweep(arguments, in: dir, timeout: 60)
            #expect(t.status == 0, "\(t.err)")
            let json = flatJSONFields(t.out.split(separator: "\n").last.map(String.init) ?? "")
            #expect(json["task_id"] == "\"\(row[0])\"")
            for (offset, name) in metrics.enumerated() {
                let csv = Double(row[seedColumn + 1 + offset])!
                let trained = Double(json[name] ?? "") ?? .nan
                #expect(csv.bitPattern == trained.bitPattern, "task \(row[0]) \(name): results.csv \(csv), train \(trained)")
            }
        }
        let report = try grainsweep(["report", out], in: dir, timeout: 60)
        #expect(report.status == 0, "\(report.err)")
        let html = (try? String(contentsOfFile: out + "/report.html", encoding: .utf8)) ?? ""
        #expect(html.contains("Target risk after fine-tuning vs. n"))
        #expect(FileManager.default.fileExists(atPath: out + "/figures/risk_vs_n_by_difference.svg"))
    }
}
