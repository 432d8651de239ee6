import Parallelism

/// One curve point of a linear-teachers task: after `epoch` blocks of `epochSteps` full-batch
/// gradient steps of `phase`.
public struct LinearTeachersEpoch: Sendable, Hashable {
    public enum Phase: String, Sendable { case pretrain, finetune }
    public let phase: Phase
    public let epoch: Int
    /// Target population risk of the current model.
    public let risk: Double
    /// Mean squared error on the phase's training samples.
    public let trainLoss: Double
}

/// What one task measured.
public struct LinearTeachersResult: Sendable, Hashable {
    /// Target population risk after fine-tuning: exact for linear maps, on the test set for ReLU.
    public var risk: Double
    /// Risk at the start of fine-tuning (after pretraining).
    public var startRisk: Double
    /// Mean squared error on the target samples after fine-tuning.
    public var trainLoss: Double
    /// Fine-tuning steps taken.
    public var steps: Int
    /// Whether fine-tuning met the convergence rule before the step cap.
    public var converged: Bool
    /// Source pretraining steps (0 unless `pretrain` is `source`).
    public var pretrainSteps: Int
    /// The end-to-end map after fine-tuning (linear and deep linear models), for checks.
    public var theta: [Double]?
}

/// Runs one task on a pool made for it (tests and one-off runs).
public func runLinearTeachersTask(_ config: LinearTeachersConfig, threads: Int,
                                  onEpoch: (LinearTeachersEpoch) -> Void = { _ in }) throws -> LinearTeachersResult {
    let pool = try ComputePool(threads: threads)
    defer { pool.shutdown() }
    return try runLinearTeachersTask(config, pool: pool, onEpoch: onEpoch)
}

/// Runs one task: builds the problem, (pre)trains and fine-tunes by full-batch gradient descent.
///
/// Convergence: after every block of `epochSteps` steps the training loss L is compared with the
/// loss L0 at the start of the phase and with the loss one block earlier; the phase has converged
/// when L <= tolerance * L0 (an interpolant is reached) or when the block lowered it by less than
/// tolerance * (previous L) (a plateau: more samples than parameters, or a frozen layer), and
/// stops unconverged at `maxSteps`.
///
/// Step size: `learningRate / (lambda * c)`, lambda the largest eigenvalue of X^T X / n (power
/// iteration) and c the model's curvature factor recomputed every step (1 for the linear model;
/// the sum over trained layers of the product of the other layers' squared Frobenius norms for
/// deep linear, L ||theta||^(2 - 2/L) at a balanced start; mean a^2 + mean ||w||^2 for ReLU). A
/// scalar step that depends on the state only rescales time along the gradient-flow path, so it
/// does not change where gradient flow ends.
///
/// - Throws: ``TrainingStopped`` when `shouldStop` returns true (polled every step).
public func runLinearTeachersTask(_ config: LinearTeachersConfig, pool: ComputePool, shouldStop: () -> Bool = { false },
                                  onEpoch: (LinearTeachersEpoch) -> Void = { _ in }) throws(TrainingStopped) -> LinearTeachersResult {
    let problem = LinearTeachersProblem(config)
    let target = problem.targetSamples(config.targetSamples, pool: pool)
    let test = config.model == .relu ? problem.testSamples(config.testSamples, pool: pool) : nil
    let model = LinearTeachersModel(config: config, problem: problem, test: test, pool: pool)
    var weights: [[Double]]
    var pretrainSteps = 0
    switch config.pretraining {
    case .exact:
        weights = model.exactSourceWeights()
    case .none:
        weights = model.scratchWeights()
    case .source:
        weights = model.scratchWeights()
        let source = problem.sourceSamples(config.sourceSamples, pool: pool)
        let r = try model.train(&weights, on: source, frozen: 0, phase: .pretrain, shouldStop: shouldStop, onEpoch: onEpoch)
        pretrainSteps = r.steps
    }
    let startRisk = model.risk(weights)
    let frozen = config.pretraining == .none ? 0 : config.frozenLayers
    let r = try model.train(&weights, on: target, frozen: frozen, phase: .finetune, shouldStop: shouldStop, onEpoch: onEpoch)
    return LinearTeachersResult(
        risk: model.risk(weights), startRisk: startRisk, trainLoss: r.loss, steps: r.steps, converged: r.converged,
        pretrainSteps: pretrainSteps, theta: config.hasLinearMap ? model.endToEnd(weights) : nil)
}

/// The model of a task: its weights are a list of layers (row-major), trained by full-batch
/// gradient descent with fixed chunks of samples and an ordered reduction of their partial sums.
struct LinearTeachersModel {
    let config: LinearTeachersConfig
    let problem: LinearTeachersProblem
    let test: RegressionSamples?
    let pool: ComputePool
    let d: Int
    /// (rows, columns) of each layer; ReLU: W (m x d), then a (1 x m).
    let shapes: [(rows: Int, columns: Int)]

    init(config: LinearTeachersConfig, problem: LinearTeachersProblem, test: RegressionSamples?, pool: ComputePool) {
        self.config = config
        self.problem = problem
        self.test = test
        self.pool = pool
        d = config.dim
        let h = config.width
        switch config.model {
        case .linear: shapes = [(1, d)]
        case .deepLinear:
            let L = config.depth
            shapes = L == 1 ? [(1, d)] : [(h, d)] + Array(repeating: (h, h), count: L - 2) + [(1, h)]
        case .relu: shapes = [(h, d), (1, h)]
        }
    }

    // MARK: Initialisation

    /// The source teacher itself: theta_S, or its balanced rank-one factorisation
    /// W_1 = s v_1 theta_S^T/||theta_S||, W_i = s v_i v_{i-1}^T, w_L = s v_{L-1}^T with s = ||theta_S||^(1/L)
    /// and random unit v_i (balanced: W_{i+1}^T W_{i+1} = W_i W_i^T, as gradient flow keeps it).
    func exactSourceWeights() -> [[Double]] {
        balancedFactorisation(of: problem.sourceTeacher, index: 0)
    }

    /// theta as W_L ... W_1 with W_1 = s v_1 theta^T/||theta||, W_i = s v_i v_{i-1}^T,
    /// w_L = s v_{L-1}^T, s = ||theta||^(1/L), random unit v_i: balanced (W_{i+1}^T W_{i+1} =
    /// W_i W_i^T), the only balanced factorisations with one output, and kept so by gradient
    /// descent, which moves each layer within the same rank-one form.
    private func balancedFactorisation(of theta: [Double], index: UInt64) -> [[Double]] {
        let L = shapes.count
        if L == 1 { return [theta] }
        let thetaNorm = norm(theta)
        let s = portablePower(thetaNorm, 1 / Double(L))
        let h = config.width
        var rng = CounterRandom(linearTeachers: config.seed, .initialWeights, index: index)
        var v: [[Double]] = []
        for _ in 0..<(L - 1) {
            var u = (0..<h).map { _ in rng.gaussian() }
            scale(&u, by: 1 / norm(u))
            v.append(u)
        }
        var layers: [[Double]] = []
        for i in 0..<L {
            let (rows, columns) = shapes[i]
            let left = i == L - 1 ? [1.0] : v[i]
            let right = i == 0 ? theta.map { $0 / thetaNorm } : v[i - 1]
            var w = [Double](repeating: 0, count: rows * columns)
            for r in 0..<rows { for c in 0..<columns { w[r * columns + c] = s * left[r] * right[c] } }
            layers.append(w)
        }
        return layers
    }

    /// The from-scratch start: zero for the linear model (gradient descent from 0 ends at the
    /// minimum-norm interpolant, the textbook baseline); for deep linear, the balanced
    /// factorisation of a random direction of norm init_scale (the same form as the pretrained
    /// start, without its information); for ReLU, m/2 neurons w ~ N(0, I/d) with a = +1 and
    /// their copies with a = -1, so f = 0 at the start.
    func scratchWeights() -> [[Double]] {
        var rng = CounterRandom(linearTeachers: config.seed, .initialWeights, index: 1)
        switch config.model {
        case .linear:
            return [[Double](repeating: 0, count: d)]
        case .deepLinear:
            var direction = (0..<d).map { _ in rng.gaussian() }
            scale(&direction, by: config.initScale / norm(direction))
            return balancedFactorisation(of: direction, index: 2)
        case .relu:
            let m = config.width, half = m / 2
            var w = [Double](repeating: 0, count: m * d)
            let sd = 1 / Double(d).squareRoot()
            for j in 0..<half {
                for i in 0..<d {
                    let g = sd * rng.gaussian()
                    w[j * d + i] = g
                    w[(j + half) * d + i] = g
                }
            }
            let a = (0..<m).map { $0 < half ? 1.0 : -1.0 }
            return [w, a]
        }
    }

    // MARK: Linear maps

    /// The end-to-end vector theta with theta^T = W_L ... W_1 (linear and deep linear models).
    func endToEnd(_ layers: [[Double]]) -> [Double] {
        suffixes(layers).theta
    }

    /// s_i = W_L ... W_{i+1} (a row of rows_i numbers; s_L = [1]) for each layer, and theta.
    private func suffixes(_ layers: [[Double]]) -> (rows: [[Double]], theta: [Double]) {
        let L = layers.count
        var s = [[Double]](repeating: [], count: L)
        s[L - 1] = [1]
        for i in stride(from: L - 1, to: 0, by: -1) { s[i - 1] = rowTimesMatrix(s[i], layers[i], shapes[i]) }
        return (s, rowTimesMatrix(s[0], layers[0], shapes[0]))
    }

    private func rowTimesMatrix(_ v: [Double], _ w: [Double], _ shape: (rows: Int, columns: Int)) -> [Double] {
        var out = [Double](repeating: 0, count: shape.columns)
        out.withUnsafeMutableBufferPointer { o in
            w.withUnsafeBufferPointer { w in
                for r in 0..<shape.rows where v[r] != 0 {
                    addScaled(o.baseAddress!, v[r], w.baseAddress! + r * shape.columns, shape.columns)
                }
            }
        }
        return out
    }

    private func matrixTimesVector(_ w: [Double], _ shape: (rows: Int, columns: Int), _ v: [Double]) -> [Double] {
        w.withUnsafeBufferPointer { w in
            v.withUnsafeBufferPointer { v in
                (0..<shape.rows).map { r in dotProduct(w.baseAddress! + r * shape.columns, v.baseAddress!, shape.columns) }
            }
        }
    }

    /// Target population risk: closed form for linear maps, the test set for ReLU.
    func risk(_ layers: [[Double]]) -> Double {
        if let test { return lossAndGradient(layers, on: test, gradient: false).loss + problem.noise * problem.noise }
        return problem.risk(of: endToEnd(layers))
    }

    // MARK: Gradients

    /// Samples per chunk: fixed by the model's shape only, so the partial sums and their order
    /// never depend on the thread count; about 64k multiply-adds per chunk.
    private var chunkSamples: Int {
        let perSample = config.model == .relu ? 2 * config.width * d : 2 * d
        return max(8, 65_536 / perSample)
    }

    /// The mean squared error of `layers` on `samples` and (when asked) the gradient of half of it:
    /// for linear maps the gradient with respect to theta, g = X^T r / n; for ReLU with respect
    /// to (W, a). Chunk c writes its own slot; slots are added in chunk order.
    func lossAndGradient(_ layers: [[Double]], on samples: RegressionSamples, gradient: Bool) -> (loss: Double, gradient: [[Double]]) {
        let n = samples.count
        let chunk = chunkSamples
        let chunks = (n + chunk - 1) / chunk
        let isReLU = config.model == .relu
        let m = config.width
        let d = self.d
        // Slot layout: [loss, gradient...]; linear: d numbers; ReLU: m*d for W then m for a.
        let slot = 1 + (gradient ? (isReLU ? m * d + m : d) : 0)
        var partial = [Double](repeating: 0, count: chunks * slot)
        let theta = isReLU ? [0] : endToEnd(layers)
        let w = isReLU ? layers[0] : [0], a = isReLU ? layers[1] : [0]
        let inverseRootM = isReLU ? 1 / Double(m).squareRoot() : 0
        partial.withUnsafeMutableBufferPointer { pb in
            samples.inputs.withUnsafeBufferPointer { xb in
                samples.labels.withUnsafeBufferPointer { yb in
                    theta.withUnsafeBufferPointer { tb in
                        w.withUnsafeBufferPointer { wb in
                            let out = SendablePointer(pb.baseAddress!)
                            let x = SendablePointer(UnsafeMutablePointer(mutating: xb.baseAddress!))
                            let y = SendablePointer(UnsafeMutablePointer(mutating: yb.baseAddress!))
                            let t = SendablePointer(UnsafeMutablePointer(mutating: tb.baseAddress!))
                            let wp = SendablePointer(UnsafeMutablePointer(mutating: wb.baseAddress!))
                            let body: @Sendable (Int, Int) -> Void = { c, _ in
                                let o = out.pointer + c * slot
                                var hidden = [Double](repeating: 0, count: isReLU ? m : 0)
                                hidden.withUnsafeMutableBufferPointer { hb in
                                    for i in (c * chunk)..<min(n, (c + 1) * chunk) {
                                        let row = x.pointer + i * d
                                        var f: Double
                                        if isReLU {
                                            f = 0
                                            for j in 0..<m {
                                                let z = dotProduct(wp.pointer + j * d, row, d)
                                                hb[j] = z
                                                if z > 0 { f = f.addingProduct(a[j], z) }
                                            }
                                            f *= inverseRootM
                                        } else {
                                            f = dotProduct(t.pointer, row, d)
                                        }
                                        let r = f - y.pointer[i]
                                        o[0] = o[0].addingProduct(r, r)
                                        guard gradient else { continue }
                                        if isReLU {
                                            let rs = r * inverseRootM
                                            for j in 0..<m where hb[j] > 0 {
                                                addScaled(o + 1 + j * d, rs * a[j], row, d)
                                                o[1 + m * d + j] = o[1 + m * d + j].addingProduct(rs, hb[j])
                                            }
                                        } else {
                                            addScaled(o + 1, r, row, d)
                                        }
                                    }
                                }
                            }
                            pool.run(count: chunks, body)
                        }
                    }
                }
            }
        }
        // Ordered reduction.
        var total = [Double](repeating: 0, count: slot)
        total.withUnsafeMutableBufferPointer { tb in
            partial.withUnsafeBufferPointer { pb in
                for c in 0..<chunks { addScaled(tb.baseAddress!, 1, pb.baseAddress! + c * slot, slot) }
            }
        }
        let loss = total[0] / Double(max(n, 1))
        guard gradient else { return (loss, []) }
        let scaleBy = 1 / Double(max(n, 1))
        if isReLU {
            return (loss, [Array(total[1..<(1 + m * d)]).map { $0 * scaleBy }, Array(total[(1 + m * d)...]).map { $0 * scaleBy }])
        }
        return (loss, [Array(total[1...]).map { $0 * scaleBy }])
    }

    /// The largest eigenvalue of X^T X / n, by 60 power iterations from the all-ones vector.
    func largestEigenvalue(_ samples: RegressionSamples) -> Double {
        let n = samples.count
        var v = [Double](repeating: 1 / Double(d).squareRoot(), count: d)
        var lambda = 0.0
        samples.inputs.withUnsafeBufferPointer { xb in
            for _ in 0..<60 {
                var next = [Double](repeating: 0, count: d)
                next.withUnsafeMutableBufferPointer { nb in
                    v.withUnsafeBufferPointer { vb in
                        for i in 0..<n {
                            let row = xb.baseAddress! + i * d
                            addScaled(nb.baseAddress!, dotProduct(row, vb.baseAddress!, d), row, d)
                        }
                    }
                }
                scale(&next, by: 1 / Double(max(n, 1)))
                lambda = dot(next, v)
                let length = norm(next)
                guard length > 0 else { break }
                v = next.map { $0 / length }
            }
        }
        return max(lambda, 1e-12)
    }

    /// Squared Frobenius norm.
    private func squaredNorm(_ w: [Double]) -> Double { dot(w, w) }

    /// The curvature factor c of the step size (see ``runLinearTeachersTask(_:pool:shouldStop:onEpoch:)``).
    private func curvature(_ layers: [[Double]], frozen: Int) -> Double {
        if config.model == .relu {
            let m = Double(config.width)
            return (frozen == 0 ? dot(layers[1], layers[1]) / m : 0) + squaredNorm(layers[0]) / m
        }
        let norms = layers.map(squaredNorm)
        var c = 0.0
        for i in frozen..<layers.count {
            var p = 1.0
            for j in norms.indices where j != i { p *= norms[j] }
            c += p
        }
        return max(c, 1e-12)
    }

    /// One full-batch step on the layers from `frozen` on; returns the loss before it.
    private func step(_ layers: inout [[Double]], on samples: RegressionSamples, frozen: Int, lambda: Double) -> Double {
        let (loss, g) = lossAndGradient(layers, on: samples, gradient: true)
        let eta = config.learningRate / (lambda * curvature(layers, frozen: frozen))
        if config.model == .relu {
            for i in frozen..<2 { subtract(&layers[i], eta, g[i]) }
            return loss
        }
        // dLoss/dW_i = s_i^T (W_{i-1} ... W_1 g)^T, all from the weights before the step.
        let s = suffixes(layers).rows
        var prefix = g[0]
        var updates: [(Int, [Double], [Double])] = []
        for i in 0..<layers.count {
            if i >= frozen { updates.append((i, s[i], prefix)) }
            if i + 1 < layers.count { prefix = matrixTimesVector(layers[i], shapes[i], prefix) }
        }
        for (i, left, right) in updates {
            let columns = shapes[i].columns
            layers[i].withUnsafeMutableBufferPointer { wb in
                right.withUnsafeBufferPointer { rb in
                    for r in 0..<shapes[i].rows where left[r] != 0 {
                        addScaled(wb.baseAddress! + r * columns, -eta * left[r], rb.baseAddress!, columns)
                    }
                }
            }
        }
        return loss
    }

    private func subtract(_ w: inout [Double], _ eta: Double, _ g: [Double]) {
        w.withUnsafeMutableBufferPointer { wb in
            g.withUnsafeBufferPointer { gb in addScaled(wb.baseAddress!, -eta, gb.baseAddress!, wb.count) }
        }
    }

    /// Trains to convergence or `maxSteps` (the rule is in ``runLinearTeachersTask(_:pool:shouldStop:onEpoch:)``).
    func train(_ layers: inout [[Double]], on samples: RegressionSamples, frozen: Int, phase: LinearTeachersEpoch.Phase,
               shouldStop: () -> Bool, onEpoch: (LinearTeachersEpoch) -> Void) throws(TrainingStopped) -> (steps: Int, converged: Bool, loss: Double) {
        let lambda = largestEigenvalue(samples)
        let initial = lossAndGradient(layers, on: samples, gradient: false).loss
        var previous = initial
        if !(initial > 0) { return (0, true, initial) }
        var steps = 0
        var epoch = 0
        while steps < config.maxSteps {
            let block = min(config.epochSteps, config.maxSteps - steps)
            for _ in 0..<block {
                if shouldStop() { throw TrainingStopped() }
                _ = step(&layers, on: samples, frozen: frozen, lambda: lambda)
            }
            steps += block
            epoch += 1
            let loss = lossAndGradient(layers, on: samples, gradient: false).loss
            onEpoch(LinearTeachersEpoch(phase: phase, epoch: epoch, risk: risk(layers), trainLoss: loss))
            if !loss.isFinite { return (steps, false, loss) }
            if loss <= config.tolerance * initial || previous - loss <= config.tolerance * previous {
                return (steps, true, loss)
            }
            previous = loss
        }
        return (steps, false, previous)
    }
}
