import LeaseSimulation
import Testing

/// The deterministic simulation over a fixed set of seeds: every fault at once, hostile peers,
/// 200 workers and 2,000 tasks. A failing seed replays with
/// `grainsweep simulate --seed N --tasks 2000` (add `--lossless-links` for the second test).
@Suite struct SimulationTests {
    private static func options(_ seed: UInt64) -> SimulationOptions {
        var options = SimulationOptions(seed: seed)
        options.tasks = 2_000
        return options
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6] as [UInt64])
    func invariantsHoldUnderEveryFault(seed: UInt64) {
        let report = LeaseSimulation(options: Self.options(seed)).run()
        #expect(report.finished, "\(report)")
        #expect(report.violations.isEmpty, "\(report)\n\(report.violations.joined(separator: "\n"))")
        // The faults really happened (a simulation that injects nothing proves nothing).
        #expect(report.workerCrashes > 0 && report.coordinatorCrashes + report.coordinatorStalls > 0, "\(report)")
        // Leases were attributed to workers, never beyond their slots.
        #expect(report.peakLeasesOverSlots > 0 && report.peakLeasesOverSlots <= 1, "\(report.peakLeasesOverSlots)")
        #expect(report.counters.forgedClaims > 0 && report.counters.rejected + report.counters.stale > 0 && report.counters.refusedHellos > 0, "\(report)")
    }

    /// With links that lose and duplicate nothing (TCP within a connection), every finished task
    /// also has every curve point of its final attempt, across coordinator crashes and adoptions.
    @Test(arguments: [11, 12, 13] as [UInt64])
    func lossLessLinksLoseNoCurvePoint(seed: UInt64) {
        var options = Self.options(seed)
        options.loss = 0
        options.duplication = 0
        let report = LeaseSimulation(options: options).run()
        #expect(report.finished && report.violations.isEmpty, "\(report)\n\(report.violations.joined(separator: "\n"))")
    }

    @Test func theSameSeedGivesTheSameRun() {
        var options = SimulationOptions(seed: 42)
        options.tasks = 1_000
        let a = LeaseSimulation(options: options).run(), b = LeaseSimulation(options: options).run()
        #expect(a.description == b.description)
        #expect(a.events == b.events)
    }

    @Test func withoutFaultsEveryTaskSucceedsOnce() {
        var options = SimulationOptions(seed: 7)
        options.disableFaults()
        let report = LeaseSimulation(options: options).run()
        #expect(report.violations.isEmpty, "\(report)")
        #expect(report.resultRows == options.tasks && report.quarantined == 0)
        #expect(report.counters.expiredLeases == 0 && report.counters.dropped == 0)
    }
}
