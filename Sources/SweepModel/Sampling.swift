import BitStableMath
import ExperimentAPI

/// A sampled parameter space (`sample:` in a spec): `n` points drawn from distributions over some
/// of the family's parameters, forming one dimension of the grid.
///
/// Points are resolved values, drawn when the spec is loaded: a task's id is still the hash of its
/// parameters, and nothing after the plan knows that a value was sampled. Point `i` of `random`
/// and `sobol` depends only on (seed, method, space, i), so a larger `n` with the same seed and
/// space keeps the first points (their tasks are found finished); `lhs` does not (its strata
/// depend on `n`). Coordinates are computed with exactly specified IEEE-754 operations only (no
/// libm), so every host draws the same bits. See sweeps/README.md, "Sampled spaces".
public struct SweepSample: Sendable {
    /// How unit coordinates are drawn.
    public enum Method: String, Sendable, CaseIterable {
        /// Independent uniform coordinates from a counter-based stream keyed by (seed, point, dimension).
        case random
        /// The Sobol low-discrepancy sequence (Joe–Kuo direction numbers), randomised by a seeded
        /// digital shift (an XOR per dimension), which keeps its balance properties.
        case sobol
        /// Latin hypercube: each dimension cut into n strata, one point in each.
        case lhs

        /// Whether point `i` does not depend on `n`, so that a grown sample keeps its first points.
        public var keepsPointsWhenGrown: Bool { self != .lhs }
    }

    /// What one parameter's values are drawn from.
    public enum Distribution: Sendable, Hashable, CustomStringConvertible {
        /// Reals, uniform in [lower, upper].
        case uniform(lower: Double, upper: Double)
        /// Reals whose logarithm is uniform in [log lower, log upper] (0 < lower).
        case logUniform(lower: Double, upper: Double)
        /// Integers lower...upper, each equally likely.
        case integer(lower: Int, upper: Int)
        /// One of the values, each equally likely.
        case choice([ParameterValue])

        /// The value at unit coordinate `u` in [0, 1): uniform `lower + (upper - lower) u`,
        /// log-uniform `exp(log lower + u (log upper - log lower))`, integer
        /// `lower + floor(u (upper - lower + 1))`, choice `values[floor(u count)]`; reals are clamped to
        /// [lower, upper] against rounding.
        public func value(at u: Double) -> ParameterValue {
            switch self {
            case .uniform(let lo, let hi):
                return .real(min(max(lo + (hi - lo) * u, lo), hi))
            case .logUniform(let lo, let hi):
                let a = BitStableMath.log(lo), b = BitStableMath.log(hi)
                return .real(min(max(BitStableMath.exp(a + (b - a) * u), lo), hi))
            case .integer(let lo, let hi):
                // The span as an unsigned count (0 means all 2^64 integers).
                let span = UInt64(bitPattern: Int64(hi) &- Int64(lo)) &+ 1
                let scaled = (u * (span == 0 ? 0x1p64 : Double(span))).rounded(.down)
                var offset = scaled >= 0x1p64 ? UInt64.max : UInt64(scaled)
                if span != 0 { offset = min(offset, span - 1) }
                return .integer(Int(Int64(lo) &+ Int64(bitPattern: offset)))
            case .choice(let values):
                return values[min(Int(u * Double(values.count)), values.count - 1)]
            }
        }

        /// `uniform [0.0, 1.0]`, `loguniform [0.0001, 1.0]`, `int [4, 64]`, `one of a, b`.
        public var description: String {
            switch self {
            case .uniform(let lo, let hi): return "uniform [\(ParameterValue.real(lo)), \(ParameterValue.real(hi))]"
            case .logUniform(let lo, let hi): return "loguniform [\(ParameterValue.real(lo)), \(ParameterValue.real(hi))]"
            case .integer(let lo, let hi): return "int [\(lo), \(hi)]"
            case .choice(let values): return "one of " + values.map(\.canonicalText).joined(separator: ", ")
            }
        }
    }

    public let method: Method
    /// The number of points drawn (`n`); repeated points are merged, so the dimension may have fewer rows.
    public let count: Int
    /// The sample's seed: which points are drawn. Unrelated to the tasks' `seeds`.
    public let seed: Int
    /// The sampled parameters in the order written; column `c` of a point is `space[c]`.
    public let space: [(name: String, distribution: Distribution)]
    /// The distinct points in the order drawn, each coerced into its parameters' domains
    /// (`points[r][c]` is the value of `space[c].name`).
    public internal(set) var points: [[ParameterValue]]

    public init(method: Method, count: Int, seed: Int, space: [(name: String, distribution: Distribution)], points: [[ParameterValue]]) {
        self.method = method
        self.count = count
        self.seed = seed
        self.space = space
        self.points = points
    }

    /// The first `count` points of a space, repeats included: row `i` is point `i`.
    public static func draw(
        method: Method, seed: Int, count: Int, space: [Distribution]
    ) -> [[ParameterValue]] {
        let units = unitCoordinates(method: method, seed: seed, count: count, dimensions: space.count)
        return units.map { row in zip(row, space).map { u, distribution in distribution.value(at: u) } }
    }

    /// The first `count` points in the unit cube [0, 1)^dimensions.
    /// - Precondition: for `sobol`, `dimensions <= SobolSequence.maximumDimensions`.
    public static func unitCoordinates(method: Method, seed: Int, count: Int, dimensions: Int) -> [[Double]] {
        let key = UInt64(bitPattern: Int64(seed))
        switch method {
        case .random:
            return (0..<count).map { i in
                (0..<dimensions).map { j in
                    PointRandom.unit(PointRandom.bits(seed: key, stream: .coordinate, UInt64(i), UInt64(j)))
                }
            }
        case .sobol:
            precondition(dimensions <= SobolSequence.maximumDimensions, "sobol supports \(SobolSequence.maximumDimensions) dimensions")
            let sobol = SobolSequence(dimensions: dimensions)
            let shifts = (0..<dimensions).map { PointRandom.bits(seed: key, stream: .sobolShift, 0, UInt64($0)) }
            return (0..<count).map { i in
                (0..<dimensions).map { j in PointRandom.unit(sobol.point(UInt64(i), dimension: j) ^ shifts[j]) }
            }
        case .lhs:
            // Per dimension a seeded permutation of the strata (Fisher–Yates, each swap drawn from
            // the counter-based stream), and per point a uniform offset inside its stratum.
            var strata = [[Int]](repeating: [], count: dimensions)
            for j in 0..<dimensions {
                var permutation = Array(0..<count)
                var k = count - 1
                while k > 0 {
                    let bits = PointRandom.bits(seed: key, stream: .lhsPermutation, UInt64(k), UInt64(j))
                    let other = Int(bits.multipliedFullWidth(by: UInt64(k + 1)).high)  // uniform in 0...k
                    permutation.swapAt(k, other)
                    k -= 1
                }
                strata[j] = permutation
            }
            let n = Double(count)
            return (0..<count).map { i in
                (0..<dimensions).map { j in
                    let jitter = PointRandom.unit(PointRandom.bits(seed: key, stream: .lhsJitter, UInt64(i), UInt64(j)))
                    // (stratum + jitter) / n < 1 can round up to 1 when n is large: keep it below.
                    return min((Double(strata[j][i]) + jitter) / n, 1 - 0x1p-53)
                }
            }
        }
    }
}

/// A counter-based random function: 64 bits from a fixed hash of (seed, stream, a, b), so point
/// `i`'s coordinate `j` is computed without drawing anything before it, in any order, on any host.
///
/// The hash is SplitMix64's finaliser (Steele, Lea and Flood, 2014), nested once per key part, as
/// in TrainingCore's `CounterRandom` (which SweepModel cannot import: it depends only on
/// ExperimentAPI and Yams).
enum PointRandom {
    /// Independent uses of one sample seed.
    enum Stream: UInt64 {
        case coordinate = 1
        case sobolShift = 2
        case lhsPermutation = 3
        case lhsJitter = 4
    }

    private static let gamma: UInt64 = 0x9E37_79B9_7F4A_7C15

    @inline(__always)
    static func mix(_ z: UInt64) -> UInt64 { BitStableMath.splitMix(z) }

    /// 64 random bits for item (a, b) of `stream` under `seed`.
    static func bits(seed: UInt64, stream: Stream, _ a: UInt64, _ b: UInt64) -> UInt64 {
        var k = mix(seed &+ gamma &* (stream.rawValue &+ 1))
        k = mix(k ^ mix(a &+ 0x632B_E59B_D9B4_E019))
        return mix(k ^ mix(b &+ 0x8CB9_2BA7_2F3D_8DD7))
    }

    /// The top 53 bits as a Double in [0, 1).
    @inline(__always)
    static func unit(_ bits: UInt64) -> Double { Double(bits >> 11) * 0x1p-53 }
}

/// The Sobol sequence in base 2, as 64-bit fractions (Bratley and Fox's algorithm 659 with Joe and
/// Kuo's direction numbers; see ``SobolDirections``).
///
/// Point `i` is computed directly from the Gray code of `i` (the XOR of the direction numbers of
/// its set bits), so it does not depend on any other point: the order is the usual Gray-code order
/// of Antonov and Saleev, and point 0 is the origin. Unscrambled, it equals SciPy's
/// `scipy.stats.qmc.Sobol(d, scramble=False)`.
public struct SobolSequence: Sendable {
    /// Dimensions with direction numbers: 1 plus the 63 entries of ``SobolDirections/table``.
    public static let maximumDimensions = 64

    /// `directions[j][k]` is v_{k+1} of dimension j, left-aligned: m_{k+1} * 2^(63 - k).
    private let directions: [[UInt64]]

    /// - Precondition: `dimensions` in 0...``maximumDimensions``.
    public init(dimensions: Int) {
        precondition(dimensions >= 0 && dimensions <= Self.maximumDimensions)
        var directions: [[UInt64]] = []
        for j in 0..<dimensions {
            var v = [UInt64](repeating: 0, count: 64)
            if j == 0 {
                for k in 0..<64 { v[k] = 1 << (63 - k) }
            } else {
                let (s, a, m) = SobolDirections.table[j - 1]
                for k in 0..<s { v[k] = m[k] << (63 - k) }
                // v_i = v_{i-s} ^ (v_{i-s} >> s) ^ XOR_{k=1}^{s-1} a_k v_{i-k}, a_k the k-th bit of a from the top.
                for i in s..<64 {
                    var x = v[i - s] ^ (v[i - s] >> s)
                    for k in 1..<s where (a >> (s - 1 - k)) & 1 == 1 { x ^= v[i - k] }
                    v[i] = x
                }
            }
            directions.append(v)
        }
        self.directions = directions
    }

    /// Coordinate `dimension` of point `index`, as the fraction x / 2^64.
    public func point(_ index: UInt64, dimension: Int) -> UInt64 {
        var gray = index ^ (index >> 1)
        var x: UInt64 = 0
        var k = 0
        let v = directions[dimension]
        while gray != 0 {
            if gray & 1 == 1 { x ^= v[k] }
            gray >>= 1
            k += 1
        }
        return x
    }
}

