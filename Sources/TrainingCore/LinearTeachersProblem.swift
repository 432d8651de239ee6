import Parallelism

/// The random streams of the linear-teachers family. They are keyed by a family-salted seed (see
/// ``CounterRandom/init(linearTeachers:_:index:)``), so none coincides with a hierarchy stream.
enum LinearTeachersStream: UInt64 {
    case basis = 1
    case sourceTeacher = 2
    case placement = 3
    case perturbation = 4
    case rotation = 5
    case targetSet = 6
    case sourceSet = 7
    case testSet = 8
    case initialWeights = 9
}

extension CounterRandom {
    /// Stream `stream` of the linear-teachers family for task seed `seed` and item `index` (a sample).
    init(linearTeachers seed: UInt64, _ stream: LinearTeachersStream, index: UInt64 = 0) {
        self.init(seed: Self.mix(seed ^ 0x4C69_6E54_6561_6368) &+ stream.rawValue, stream: .dictionary, index: index)
    }
}

/// Samples of one regression task: `count` inputs of `dim` numbers (row-major) and their labels.
public struct RegressionSamples: Sendable {
    public let dim: Int
    public let count: Int
    /// Row i is sample i.
    public let inputs: [Double]
    public let labels: [Double]
}

/// The teachers, the target covariance and the sample sets of one task: everything random in it
/// but the initial weights. Pure function of the config (seed included).
public struct LinearTeachersProblem: Sendable {
    public let dim: Int
    /// Eigenvalues of Sigma, largest first, summing to `dim`.
    public let eigenvalues: [Double]
    /// Eigenvector j of Sigma is `basis[j*dim ..< (j+1)*dim]` (a seeded random orthonormal basis).
    public let basis: [Double]
    public let sourceTeacher: [Double]
    public let targetTeacher: [Double]
    /// Indices (into `eigenvalues`) of the eigen-directions that carry the difference.
    public let differenceDirections: [Int]
    public let noise: Double
    let seed: UInt64

    public init(_ config: LinearTeachersConfig) {
        let d = config.dim
        dim = d
        seed = config.seed
        noise = config.noise
        eigenvalues = Self.spectrum(config)
        basis = Self.randomOrthonormalBasis(dim: d, seed: config.seed)
        // Source teacher: a uniformly random direction, unit norm.
        var rng = CounterRandom(linearTeachers: config.seed, .sourceTeacher)
        var source = (0..<d).map { _ in rng.gaussian() }
        scale(&source, by: 1 / norm(source))
        sourceTeacher = source
        // The eigen-directions that carry the difference.
        let k = config.differenceDims
        switch config.differenceIn {
        case .top: differenceDirections = Array(0..<k)
        case .bottom: differenceDirections = Array((d - k)..<d)
        case .random:
            var order = Array(0..<d)
            var pick = CounterRandom(linearTeachers: config.seed, .placement)
            for i in 0..<k { order.swapAt(i, i + pick.below(d - i)) }
            differenceDirections = order[0..<k].sorted()
        }
        var target = source
        let sourceNorm = norm(source)
        switch config.relation {
        case .scaled:
            scale(&target, by: config.alpha)
        case .rotated:
            // u: a random unit vector of the chosen eigen-directions, made orthogonal to theta_S.
            var u = Self.randomVector(in: differenceDirections, basis: basis, dim: d, seed: config.seed, stream: .rotation)
            let along = dot(u, source) / (sourceNorm * sourceNorm)
            for i in 0..<d { u[i] -= along * source[i] }
            scale(&u, by: 1 / norm(u))
            let (s, c) = PortableMath.sinCosTwoPi(config.angle / 360)  // degrees to turns
            for i in 0..<d { target[i] = c * source[i] + s * sourceNorm * u[i] }
        case .perturbed:
            break
        }
        if config.epsilon > 0 {
            let z = Self.randomVector(in: differenceDirections, basis: basis, dim: d, seed: config.seed, stream: .perturbation)
            for i in 0..<d { target[i] += config.epsilon * sourceNorm * z[i] }
        }
        targetTeacher = target
    }

    /// The eigenvalues: isotropic 1; power law i^-exponent; spiked: `spikes` of `spike_size`, the
    /// rest 1; then scaled so that they sum to d (E||x||^2 = d whatever the spectrum).
    static func spectrum(_ config: LinearTeachersConfig) -> [Double] {
        let d = config.dim
        var lambda: [Double]
        switch config.spectrum {
        case .isotropic: lambda = Array(repeating: 1, count: d)
        case .powerLaw:
            // i^-a = 2^(-a log2 i), by PortableMath's log and a portable exp2 (integer powers are exact).
            lambda = (1...d).map { i in portablePower(Double(i), -config.exponent) }
        case .spiked: lambda = (0..<d).map { $0 < config.spikes ? config.spikeSize : 1 }
        }
        var total = 0.0
        for v in lambda { total += v }
        return lambda.map { $0 * Double(d) / total }
    }

    /// A seeded random orthonormal basis: Gaussian rows, modified Gram-Schmidt applied twice
    /// (the second pass restores orthogonality to machine precision).
    static func randomOrthonormalBasis(dim d: Int, seed: UInt64) -> [Double] {
        var q = [Double](repeating: 0, count: d * d)
        for j in 0..<d {
            var rng = CounterRandom(linearTeachers: seed, .basis, index: UInt64(j))
            for i in 0..<d { q[j * d + i] = rng.gaussian() }
        }
        q.withUnsafeMutableBufferPointer { q in
            let p = q.baseAddress!
            for j in 0..<d {
                for _ in 0..<2 {
                    for k in 0..<j {
                        let c = dotProduct(p + j * d, p + k * d, d)
                        for i in 0..<d { p[j * d + i] -= c * p[k * d + i] }
                    }
                }
                let n = dotProduct(p + j * d, p + j * d, d).squareRoot()
                for i in 0..<d { p[j * d + i] /= n }
            }
        }
        return q
    }

    /// A random unit vector in the span of the eigenvectors `directions`.
    static func randomVector(in directions: [Int], basis: [Double], dim d: Int, seed: UInt64, stream: LinearTeachersStream) -> [Double] {
        var rng = CounterRandom(linearTeachers: seed, stream)
        var v = [Double](repeating: 0, count: d)
        for j in directions {
            let c = rng.gaussian()
            for i in 0..<d { v[i] += c * basis[j * d + i] }
        }
        scale(&v, by: 1 / norm(v))
        return v
    }

    /// v^T Sigma v = sum_j lambda_j <u_j, v>^2. Complexity O(d^2).
    public func sigmaNormSquared(_ v: [Double]) -> Double {
        var total = 0.0
        basis.withUnsafeBufferPointer { b in
            v.withUnsafeBufferPointer { v in
                for j in 0..<dim {
                    let c = dotProduct(b.baseAddress! + j * dim, v.baseAddress!, dim)
                    total += eigenvalues[j] * c * c
                }
            }
        }
        return total
    }

    /// The target population risk of the linear map theta: E (<theta, x> - y)^2 =
    /// (theta - theta_T)^T Sigma (theta - theta_T) + noise^2.
    public func risk(of theta: [Double]) -> Double {
        sigmaNormSquared(zip(theta, targetTeacher).map { $0 - $1 }) + noise * noise
    }

    /// Target samples 0..<count: x = sum_j sqrt(lambda_j) z_j u_j with z ~ N(0, I), y = <theta_T, x>
    /// + noise. Sample i depends on i only, so the first n samples of a larger set are the same.
    public func targetSamples(_ count: Int, pool: ComputePool?) -> RegressionSamples {
        samples(count, stream: .targetSet, teacher: targetTeacher, covariance: true, noisy: true, pool: pool)
    }

    /// Source samples: x ~ N(0, I) (the source inputs are isotropic), y = <theta_S, x> + noise.
    public func sourceSamples(_ count: Int, pool: ComputePool?) -> RegressionSamples {
        samples(count, stream: .sourceSet, teacher: sourceTeacher, covariance: false, noisy: true, pool: pool)
    }

    /// Noiseless target test samples (their risk adds noise^2 exactly).
    public func testSamples(_ count: Int, pool: ComputePool?) -> RegressionSamples {
        samples(count, stream: .testSet, teacher: targetTeacher, covariance: true, noisy: false, pool: pool)
    }

    private func samples(_ count: Int, stream: LinearTeachersStream, teacher: [Double], covariance: Bool, noisy: Bool,
                         pool: ComputePool?) -> RegressionSamples {
        let d = dim
        var x = [Double](repeating: 0, count: count * d)
        var y = [Double](repeating: 0, count: count)
        let roots = eigenvalues.map { $0.squareRoot() }
        let chunk = 64
        let chunks = (count + chunk - 1) / chunk
        let seed = self.seed, noise = self.noise
        x.withUnsafeMutableBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { yb in
                basis.withUnsafeBufferPointer { bb in
                    teacher.withUnsafeBufferPointer { tb in
                        let xp = SendablePointer(xb.baseAddress!), yp = SendablePointer(yb.baseAddress!)
                        let bp = SendablePointer(UnsafeMutablePointer(mutating: bb.baseAddress!))
                        let tp = SendablePointer(UnsafeMutablePointer(mutating: tb.baseAddress!))
                        let body: @Sendable (Int, Int) -> Void = { c, _ in
                            var z = [Double](repeating: 0, count: d)
                            for i in (c * chunk)..<min(count, (c + 1) * chunk) {
                                var rng = CounterRandom(linearTeachers: seed, stream, index: UInt64(i))
                                for j in 0..<d { z[j] = rng.gaussian() }
                                let row = xp.pointer + i * d
                                if covariance {
                                    for i2 in 0..<d { row[i2] = 0 }
                                    for j in 0..<d {
                                        let c = roots[j] * z[j]
                                        let u = bp.pointer + j * d
                                        for i2 in 0..<d { row[i2] = row[i2].addingProduct(c, u[i2]) }
                                    }
                                } else {
                                    for j in 0..<d { row[j] = z[j] }
                                }
                                let e = noisy && noise > 0 ? noise * rng.gaussian() : 0
                                yp.pointer[i] = dotProduct(row, tp.pointer, d) + e
                            }
                        }
                        if let pool { pool.run(count: chunks, body) } else { for c in 0..<chunks { body(c, 0) } }
                    }
                }
            }
        }
        return RegressionSamples(dim: d, count: count, inputs: x, labels: y)
    }

    /// ||theta_T - theta_S||.
    public var distance: Double { norm(zip(targetTeacher, sourceTeacher).map { $0 - $1 }) }
    /// sqrt((theta_T - theta_S)^T Sigma (theta_T - theta_S)).
    public var sigmaDistance: Double { sigmaNormSquared(zip(targetTeacher, sourceTeacher).map { $0 - $1 }).squareRoot() }
    /// The angle between theta_S and theta_T, in degrees.
    public var angleDegrees: Double {
        let c = max(-1, min(1, dot(sourceTeacher, targetTeacher) / (norm(sourceTeacher) * norm(targetTeacher))))
        return portableArcCosine(c) * 180 / Double.pi
    }
}

// MARK: Small portable kernels

/// <a, b> over `count` doubles: four SIMD4 accumulators, then a scalar tail, summed in a fixed
/// order (the same bits on any host and for any caller).
@inline(__always)
func dotProduct(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, _ count: Int) -> Double {
    var s0 = SIMD4<Double>(), s1 = SIMD4<Double>()
    var i = 0
    while i + 8 <= count {
        let a0 = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD4<Double>.self)
        let b0 = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD4<Double>.self)
        let a1 = UnsafeRawPointer(a + i + 4).loadUnaligned(as: SIMD4<Double>.self)
        let b1 = UnsafeRawPointer(b + i + 4).loadUnaligned(as: SIMD4<Double>.self)
        s0 = s0.addingProduct(a0, b0)
        s1 = s1.addingProduct(a1, b1)
        i += 8
    }
    let s = s0 + s1
    var total = (s[0] + s[1]) + (s[2] + s[3])
    while i < count {
        total = total.addingProduct(a[i], b[i])
        i += 1
    }
    return total
}

/// y += c * x over `count` doubles (lanes independent, so bits do not depend on the position).
@inline(__always)
func addScaled(_ y: UnsafeMutablePointer<Double>, _ c: Double, _ x: UnsafePointer<Double>, _ count: Int) {
    let cv = SIMD4<Double>(repeating: c)
    var i = 0
    while i + 4 <= count {
        let yv = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD4<Double>.self)
        let xv = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD4<Double>.self)
        UnsafeMutableRawPointer(y + i).storeBytes(of: yv.addingProduct(cv, xv), as: SIMD4<Double>.self)
        i += 4
    }
    while i < count {
        y[i] = y[i].addingProduct(c, x[i])
        i += 1
    }
}

func dot(_ a: [Double], _ b: [Double]) -> Double {
    a.withUnsafeBufferPointer { a in b.withUnsafeBufferPointer { b in dotProduct(a.baseAddress!, b.baseAddress!, a.count) } }
}

func norm(_ a: [Double]) -> Double { dot(a, a).squareRoot() }

func scale(_ a: inout [Double], by c: Double) {
    for i in a.indices { a[i] *= c }
}

/// x^p for x > 0, from PortableMath's log and a portable 2^t (Taylor series of e^(r ln 2) on
/// [-1/2, 1/2] to r^20, scaled by an exact power of two): a few ULP, the same bits on every host.
func portablePower(_ x: Double, _ p: Double) -> Double {
    let t = p * PortableMath.log(x) / 0.693_147_180_559_945_309_42
    let n = t.rounded(.toNearestOrEven)
    let r = (t - n) * 0.693_147_180_559_945_309_42
    var term = 1.0, sum = 1.0
    for k in 1...20 {
        term *= r / Double(k)
        sum += term
    }
    return sum * Double(sign: .plus, exponent: Int(n), significand: 1)
}

/// arccos(c) for c in [-1, 1], in radians, by bisection on PortableMath's cosine (60 halvings:
/// portable, to about 1e-15 rad away from |c| = 1; enough for a reported angle).
func portableArcCosine(_ c: Double) -> Double {
    if c >= 1 { return 0 }
    if c <= -1 { return Double.pi }
    var lo = 0.0, hi = Double.pi
    for _ in 0..<60 {
        let mid = (lo + hi) / 2
        let (_, cm) = PortableMath.sinCosTwoPi(mid / (2 * Double.pi))
        if cm > c { lo = mid } else { hi = mid }
    }
    return (lo + hi) / 2
}
