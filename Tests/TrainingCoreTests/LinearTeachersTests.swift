import ExperimentAPI
import Experiments
import Foundation
import Testing
@testable import TrainingCore

/// The linear-teachers family: its math against closed forms computed here independently, its
/// bits against thread counts, and its validation.
@Suite struct LinearTeachersTests {
    static func config(_ edit: (inout LinearTeachersConfig) -> Void = { _ in }) -> LinearTeachersConfig {
        var c = LinearTeachersConfig()
        edit(&c)
        return c
    }

    /// Solves A x = b (A n x n, row-major) by Gaussian elimination with partial pivoting.
    static func solve(_ a: [Double], _ b: [Double]) -> [Double] {
        let n = b.count
        var a = a, b = b
        for k in 0..<n {
            let p = (k..<n).max { abs(a[$0 * n + k]) < abs(a[$1 * n + k]) }!
            if p != k {
                for j in 0..<n { a.swapAt(k * n + j, p * n + j) }
                b.swapAt(k, p)
            }
            for i in (k + 1)..<n {
                let f = a[i * n + k] / a[k * n + k]
                for j in k..<n { a[i * n + j] -= f * a[k * n + j] }
                b[i] -= f * b[k]
            }
        }
        var x = [Double](repeating: 0, count: n)
        for i in stride(from: n - 1, through: 0, by: -1) {
            var s = b[i]
            for j in (i + 1)..<n { s -= a[i * n + j] * x[j] }
            x[i] = s / a[i * n + i]
        }
        return x
    }

    /// Claim 1's mechanism: with n < d, gradient descent from theta_S ends at the interpolant
    /// closest to theta_S, theta_S + X^T (X X^T)^-1 (y - X theta_S) (the pseudo-inverse solution).
    @Test(arguments: [LinearTeachersConfig.Placement.top, .bottom])
    func gradientDescentFromTheSourceEndsAtTheClosestInterpolant(placement: LinearTeachersConfig.Placement) throws {
        let c = Self.config { $0.differenceIn = placement; $0.targetSamples = 12; $0.noise = 0.1; $0.tolerance = 1e-14; $0.maxSteps = 100_000 }
        let result = try runLinearTeachersTask(c, threads: 1)
        #expect(result.converged)
        let problem = LinearTeachersProblem(c)
        let s = problem.targetSamples(c.targetSamples, pool: nil)
        let (n, d) = (s.count, s.dim)
        let x = s.inputs
        var gram = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { gram[i * n + j] = (0..<d).reduce(0) { $0 + x[i * d + $1] * x[j * d + $1] } } }
        let residual = (0..<n).map { i in s.labels[i] - (0..<d).reduce(0) { $0 + x[i * d + $1] * problem.sourceTeacher[$1] } }
        let coefficients = Self.solve(gram, residual)
        let expected = (0..<d).map { k in problem.sourceTeacher[k] + (0..<n).reduce(0) { $0 + x[$1 * d + k] * coefficients[$1] } }
        let theta = try #require(result.theta)
        let error = zip(theta, expected).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
        #expect(error < 1e-6 * norm(expected), "||theta - theta*|| = \(error)")
        #expect(abs(result.risk - problem.risk(of: expected)) < 1e-6 * problem.risk(of: expected))
    }

    /// The exact risk formula against a Monte-Carlo estimate on fresh noisy target samples.
    @Test func exactRiskAgreesWithMonteCarlo() {
        for spectrum in LinearTeachersConfig.Spectrum.allCases {
            let c = Self.config { $0.spectrum = spectrum; $0.noise = 0.3; $0.dim = 20; $0.differenceDims = 4; $0.seed = 7 }
            let problem = LinearTeachersProblem(c)
            let theta = problem.sourceTeacher
            let samples = problem.targetSamples(8_000, pool: nil)
            var errors: [Double] = []
            for i in 0..<samples.count {
                let f = (0..<c.dim).reduce(0.0) { $0 + samples.inputs[i * c.dim + $1] * theta[$1] }
                errors.append((f - samples.labels[i]) * (f - samples.labels[i]))
            }
            let mean = errors.reduce(0, +) / Double(errors.count)
            let variance = errors.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(errors.count - 1)
            let standardError = (variance / Double(errors.count)).squareRoot()
            let exact = problem.risk(of: theta)
            #expect(abs(mean - exact) < 4 * standardError, "\(spectrum): Monte Carlo \(mean) ± \(standardError), exact \(exact)")
        }
    }

    /// Sigma is what was asked for: an orthonormal basis, eigenvalues in order summing to d, and a
    /// perturbation that lies only in the chosen eigen-directions.
    @Test func covarianceAndDifferenceAreAsDeclared() {
        let c = Self.config { $0.dim = 16; $0.differenceDims = 3; $0.differenceIn = .top }
        let p = LinearTeachersProblem(c)
        let d = c.dim
        for i in 0..<d {
            for j in 0..<d {
                let v = (0..<d).reduce(0.0) { $0 + p.basis[i * d + $1] * p.basis[j * d + $1] }
                #expect(abs(v - (i == j ? 1 : 0)) < 1e-12)
            }
        }
        #expect(abs(p.eigenvalues.reduce(0, +) - Double(d)) < 1e-9)
        #expect(zip(p.eigenvalues, p.eigenvalues.dropFirst()).allSatisfy { $0 >= $1 })
        #expect(abs(p.eigenvalues[0] / p.eigenvalues[d - 1] - Double(d)) < 1e-9)  // exponent 1
        let difference = zip(p.targetTeacher, p.sourceTeacher).map { $0 - $1 }
        for j in 0..<d {
            let component = (0..<d).reduce(0.0) { $0 + p.basis[j * d + $1] * difference[$1] }
            if !p.differenceDirections.contains(j) { #expect(abs(component) < 1e-12) }
        }
        #expect(p.differenceDirections == [0, 1, 2])
        #expect(abs(p.distance - 1) < 1e-12)  // epsilon 1, unit source
        let rotated = LinearTeachersProblem(Self.config { $0.relation = .rotated; $0.angle = 30; $0.epsilon = 0 })
        #expect(abs(rotated.angleDegrees - 30) < 1e-9)
        #expect(abs(norm(rotated.targetTeacher) - 1) < 1e-12)
    }

    /// A frozen first layer at the rank-one factorisation confines the map to the span of theta_S:
    /// a rotated target keeps at least the best such map's risk with 2d samples, while the
    /// network trained in full learns it.
    @Test func frozenFirstLayerCannotLearnARotatedTarget() throws {
        let c = Self.config {
            $0.model = .deepLinear; $0.depth = 3; $0.relation = .rotated; $0.angle = 45; $0.epsilon = 0; $0.differenceIn = .random
            $0.dim = 20; $0.targetSamples = 40; $0.differenceDims = 5
        }
        var frozen = c
        frozen.frozenLayers = 1
        let p = LinearTeachersProblem(c)
        // min over a of (a theta_S - theta_T)^T Sigma (a theta_S - theta_T).
        let ss = p.sigmaNormSquared(p.sourceTeacher)
        let st = (p.sigmaNormSquared(zip(p.sourceTeacher, p.targetTeacher).map { $0 + $1 }) - ss - p.sigmaNormSquared(p.targetTeacher)) / 2
        let floor = p.sigmaNormSquared(p.targetTeacher) - st * st / ss
        let free = try runLinearTeachersTask(c, threads: 1)
        let stuck = try runLinearTeachersTask(frozen, threads: 1)
        #expect(free.risk < 1e-5)
        #expect(stuck.risk >= floor * (1 - 1e-6) && floor > 0.05)
    }

    /// Results are the same bits with 1, 2 and 3 threads, for each model, with several chunks.
    @Test(arguments: [LinearTeachersConfig.Model.linear, .deepLinear, .relu])
    func sameBitsAcrossThreadCounts(model: LinearTeachersConfig.Model) throws {
        let c = Self.config {
            $0.model = model
            $0.dim = 20
            $0.differenceDims = 4
            $0.maxSteps = 400
            $0.epochSteps = 100
            $0.noise = 0.2
            switch model {
            case .linear: $0.targetSamples = 4000  // 65536 / 40 = 1638 samples a chunk: 3 chunks
            case .deepLinear: $0.depth = 4; $0.targetSamples = 3500
            case .relu: $0.width = 16; $0.targetSamples = 300; $0.testSamples = 500; $0.pretraining = .source; $0.sourceSamples = 250
            }
        }
        var curves: [[LinearTeachersEpoch]] = []
        var results: [LinearTeachersResult] = []
        for threads in [1, 2, 3] {
            var curve: [LinearTeachersEpoch] = []
            results.append(try runLinearTeachersTask(c, threads: threads) { curve.append($0) })
            curves.append(curve)
        }
        #expect(!curves[0].isEmpty)
        for i in 1..<3 {
            #expect(results[i].risk.bitPattern == results[0].risk.bitPattern)
            #expect(results[i] == results[0])
            #expect(curves[i] == curves[0])
        }
    }

    /// Bad combinations are reported by the family, all at once, with the parameter at fault.
    @Test func badCombinationsAreReported() {
        let family = LinearTeachersExperiment()
        func problems(_ given: [String: ParameterValue]) -> [String] {
            switch family.resolve(given) {
            case .success: return []
            case .failure(let p): return p.problems.map(\.parameter).sorted()
            }
        }
        #expect(problems([:]).isEmpty)
        #expect(problems(["alpha": .real(2)]) == ["alpha"])  // relation perturbed
        #expect(problems(["relation": .text("scaled"), "alpha": .real(2)]).isEmpty)
        #expect(problems(["model": .text("deep_linear")]) == ["depth"])
        #expect(problems(["model": .text("linear"), "depth": .integer(3)]) == ["depth"])
        #expect(problems(["model": .text("deep_linear"), "depth": .integer(3), "frozen_layers": .integer(3)]) == ["frozen_layers"])
        #expect(problems(["model": .text("relu")]) == ["pretrain"])
        #expect(problems(["model": .text("relu"), "pretrain": .text("source"), "width": .integer(7)]) == ["width"])
        #expect(problems(["difference_dims": .integer(60)]) == ["difference_dims"])
        #expect(problems(["angle": .real(30), "epsilon": .real(0)]) == ["angle", "epsilon"])
        #expect(problems(["pretrain": .text("none"), "frozen_layers": .integer(1), "model": .text("deep_linear"), "depth": .integer(2)]) == ["frozen_layers"])
        #expect(problems(["spectrum": .text("gaussian")]) == ["spectrum"])
        #expect(problems(["dimm": .integer(3)]) == ["dimm"])
    }

    /// The family runs through ExperimentFamily with curves inside the declared epochs.
    @Test func familyRunsWithCurvesInsideTheDeclaredEpochs() throws {
        let family = LinearTeachersExperiment()
        let parameters = try family.resolve(["target_samples": .integer(5)]).get()
        var points: [CurvePoint] = []
        let metrics = try TaskContext.withPool(threads: 1) { try family.run(parameters, context: $0) { points.append($0) } }
        #expect(metrics.map(\.name) == family.resultMetricNames)
        let epochs = family.curveEpochs(parameters)
        #expect(!points.isEmpty && points.allSatisfy { $0.epoch >= 1 && $0.epoch <= epochs[$0.phase]! })
        #expect(points.allSatisfy { $0.metrics.map(\.name) == family.curveMetricNames })
        #expect(family.estimatedSeconds(parameters) < 1)
        let declared = Set(family.parameters.map(\.name))
        for figure in family.figures {
            if let series = figure.series { #expect(declared.contains(series)) }
            #expect(figure.facets.allSatisfy(declared.contains) && figure.only.keys.allSatisfy(declared.contains))
        }
    }
}
