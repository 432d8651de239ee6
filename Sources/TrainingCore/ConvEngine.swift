import Parallelism
import Synchronization

/// Engines alive in this process (for leak tests and diagnostics; see ``liveConvEngines``).
private let liveEngineCount = Atomic<Int>(0)

/// The number of networks (with their buffers) alive in this process: 0 whenever no task runs.
public var liveConvEngines: Int { liveEngineCount.load(ordering: .relaxed) }

/// The SIMD width of the kernels' source order. Fixed at 16 lanes whatever the ISA: on AVX2 a
/// lane group is two ymm registers, on AVX-512 one zmm; each lane accumulates independently, so
/// the bits are the same either way.
typealias FloatVector = SIMD16<Float>
let vectorLanes = 16

@inline(__always) private func load(_ p: UnsafePointer<Float>) -> FloatVector {
    UnsafeRawPointer(p).loadUnaligned(as: FloatVector.self)
}
@inline(__always) private func load(_ p: UnsafeMutablePointer<Float>) -> FloatVector {
    UnsafeRawPointer(p).loadUnaligned(as: FloatVector.self)
}
@inline(__always) private func store(_ v: FloatVector, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: FloatVector.self)
}

/// Allocates `count` floats, 64-byte aligned, zeroed.
func allocateFloats(_ count: Int) -> UnsafeMutablePointer<Float> {
    let p = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * 4, alignment: 64)
        .bindMemory(to: Float.self, capacity: max(1, count))
    p.initialize(repeating: 0, count: max(1, count))
    return p
}

/// The two-layer convolutional ReLU network, its two heads and its training step.
///
/// Filters f = j*m + r (class j, copy r) are stored transposed and padded, `weights[k*Fp + f]`,
/// so that a 16-filter panel of one input coordinate is one vector load. A step splits its batch
/// into fixed chunks of ``chunkSamples`` samples (independent of the thread count); each chunk
/// writes its partial gradient to its own slot and the slots are summed in chunk order.
///
/// Pretraining head: F_j = (s/m) * sum_r pooled[j*m + r] with pooled[f] = sum_p ReLU(<w_f, x_p> + b).
/// Fine-tuning head: logits_y = c_y + sum_f V[y, f] * u_f * pooled[f] over all C*m filters, where
/// u_f = 1 / RMS of pooled[f] over the fine-tuning set at the start of fine-tuning (0 for a dead
/// filter), fixed during fine-tuning. The standardisation makes one head learning rate fit any
/// filter scale (a random initialisation's activations are ~100x smaller than trained ones).
///
/// The engine borrows its ``ComputePool`` (the task's caller owns it and outlives the engine) and
/// owns only its buffers, which `deinit` frees: no engine, pool or job refers back to the engine
/// after a call returns, so an engine dies with the task that made it.
final class ConvEngine: @unchecked Sendable {
    // @unchecked Sendable: during a job each chunk writes only its own slots (partial gradients,
    // losses) and each worker only its own scratch; shared inputs are read-only until the job ends.

    /// Samples per chunk: 16 samples of P=8, d=64 are 32 KiB of patches (L1/L2 resident).
    static let chunkSamples = 16

    let dim: Int, patches: Int, classes: Int, width: Int, filters: Int, paddedFilters: Int
    let headClasses: Int
    let bias: Float
    let scaleOverWidth: Float
    let pool: ComputePool
    let maxChunks: Int

    /// dim x paddedFilters.
    let weights: UnsafeMutablePointer<Float>
    /// headClasses x paddedFilters, then headClasses biases.
    let head: UnsafeMutablePointer<Float>
    /// u_f, the fine-tuning head's fixed input scale per filter.
    let headInputScale: UnsafeMutablePointer<Float>

    private let zStride: Int, poolStride: Int
    private let zScratch: UnsafeMutablePointer<Float>
    private let pooledScratch: UnsafeMutablePointer<Float>
    private let coefScratch: UnsafeMutablePointer<Float>
    private let logitScratch: UnsafeMutablePointer<Float>
    private let logitStride: Int
    private let weightGrads: UnsafeMutablePointer<Float>
    private let headGrads: UnsafeMutablePointer<Float>
    private let headStride: Int
    private let chunkLoss: UnsafeMutablePointer<Double>
    private let chunkCorrect: UnsafeMutablePointer<Int>

    // Arguments of the running job (set by the caller before `pool.run`, read-only during it).
    private var jobX: UnsafePointer<Float>
    private var jobIndices: UnsafePointer<Int32>
    private var jobLabels: UnsafePointer<Int32>
    private var jobPredictions: UnsafeMutablePointer<Int32>
    /// When set, `predict` also copies each sample's pooled activations here (count x Fp).
    private var jobPooledOut: UnsafeMutablePointer<Float>?
    /// When set, the pooled activations of sample i are read from row i here (count x Fp, see
    /// ``pooledActivations(of:)``) instead of being computed: frozen filters, no backward pass.
    private var jobPooledIn: UnsafePointer<Float>?
    private var jobCount = 0
    private var jobInverseBatch: Float = 0
    private var jobChunks = 0

    init(config: HierarchyConfig, maxBatch: Int, pool: ComputePool) {
        dim = config.dim
        patches = config.patches
        classes = config.pretrainClasses
        width = config.width
        filters = config.filters
        paddedFilters = (filters + vectorLanes - 1) / vectorLanes * vectorLanes
        headClasses = config.superclasses
        bias = Float(config.bias)
        scaleOverWidth = Float(config.outputScale) / Float(config.width)
        self.pool = pool
        maxChunks = (maxBatch + Self.chunkSamples - 1) / Self.chunkSamples
        let workers = pool.threads
        weights = allocateFloats(dim * paddedFilters)
        headStride = headClasses * paddedFilters + headClasses
        head = allocateFloats(headStride)
        headInputScale = allocateFloats(paddedFilters)
        zStride = Self.chunkSamples * patches * paddedFilters
        poolStride = Self.chunkSamples * paddedFilters
        zScratch = allocateFloats(workers * zStride)
        pooledScratch = allocateFloats(workers * poolStride)
        coefScratch = allocateFloats(workers * poolStride)
        logitStride = 2 * max(classes, headClasses)
        logitScratch = allocateFloats(workers * logitStride)
        weightGrads = allocateFloats(maxChunks * dim * paddedFilters)
        headGrads = allocateFloats(maxChunks * headStride)
        chunkLoss = .allocate(capacity: maxChunks)
        chunkCorrect = .allocate(capacity: maxChunks)
        let dummy = UnsafeMutablePointer<Float>.allocate(capacity: 1)
        jobX = UnsafePointer(dummy)
        let dummyIndex = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        jobIndices = UnsafePointer(dummyIndex)
        jobLabels = UnsafePointer(dummyIndex)
        jobPredictions = dummyIndex
        liveEngineCount.add(1, ordering: .relaxed)
    }

    deinit {
        liveEngineCount.subtract(1, ordering: .relaxed)
        for p in [weights, head, headInputScale, zScratch, pooledScratch, coefScratch, logitScratch, weightGrads, headGrads] {
            UnsafeMutableRawPointer(p).deallocate()
        }
        chunkLoss.deallocate()
        chunkCorrect.deallocate()
    }

    /// w ~ N(0, sigma0^2 I) with sigma0 = initScale / sqrt(d); filter f uses stream (seed, f).
    func initialiseWeights(initScale: Double, seed: UInt64) {
        let sigma0 = initScale / Double(dim).squareRoot()
        weights.update(repeating: 0, count: dim * paddedFilters)
        for f in 0..<filters {
            var rng = CounterRandom(seed: seed, stream: .initialWeights, index: UInt64(f))
            for k in 0..<dim { weights[k * paddedFilters + f] = Float(sigma0 * rng.gaussian()) }
        }
    }

    /// The pooled activations pooled[n, f] of every sample of `set` under the current filters
    /// (count x paddedFilters), computed by the same kernel as in a step, so the same bits.
    func pooledActivations(of set: SampleSet) -> [Float] {
        var pooled = [Float](repeating: 0, count: set.count * paddedFilters)
        pooled.withUnsafeMutableBufferPointer { out in
            jobPooledOut = out.baseAddress!
            _ = predict(set, phase: .pretrain)
            jobPooledOut = nil
        }
        return pooled
    }

    /// Copies the cached pooled rows of the chunk's samples into the worker's pooled scratch
    /// (in place of ``forwardChunk``).
    @inline(__always)
    private func gatherPooled(_ cache: UnsafePointer<Float>, first: Int, count ns: Int, worker: Int) {
        let Fp = paddedFilters, pooled = pooledScratch + worker * poolStride
        for n in 0..<ns { (pooled + n * Fp).update(from: cache + Int(jobIndices[first + n]) * Fp, count: Fp) }
    }

    /// A zero fine-tuning head whose input scale u_f standardises the filters' pooled activations
    /// over `set` (summed over samples in order, in Double).
    /// `pooled`: ``pooledActivations(of:)`` of `set` if the caller has it.
    func resetHead(standardisingOver set: SampleSet, pooled cached: UnsafePointer<Float>? = nil) {
        head.update(repeating: 0, count: headStride)
        if let cached {
            setHeadInputScale(cached, count: set.count)
        } else {
            let pooled = pooledActivations(of: set)
            pooled.withUnsafeBufferPointer { setHeadInputScale($0.baseAddress!, count: set.count) }
        }
    }

    private func setHeadInputScale(_ pooled: UnsafePointer<Float>, count: Int) {
        headInputScale.update(repeating: 0, count: paddedFilters)
        for f in 0..<filters {
            var s = 0.0
            for n in 0..<count { s += Double(pooled[n * paddedFilters + f]) * Double(pooled[n * paddedFilters + f]) }
            let rms = (s / Double(count)).squareRoot()
            headInputScale[f] = rms > 0 ? Float(1 / rms) : 0
        }
    }

    // MARK: Kernels

    /// z = X W + b for the chunk's samples (kept in the worker's z scratch for the backward pass)
    /// and pooled[n, f] = sum_p ReLU(z[n, p, f]), fused: bias, ReLU and the patch sum happen while
    /// the accumulators are in registers. Register block: 4 patches x 16 filters, weights panel
    /// (d x 16 floats) reused from L1 across the chunk.
    @inline(__always)
    private func forwardChunk(first: Int, count ns: Int, worker: Int) {
        let d = dim, P = patches, Fp = paddedFilters, w = weights
        let x = jobX, indices = jobIndices + first
        let z = zScratch + worker * zStride, pooled = pooledScratch + worker * poolStride
        let sampleStride = P * d
        let b = FloatVector(repeating: bias)
        for panel in 0..<(Fp / vectorLanes) {
            let wp = w + panel * vectorLanes
            for n in 0..<ns {
                let xs = x + Int(indices[n]) * sampleStride
                let zs = z + n * P * Fp + panel * vectorLanes
                var sum = FloatVector()
                var p = 0
                while p + 4 <= P {
                    let x0 = xs + p * d, x1 = x0 + d, x2 = x1 + d, x3 = x2 + d
                    var a0 = b, a1 = b, a2 = b, a3 = b
                    for k in 0..<d {
                        let wk = load(wp + k * Fp)
                        a0 = a0.addingProduct(x0[k], wk)
                        a1 = a1.addingProduct(x1[k], wk)
                        a2 = a2.addingProduct(x2[k], wk)
                        a3 = a3.addingProduct(x3[k], wk)
                    }
                    store(a0, zs + p * Fp)
                    store(a1, zs + (p + 1) * Fp)
                    store(a2, zs + (p + 2) * Fp)
                    store(a3, zs + (p + 3) * Fp)
                    sum += a0.replacing(with: 0, where: a0 .< 0)
                    sum += a1.replacing(with: 0, where: a1 .< 0)
                    sum += a2.replacing(with: 0, where: a2 .< 0)
                    sum += a3.replacing(with: 0, where: a3 .< 0)
                    p += 4
                }
                while p < P {
                    let x0 = xs + p * d
                    var a0 = b
                    for k in 0..<d { a0 = a0.addingProduct(x0[k], load(wp + k * Fp)) }
                    store(a0, zs + p * Fp)
                    sum += a0.replacing(with: 0, where: a0 .< 0)
                    p += 1
                }
                store(sum, pooled + n * Fp + panel * vectorLanes)
            }
        }
    }

    /// The chunk's partial weight gradient: G[k, f] = sum_{n,p} x[n,p,k] * coef[n,f] * 1[z[n,p,f] > 0],
    /// summed over rows in order. Register block: 4 input coordinates x 16 filters.
    @inline(__always)
    private func backwardChunk(first: Int, count ns: Int, worker: Int, chunk: Int) {
        let d = dim, P = patches, Fp = paddedFilters
        let x = jobX, indices = jobIndices + first
        let z = zScratch + worker * zStride, coef = coefScratch + worker * poolStride
        let g = weightGrads + chunk * d * Fp
        let sampleStride = P * d
        let panels = Fp / vectorLanes
        // z becomes the masked coefficients M in place.
        for n in 0..<ns {
            for panel in 0..<panels {
                let c = load(coef + n * Fp + panel * vectorLanes)
                for p in 0..<P {
                    let zp = z + (n * P + p) * Fp + panel * vectorLanes
                    let zv = load(zp)
                    store(c.replacing(with: 0, where: zv .<= 0), zp)
                }
            }
        }
        for panel in 0..<panels {
            let m0 = z + panel * vectorLanes
            var kb = 0
            while kb + 4 <= d {
                var g0 = FloatVector(), g1 = FloatVector(), g2 = FloatVector(), g3 = FloatVector()
                for n in 0..<ns {
                    let xs = x + Int(indices[n]) * sampleStride + kb
                    let ms = m0 + n * P * Fp
                    for p in 0..<P {
                        let m = load(ms + p * Fp)
                        let xr = xs + p * d
                        g0 = g0.addingProduct(xr[0], m)
                        g1 = g1.addingProduct(xr[1], m)
                        g2 = g2.addingProduct(xr[2], m)
                        g3 = g3.addingProduct(xr[3], m)
                    }
                }
                store(g0, g + kb * Fp + panel * vectorLanes)
                store(g1, g + (kb + 1) * Fp + panel * vectorLanes)
                store(g2, g + (kb + 2) * Fp + panel * vectorLanes)
                store(g3, g + (kb + 3) * Fp + panel * vectorLanes)
                kb += 4
            }
            while kb < d {
                var g0 = FloatVector()
                for n in 0..<ns {
                    let xs = x + Int(indices[n]) * sampleStride + kb
                    let ms = m0 + n * P * Fp
                    for p in 0..<P { g0 = g0.addingProduct(xs[p * d], load(ms + p * Fp)) }
                }
                store(g0, g + kb * Fp + panel * vectorLanes)
                kb += 1
            }
        }
    }

    /// Softmax cross-entropy of `logits[0..<n]` against `label`: returns (loss, argmax) and leaves
    /// p - onehot in `logits[n..<2n]`. `exp` and `log` are ``PortableMath``'s (host-independent
    /// bits; the exponentials 16 lanes at a time), the sum is in class order.
    @inline(__always)
    private func softmax(_ logits: UnsafeMutablePointer<Float>, _ n: Int, label: Int) -> (Float, Int) {
        var best = 0
        var top = logits[0]
        for j in 1..<n where logits[j] > top {
            top = logits[j]
            best = j
        }
        for j in 0..<n { logits[n + j] = logits[j] - top }
        PortableMath.expInPlace(logits + n, count: n)
        var total: Float = 0
        for j in 0..<n { total += logits[n + j] }
        let loss = PortableMath.log(total) - (logits[label] - top)
        let inv = 1 / total
        for j in 0..<n { logits[n + j] = logits[n + j] * inv - (j == label ? 1 : 0) }
        return (loss, best)
    }

    /// Pretraining logits, loss and accuracy of the chunk; with `gradient`, coef[n, j*m + r] =
    /// (s/m) * dLoss/dF_j (the batch mean folded in).
    @inline(__always)
    private func pretrainHead(first: Int, count ns: Int, worker: Int, chunk: Int, gradient: Bool) {
        let Fp = paddedFilters, m = width, C = classes
        let pooled = pooledScratch + worker * poolStride, coef = coefScratch + worker * poolStride
        let logits = logitScratch + worker * logitStride
        var loss = 0.0
        var correct = 0
        for n in 0..<ns {
            let pn = pooled + n * Fp
            for j in 0..<C {
                var s: Float = 0
                for r in 0..<m { s += pn[j * m + r] }
                logits[j] = scaleOverWidth * s
            }
            if !gradient {
                var best = 0
                for j in 1..<C where logits[j] > logits[best] { best = j }
                jobPredictions[first + n] = Int32(best)
                continue
            }
            let label = Int(jobLabels[first + n])
            let (l, best) = softmax(logits, C, label: label)
            loss += Double(l)
            if best == label { correct += 1 }
            let cn = coef + n * Fp
            for j in 0..<C {
                let dj = logits[C + j] * jobInverseBatch * scaleOverWidth
                for r in 0..<m { cn[j * m + r] = dj }
            }
            for f in filters..<Fp { cn[f] = 0 }
        }
        if gradient {
            chunkLoss[chunk] = loss
            chunkCorrect[chunk] = correct
        }
    }

    /// Fine-tuning logits, loss and accuracy of the chunk; with `gradient`, the chunk's head
    /// gradient and, with `filters`, coef[n, f] = sum_y V[y, f] * dLoss/dlogit_y.
    @inline(__always)
    private func finetuneHead(first: Int, count ns: Int, worker: Int, chunk: Int, gradient: Bool, trainFilters: Bool) {
        let Fp = paddedFilters, K = headClasses, F = filters
        let pooled = pooledScratch + worker * poolStride, coef = coefScratch + worker * poolStride
        let logits = logitScratch + worker * logitStride
        let hg = headGrads + chunk * headStride
        let u = headInputScale
        if gradient { hg.update(repeating: 0, count: headStride) }
        var loss = 0.0
        var correct = 0
        for n in 0..<ns {
            let pn = pooled + n * Fp
            for y in 0..<K {
                let v = head + y * Fp
                var s = head[K * Fp + y]
                for f in 0..<F { s = s.addingProduct(v[f], u[f] * pn[f]) }
                logits[y] = s
            }
            if !gradient {
                var best = 0
                for y in 1..<K where logits[y] > logits[best] { best = y }
                jobPredictions[first + n] = Int32(best)
                continue
            }
            let label = Int(jobLabels[first + n])
            let (l, best) = softmax(logits, K, label: label)
            loss += Double(l)
            if best == label { correct += 1 }
            for y in 0..<K {
                let dz = logits[K + y] * jobInverseBatch
                let gy = hg + y * Fp
                for f in 0..<F { gy[f] = gy[f].addingProduct(dz, u[f] * pn[f]) }
                hg[K * Fp + y] += dz
            }
            if trainFilters {
                let cn = coef + n * Fp
                for f in 0..<F {
                    var s: Float = 0
                    for y in 0..<K { s = s.addingProduct(head[y * Fp + f], logits[K + y] * jobInverseBatch) }
                    cn[f] = u[f] * s
                }
                for f in F..<Fp { cn[f] = 0 }
            }
        }
        if gradient {
            chunkLoss[chunk] = loss
            chunkCorrect[chunk] = correct
        }
    }

    // MARK: Steps

    /// What a step trains.
    enum Phase {
        case pretrain
        case finetune(trainFilters: Bool)
    }

    /// Forward and backward passes of the batch `indices[0..<count]` of `x` with labels
    /// `labels[0..<count]` (pretraining classes or superclasses, by phase): leaves each chunk's
    /// partial gradients, loss and correct count in its slots.
    /// - Returns: the number of chunks.
    func accumulate(x: UnsafePointer<Float>, indices: UnsafePointer<Int32>, labels: UnsafePointer<Int32>, count: Int,
                    phase: Phase, pooled: UnsafePointer<Float>? = nil) -> Int {
        accumulate(x: x, indices: indices, labels: labels, count: count, phase: phase, pooled: pooled, update: nil)
    }

    /// ``accumulate`` and, with `update` (a learning rate) and trained filters, in the same pool
    /// job after its chunks: the fixed-order reduction of the partial weight gradients and the SGD
    /// update of the filters, split in fixed blocks of rows.
    private func accumulate(x: UnsafePointer<Float>, indices: UnsafePointer<Int32>, labels: UnsafePointer<Int32>,
                            count: Int, phase: Phase, pooled: UnsafePointer<Float>?, update: Float?) -> Int {
        precondition(count <= maxChunks * Self.chunkSamples)
        jobX = x
        jobPooledIn = pooled
        jobIndices = indices
        jobLabels = labels
        jobCount = count
        jobInverseBatch = 1 / Float(count)
        let chunks = (count + Self.chunkSamples - 1) / Self.chunkSamples
        jobChunks = chunks
        let trainFilters: Bool
        switch phase {
        case .pretrain: trainFilters = true
        case .finetune(let t): trainFilters = t
        }
        precondition(pooled == nil || !trainFilters, "cached activations need frozen filters")
        let rowsPerJob = 8
        let reduce: (@Sendable (Int, Int) -> Void)? = update.map { learningRate in
            let lr = FloatVector(repeating: learningRate)
            return { [self] job, _ in
                // Sum the chunks' partial gradients in chunk order and update.
                let Fp = paddedFilters, size = dim * Fp
                for k in (job * rowsPerJob)..<min(dim, (job + 1) * rowsPerJob) {
                    for v in stride(from: k * Fp, to: (k + 1) * Fp, by: vectorLanes) {
                        var s = load(weightGrads + v)
                        for c in 1..<jobChunks { s += load(weightGrads + c * size + v) }
                        store(load(weights + v) - lr * s, weights + v)
                    }
                }
            }
        }
        pool.run(count: chunks, { [self] chunk, worker in
            let first = chunk * Self.chunkSamples
            let ns = min(Self.chunkSamples, jobCount - first)
            if let cache = jobPooledIn {
                gatherPooled(cache, first: first, count: ns, worker: worker)
            } else {
                forwardChunk(first: first, count: ns, worker: worker)
            }
            switch phase {
            case .pretrain:
                pretrainHead(first: first, count: ns, worker: worker, chunk: chunk, gradient: true)
            case .finetune:
                finetuneHead(first: first, count: ns, worker: worker, chunk: chunk, gradient: true, trainFilters: trainFilters)
            }
            if trainFilters { backwardChunk(first: first, count: ns, worker: worker, chunk: chunk) }
        }, then: trainFilters ? (dim + rowsPerJob - 1) / rowsPerJob : 0, trainFilters ? reduce : nil)
        return chunks
    }

    /// The summed weight gradient (dim x paddedFilters) and head gradient of the last
    /// ``accumulate`` call, in chunk order (for tests; `step` sums the same way).
    func summedGradients(chunks: Int) -> (weights: [Float], head: [Float]) {
        let size = dim * paddedFilters
        var w = [Float](repeating: 0, count: size)
        for i in 0..<size {
            var s = weightGrads[i]
            for c in 1..<chunks { s += weightGrads[c * size + i] }
            w[i] = s
        }
        var h = [Float](repeating: 0, count: headStride)
        for i in 0..<headStride {
            var s = headGrads[i]
            for c in 1..<chunks { s += headGrads[c * headStride + i] }
            h[i] = s
        }
        return (w, h)
    }

    /// One SGD step on the batch (see ``accumulate``).
    /// - Returns: the summed loss and the number of correct predictions over the batch.
    func step(x: UnsafePointer<Float>, indices: UnsafePointer<Int32>, labels: UnsafePointer<Int32>, count: Int,
              phase: Phase, learningRate: Float, pooled: UnsafePointer<Float>? = nil) -> (loss: Double, correct: Int) {
        // Chunks, then the filters' reduction and update, in one pool job.
        let chunks = accumulate(x: x, indices: indices, labels: labels, count: count, phase: phase, pooled: pooled,
                                update: learningRate)
        if case .finetune = phase {
            for i in 0..<headStride {
                var s = headGrads[i]
                for c in 1..<chunks { s += headGrads[c * headStride + i] }
                head[i] -= learningRate * s
            }
        }
        var loss = 0.0
        var correct = 0
        for c in 0..<chunks {
            loss += chunkLoss[c]
            correct += chunkCorrect[c]
        }
        return (loss, correct)
    }

    /// The predicted class (pretraining class or superclass, by `phase`) of each sample of `set`.
    /// With `pooled` (``pooledActivations(of:)`` of `set` under the current filters), no forward pass.
    func predict(_ set: SampleSet, phase: Phase, pooled: UnsafePointer<Float>? = nil) -> [Int32] {
        var predictions = [Int32](repeating: 0, count: set.count)
        let identity = (0..<set.count).map { Int32($0) }
        identity.withUnsafeBufferPointer { ids in
            predictions.withUnsafeMutableBufferPointer { out in
                jobX = UnsafePointer(set.x)
                jobIndices = ids.baseAddress!
                jobPredictions = out.baseAddress!
                jobCount = set.count
                jobPooledIn = pooled
                let chunks = (set.count + Self.chunkSamples - 1) / Self.chunkSamples
                pool.run(count: chunks) { [self] chunk, worker in
                    let first = chunk * Self.chunkSamples
                    let ns = min(Self.chunkSamples, jobCount - first)
                    if let cache = jobPooledIn {
                        gatherPooled(cache, first: first, count: ns, worker: worker)
                    } else {
                        forwardChunk(first: first, count: ns, worker: worker)
                    }
                    if let out = jobPooledOut {
                        (out + first * paddedFilters).update(from: pooledScratch + worker * poolStride, count: ns * paddedFilters)
                    }
                    switch phase {
                    case .pretrain:
                        pretrainHead(first: first, count: ns, worker: worker, chunk: 0, gradient: false)
                    case .finetune:
                        finetuneHead(first: first, count: ns, worker: worker, chunk: 0, gradient: false, trainFilters: false)
                    }
                }
            }
        }
        return predictions
    }

    /// Mean over `features` of max over filters of <w_f, v> / ||w_f|| (in Double, fixed order).
    /// Filter norms are computed in jobs of 16 filters, each feature's maximum in its own job; the
    /// mean sums the per-feature maxima in feature order, so the bits do not depend on threads.
    func alignment(_ dictionary: FeatureDictionary, features: Range<Int>) -> Double {
        if features.isEmpty { return 0 }
        let norms = SendablePointer(UnsafeMutablePointer<Double>.allocate(capacity: filters))
        let best = SendablePointer(UnsafeMutablePointer<Double>.allocate(capacity: features.count))
        defer {
            norms.pointer.deallocate()
            best.pointer.deallocate()
        }
        let d = dim, Fp = paddedFilters, F = filters
        let w = SendablePointer(weights)
        pool.run(count: (F + 15) / 16) { job, _ in
            for f in (job * 16)..<min(F, (job + 1) * 16) {
                var s = 0.0
                for k in 0..<d { s += Double(w.pointer[k * Fp + f]) * Double(w.pointer[k * Fp + f]) }
                norms.pointer[f] = s.squareRoot()
            }
        }
        let first = features.lowerBound
        dictionary.vectors.withUnsafeBufferPointer { vectors in
            let v = SendablePointer(UnsafeMutablePointer(mutating: vectors.baseAddress!))
            pool.run(count: features.count) { j, _ in
                let vi = v.pointer + (first + j) * d
                var m = -Double.infinity
                for f in 0..<F {
                    var s = 0.0
                    for k in 0..<d { s += Double(w.pointer[k * Fp + f]) * Double(vi[k]) }
                    let c = norms.pointer[f] > 0 ? s / norms.pointer[f] : 0
                    if c > m { m = c }
                }
                best.pointer[j] = m
            }
        }
        var total = 0.0
        for j in 0..<features.count { total += best.pointer[j] }
        return total / Double(features.count)
    }
}
