import Foundation
import Results
import Testing

/// The core version rule (issue 14), with real processes: a results directory records the bits
/// version of the core that computed it (sweep.json), and `grainsweep run` / `coordinator` refuse
/// to resume a directory of another version (exit status 2) unless `--allow-core-change` is given.
@Suite(.serialized) struct CoreVersionTests {
    /// Two tiny hierarchy tasks.
    private static let spec = """
        name: core-version
        experiment: hierarchy
        base:
          train_samples: 32
          finetune_samples: 16
          test_samples: 16
          epochs: 1
          finetune_epochs: 1
          dim: 32
          width: 2
        axes:
          granularity: [1, 8]
        seeds: 1

        """

    private func manifest(_ out: String) throws -> SweepManifest {
        try JSONDecoder().decode(SweepManifest.self, from: Data(contentsOf: URL(fileURLWithPath: out + "/sweep.json")))
    }

    /// Rewrites sweep.json as another build would have left it: `version` nil removes the field
    /// (a directory made before the version was recorded).
    private func setRecordedVersion(_ out: String, _ version: Int?) throws {
        let path = out + "/sweep.json"
        var json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        json["bitsVersion"] = version
        try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]).write(to: URL(fileURLWithPath: path))
    }

    @Test func anotherCoreVersionIsRefusedUnlessAllowed() throws {
        let dir = scratchDirectory("core-version")
        write(Self.spec, to: dir + "/s.yaml")
        let out = dir + "/out"
        let first = try grainsweep(["run", dir + "/s.yaml", "--out", out, "--workers", "1"] + fastTiming, in: dir, timeout: 300)
        #expect(first.status == 0, "\(first.err)")
        let current = try manifest(out).bitsVersion
        #expect(current >= 1)
        #expect(try readCSV(out + "/results.csv").rows.count == 2)

        // A directory of another core version: refused by both commands, with status 2, and
        // sweep.json keeps the recorded version (a refused attempt must not overwrite it).
        let other = current + 1
        try setRecordedVersion(out, other)
        for command in [["run", dir + "/s.yaml", "--out", out, "--workers", "1"],
                        ["coordinator", dir + "/s.yaml", "--out", out, "--bind", "tcp://127.0.0.1:\(freePort())"]] {
            let refused = try grainsweep(command + fastTiming, in: dir, timeout: 60)
            #expect(refused.status == 2, "\(command[0]): \(refused.err)")
            #expect(refused.err.hasPrefix("error: "), "\(refused.err)")
            #expect(refused.err.contains("core version \(other)") && refused.err.contains("version \(current)")
                    && refused.err.contains("--allow-core-change"), "\(refused.err)")
            #expect(try manifest(out).bitsVersion == other)
        }

        // Told to: resumes (nothing left to run) and records this build's version.
        let allowed = try grainsweep(["run", dir + "/s.yaml", "--out", out, "--workers", "1", "--allow-core-change"] + fastTiming,
                                     in: dir, timeout: 120)
        #expect(allowed.status == 0, "\(allowed.err)")
        #expect(allowed.err.contains("another core version"), "\(allowed.err)")
        #expect(try manifest(out).bitsVersion == current)
        #expect(try readCSV(out + "/results.csv").rows.count == 2)

        // A manifest without the field (written before the rule) reads as version 1.
        try setRecordedVersion(out, nil)
        #expect(try manifest(out).bitsVersion == 1)
        let old = try grainsweep(["run", dir + "/s.yaml", "--out", out, "--workers", "1"] + fastTiming, in: dir, timeout: 120)
        #expect(old.status == (current == 1 ? 0 : 2), "\(old.err)")
    }

    @Test func aNewDirectoryRecordsTheVersionAndAnEmptyOneIsNotRefused() throws {
        let dir = scratchDirectory("core-version-new")
        write(Self.spec, to: dir + "/s.yaml")
        let out = dir + "/out"
        // A directory with a manifest of another version but no results holds nothing to mix.
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let stale = SweepManifest(name: "core-version", experiment: "hierarchy", baseDigest: "x", grainsweepVersion: "old",
                                  createdAt: "2026-01-01T00:00:00Z", bitsVersion: 99)
        try JSONEncoder().encode(stale).write(to: URL(fileURLWithPath: out + "/sweep.json"))
        let r = try grainsweep(["run", dir + "/s.yaml", "--out", out, "--workers", "1"] + fastTiming, in: dir, timeout: 300)
        #expect(r.status == 0, "\(r.err)")
        #expect(try manifest(out).bitsVersion != 99)
    }
}
