import Testing
@testable import Report

@Suite struct StatisticsTests {
    @Test func tIntervalOfAKnownSample() throws {
        // 1...5: mean 3, s = sqrt(2.5), t(0.975, 4) = 2.7764451 → half-width 2.7764451 * sqrt(2.5) / sqrt(5).
        let s = try #require(ReplicateSummary([1, 2, 3, 4, 5]))
        #expect(s.count == 5)
        #expect(s.mean == 3)
        #expect(abs(s.standardDeviation! - 2.5.squareRoot()) < 1e-12)
        #expect(abs(s.halfWidth! - 1.963243) < 1e-6)
    }

    @Test func twoSeedsUseTheWideQuantile() throws {
        let s = try #require(ReplicateSummary([0, 1]))
        #expect(abs(s.halfWidth! - 12.7062047 * 0.5) < 1e-9)
    }

    @Test func oneSeedHasNoInterval() throws {
        let s = try #require(ReplicateSummary([0.75]))
        #expect(s.mean == 0.75)
        #expect(s.halfWidth == nil)
        #expect(formatSummary(s) == "0.750")
    }

    @Test func nonFiniteValuesAreIgnored() throws {
        #expect(ReplicateSummary([.nan]) == nil)
        #expect(ReplicateSummary([]) == nil)
        #expect(try #require(ReplicateSummary([1, .nan, 3])).count == 2)
    }

    @Test(arguments: [(30, 2.0422725), (40, 2.0210754), (60, 2.0002978), (120, 1.9799304), (1000, 1.9623391)])
    func tQuantiles(df: Int, expected: Double) {
        #expect(abs(studentT975(degreesOfFreedom: df) - expected) < 2e-5)
    }
}
