import ExperimentAPI
import SweepModel
import Testing

@Suite struct GuardRailTests {
    @Test func gridsOverTheLimitAreRefusedWithTheCount() throws {
        let e = try #require(onlyError("""
            name: t
            experiment: toy
            axes:
              parts: [1, 2, 3, 4]
              mode: [fast, slow]
            seeds: 10
            """, limits: SweepLimits(maximumTasks: 79)))
        #expect(e.code == .gridSize)
        #expect(e.found == "80 tasks (10 seeds × 4 axes.parts × 2 axes.mode)")
        #expect(e.expected == "at most 79 tasks")
        #expect(e.line == 3)
        #expect(try plan("name: t\nexperiment: toy\naxes: {parts: [1, 2, 3, 4], mode: [fast, slow]}\nseeds: 10\n",
                         limits: SweepLimits(maximumTasks: 80)).count == 80)
    }

    /// The count is computed from the sizes before anything is expanded: 10^18 combinations are refused at once.
    @Test(.timeLimit(.minutes(1)))
    func hugeGridsAreRefusedBeforeExpansion() throws {
        let e = try #require(onlyError("""
            name: t
            experiment: sleep
            axes:
              sleep_ms: {from: 1, to: 1000000}
              epochs: {from: 0, to: 9999}
              fail: [never, always]
            seeds: 1000000000
            """))
        #expect(e.code == .gridSize)
        #expect(e.found == "more than 9,223,372,036,854,775,807 tasks (1000000000 seeds × 1000000 axes.sleep_ms × 10000 axes.epochs × 2 axes.fail)")
        let big = try #require(onlyError("name: t\nexperiment: sleep\naxes: {epochs: {from: 1, to: 10000}}\nseeds: 2000\n"))
        #expect(big.found.hasPrefix("20,000,000 tasks"))
        #expect(big.expected == "at most 10,000,000 tasks")
    }

    @Test func excludingEverythingIsAnError() throws {
        let all = errors("name: t\nexperiment: toy\naxes: {parts: [1, 2]}\nexclude: [{parts: [1, 2]}]\n")
        #expect(all.map(\.code) == [.gridSize])
        #expect(all.first?.found == "every one of the 2 tasks excluded")
    }

    @Test func rangesLongerThanTheLimitAreRefused() throws {
        let e = try #require(onlyError("name: t\nexperiment: toy\naxes: {rate: {linspace: [0.1, 1], num: 1000}}\n",
                                       limits: SweepLimits(maximumTasks: 100)))
        #expect(e.code == .badRange && e.path == "axes.rate.num")
    }
}
