import Foundation
import Testing

/// The end-to-end path a user takes: `grainsweep run` on the smoke preset with two workers, and
/// every row checked against `grainsweep train` for the same parameters and seed, bit for bit.
@Suite(.serialized) struct SmokeSweepTests {
    @Test func smokeSweepRowsEqualTrainBitForBit() throws {
        let dir = scratchDirectory("smoke")
        let spec = packageRoot + "/sweeps/smoke.yaml"
        let out = dir + "/out"
        let r = try grainsweep(["run", spec, "--out", out, "--workers", "2"] + fastTiming, in: dir, timeout: 300)
        #expect(r.status == 0, "\(r.err)")
        let (header, rows) = try readCSV(out + "/results.csv")
        let planned = try plannedTaskIDs(spec, in: dir)
        #expect(rows.count == planned.count)
        #expect(Set(rows.map { $0[0] }) == Set(planned))
        let experimentColumn = header.firstIndex(of: "experiment")!
        let seedColumn = header.firstIndex(of: "seed")!
        let attemptColumn = header.firstIndex(of: "attempt")!
        let parameters = Array(header[(experimentColumn + 1)...seedColumn])
        let metrics = Array(header[(seedColumn + 1)..<attemptColumn])
        #expect(metrics.contains("hard_acc") && metrics.contains("easy_acc"))
        for row in rows {
            var arguments = ["train", "--threads", "1"]
            for (offset, name) in parameters.enumerated() {
                arguments += ["--\(name)", row[experimentColumn + 1 + offset]]
            }
            let t = try grainsweep(arguments, in: dir, timeout: 120)
            #expect(t.status == 0, "\(t.err)")
            let last = t.out.split(separator: "\n").last.map(String.init) ?? ""
            // Valid JSON, read back with Swift's correctly rounded Double(String) rather than
            // Foundation's number parser, which loses low bits on Linux.
            #expect((try? JSONSerialization.jsonObject(with: Data(last.utf8))) is [String: Any])
            let json = flatJSONFields(last)
            #expect(json["task_id"] == "\"\(row[0])\"")
            for (offset, name) in metrics.enumerated() {
                // The CSV holds shortest round-trip decimals, so equal text means equal bits.
                let csv = Double(row[seedColumn + 1 + offset])!
                let trained = Double(json[name] ?? "") ?? .nan
                #expect(csv.bitPattern == trained.bitPattern, "task \(row[0]) metric \(name): results.csv \(csv), train \(trained)")
            }
        }
    }
}

/// The raw value text of each key of a flat JSON object as `grainsweep train` prints it.
func flatJSONFields(_ line: String) -> [String: String] {
    var fields: [String: String] = [:]
    var body = Substring(line.dropFirst().dropLast())
    while !body.isEmpty {
        guard body.first == "\"", let keyEnd = body.dropFirst().firstIndex(of: "\"") else { break }
        let key = String(body[body.index(after: body.startIndex)..<keyEnd])
        body = body[body.index(keyEnd, offsetBy: 2)...]
        var end = body.startIndex
        var inString = false
        while end < body.endIndex {
            let c = body[end]
            if c == "\"" { inString.toggle() } else if c == "," && !inString { break }
            end = body.index(after: end)
        }
        fields[key] = String(body[..<end])
        body = end < body.endIndex ? body[body.index(after: end)...] : ""
    }
    return fields
}

@Suite struct TrainCommandTests {
    @Test(arguments: [
        (["--rare_freq", "1.5"], "rare_freq", "(0, 1]"),
        (["--rare_freq", "0"], "rare_freq", "(0, 1]"),
        (["--granularity", "3"], "granularity", "divisor"),
        (["--dim", "10"], "dim", "an integer >= superclasses * (1 + subclasses) = 18"),
        (["--noise", "-1"], "noise", ">= 0"),
        (["--width", "abc"], "width", "integer"),
        (["--rare_frq", "0.5"], "rare_frq", "did you mean --rare_freq"),
    ])
    func invalidValuesNameTheParameterAndRange(arguments: [String], parameter: String, hint: String) throws {
        let dir = scratchDirectory("train-invalid")
        let r = try grainsweep(["train"] + arguments, in: dir)
        #expect(r.status != nil && r.status != 0)
        #expect(r.err.contains(parameter) && r.err.contains(hint), "\(r.err)")
        #expect(r.out.isEmpty)
    }

    @Test func progressLinesComeBeforeTheFinalJSON() throws {
        let dir = scratchDirectory("train-progress")
        let r = try grainsweep(["train", "--progress", "--threads", "2", "--epochs", "2", "--finetune_epochs", "1",
                                "--train_samples", "64", "--test_samples", "32", "--finetune_samples", "32", "--width", "2"], in: dir)
        #expect(r.status == 0, "\(r.err)")
        let lines = r.out.split(separator: "\n")
        #expect(lines.count == 4)  // 2 pretraining epochs, 1 fine-tuning epoch, the final object
        #expect(lines.dropLast().allSatisfy { $0.contains("\"phase\"") && $0.contains("\"epoch\"") })
        #expect(lines.last!.contains("\"hard_acc\"") && lines.last!.contains("\"threads\":2"))
    }
}
