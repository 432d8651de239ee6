import Foundation

/// The mean of a set of replicates and its 95% confidence interval.
///
/// The interval is the two-sided Student t-interval over seeds: `mean ± t(0.975, n−1) · s / √n`,
/// with `s` the sample standard deviation (divisor n−1). It assumes the seeds' results are
/// independent draws from one distribution that is roughly normal; with the few seeds a sweep
/// runs, it is wider (and more honest) than a normal interval. One replicate has no interval.
public struct ReplicateSummary: Sendable, Equatable {
    /// Number of finite values summarised.
    public let count: Int
    public let mean: Double
    /// Sample standard deviation (n−1), nil for a single value.
    public let standardDeviation: Double?
    /// Half-width of the 95% t-interval, nil for a single value.
    public let halfWidth: Double?

    /// Summarises `values`, ignoring non-finite ones; nil when none is finite.
    /// Complexity: O(n).
    public init?(_ values: [Double]) {
        let finite = values.filter(\.isFinite)
        guard !finite.isEmpty else { return nil }
        count = finite.count
        // Summed in the given order so that the same input gives the same bits.
        mean = finite.reduce(0, +) / Double(finite.count)
        if finite.count >= 2 {
            let m = mean
            let squares = finite.reduce(0) { $0 + ($1 - m) * ($1 - m) }
            let sd = (squares / Double(finite.count - 1)).squareRoot()
            standardDeviation = sd
            halfWidth = studentT975(degreesOfFreedom: finite.count - 1) * sd / Double(finite.count).squareRoot()
        } else {
            standardDeviation = nil
            halfWidth = nil
        }
    }

    /// Lower end of the interval (the mean when there is none).
    public var lower: Double { mean - (halfWidth ?? 0) }
    /// Upper end of the interval (the mean when there is none).
    public var upper: Double { mean + (halfWidth ?? 0) }
}

/// The 0.975 quantile of Student's t distribution (two-sided 95%).
///
/// Table values (7 decimals) for 1...30 degrees of freedom; above that the Cornish–Fisher
/// expansion around the normal quantile, within 1e-5 of the true value there.
public func studentT975(degreesOfFreedom df: Int) -> Double {
    precondition(df >= 1, "t quantile needs at least one degree of freedom")
    let table: [Double] = [
        12.7062047, 4.3026527, 3.1824463, 2.7764451, 2.5705818, 2.4469119, 2.3646243, 2.3060041,
        2.2621572, 2.2281389, 2.2009852, 2.1788128, 2.1603687, 2.1447867, 2.1314495, 2.1199053,
        2.1098155, 2.1009220, 2.0930241, 2.0859634, 2.0796138, 2.0738731, 2.0686576, 2.0638986,
        2.0595386, 2.0555294, 2.0518305, 2.0484071, 2.0452296, 2.0422725,
    ]
    if df <= table.count { return table[df - 1] }
    let z = 1.959963984540054
    let v = Double(df)
    let z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z
    return z + (z3 + z) / (4 * v) + (5 * z5 + 16 * z3 + 3 * z) / (96 * v * v)
        + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * v * v * v)
}
