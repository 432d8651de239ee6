import Foundation
import Testing

/// A sampled spec end to end: `plan` shows its points, `run` runs them, and a grown sample (larger
/// n, same seed and space) runs only the new points.
@Suite(.serialized) struct SampledSweepTests {
    static func spec(n: Int) -> String {
        """
        name: sampled
        experiment: sleep
        axes: {epochs: [0, 1]}
        sample:
          n: \(n)
          method: sobol
          seed: 4
          space:
            sleep_ms: {uniform: [0, 5]}
        """
    }

    @Test func aSampledSpecPlansRunsAndGrowsWithoutRerunningFinishedPoints() throws {
        let dir = scratchDirectory("sampled")
        write(Self.spec(n: 8), to: dir + "/s.yaml")
        let summary = try grainsweep(["plan", dir + "/s.yaml"], in: dir)
        #expect(summary.status == 0, "\(summary.err)")
        #expect(summary.out.contains("tasks: 16 = 1 seeds × 8 sampled points (sleep_ms) × 2 epochs"), "\(summary.out)")
        #expect(summary.out.contains("sample: sobol, n 8, seed 4") && summary.out.contains("sleep_ms  uniform [0.0, 5.0]"), "\(summary.out)")
        let small = try plannedTaskIDs(dir + "/s.yaml", in: dir)
        #expect(small.count == 16)

        let first = try grainsweep(["run", dir + "/s.yaml", "--out", dir + "/out", "--workers", "2", "--progress", "log"], in: dir)
        #expect(first.status == 0, "\(first.err)")
        #expect(first.err.contains("16/16 tasks done (16 this run)"), "\(first.err)")

        write(Self.spec(n: 12), to: dir + "/s.yaml")
        let grown = try plannedTaskIDs(dir + "/s.yaml", in: dir)
        #expect(Array(grown.prefix(16)) == small)
        let again = try grainsweep(["run", dir + "/s.yaml", "--out", dir + "/out", "--workers", "2", "--progress", "log"], in: dir)
        #expect(again.status == 0, "\(again.err)")
        #expect(again.err.contains("24/24 tasks done (8 this run)"), "\(again.err)")
        let results = try readCSV(dir + "/out/results.csv")
        #expect(results.rows.count == 24)
        #expect(Set(results.rows.map { $0[results.header.firstIndex(of: "task_id")!] }) == Set(grown))
    }
}
