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
