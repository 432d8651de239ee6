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
/// Storage. Filters f = j*m + r (class j, copy r) come in panels of 16 (padded with zero filters
/// to a multiple of 16). The weights are packed panel by panel, `weights[weightIndex(k, f)]` =
/// `weights[(f / 16) * d * 16 + k * 16 + f % 16]`, so that one panel (d x 16 floats, 4 KiB for
/// d = 64) is contiguous: the forward kernel streams it from L1 (a d x Fp row-major matrix put the
/// 64 rows of a panel 1 KiB apart, into 4 of L1's 64 sets). Pre-activations and the masked
/// coefficients of the backward pass are kept per panel too (`z[panel][row][16]`).
///
/// A step. Its batch is processed in groups of ``groupSamples`` samples (the whole batch at the
/// defaults), one pool job per group, of two phases:
/// 1. chunks of ``chunkSamples`` samples, taken by any thread: forward pass (bias, ReLU and the
///    patch sum fused while the accumulators are in registers), head, softmax, coefficients;
/// 2. after the job's barrier, filter panels, taken by any thread: the masked coefficients of the
///    panel and its weight gradient, then (last group) the panel's SGD update.
///
/// Bits. Each output's arithmetic order is fixed in the source, whatever the thread count, the
/// group size or the vector width: z = b + x_0 w_0 + ... (fused multiply-adds in k order); pooled
/// = ((0 + ReLU(z_0)) + ReLU(z_1)) + ... in patch order; the weight gradient of a chunk is a chain
/// of fused multiply-adds over its rows in (sample, patch) order, started at 0, and the chunks'
/// gradients are summed in chunk order, ((g_0 + g_1) + g_2) + ...; the update is w - (lr * g).
/// That is the order of the kernels before this layout (8 partial gradients, then a reduction),
/// so the bits are the same; only now the panel's running sum stays in one buffer and each
/// chunk's gradient is added to it while it is in registers (no partial buffers, no reduction pass).
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
    // @unchecked Sendable: during a job's first phase each chunk writes only its own rows (row
    // pointers, pre-activations, pooled activations, coefficients, head gradient and loss slots)
    // and each worker only its own scratch; in the second phase each panel writes only its own
    // gradient and weight columns. Shared inputs are read-only until the job ends.

    /// Samples per chunk: the unit of the first phase, and of the fixed summation order of the
    /// weight and head gradients (chunk by chunk).
    static let chunkSamples = 16
    /// The largest pre-activation buffer of a group, in bytes (1 MiB: a whole default batch,
    /// 128 x 8 x 256 floats). Does not change the bits, only how a batch is cut into jobs.
    static let groupBytes = 1 << 20

    let dim: Int, patches: Int, classes: Int, width: Int, filters: Int, paddedFilters: Int, panels: Int
    let headClasses: Int
    let bias: Float
    let scaleOverWidth: Float
    let pool: ComputePool
    let maxChunks: Int
    /// Samples per group (a multiple of ``chunkSamples``) and their rows (samples x patches).
    let groupSamples: Int, groupRows: Int

    /// Packed panels (see the type's documentation), dim x paddedFilters floats.
    let weights: UnsafeMutablePointer<Float>
    /// headClasses x paddedFilters, then headClasses biases.
    let head: UnsafeMutablePointer<Float>
    /// u_f, the fine-tuning head's fixed input scale per filter.
    let headInputScale: UnsafeMutablePointer<Float>
    /// Each filter's step-size factor: 1 in pretraining; 1/u_f^2 in full fine-tuning (0 for a dead
    /// filter), so that a filter's step is proportional to its own scale: the gradient through the
    /// standardised head grows with u_f, and a barely trained filter (large u_f) would otherwise
    /// take steps far larger than itself and diverge.
    let filterStepScale: UnsafeMutablePointer<Float>

    /// The batch's summed weight gradient, transposed per panel: `gradientT[panel][f % 16][k]`.
    private let gradientT: UnsafeMutablePointer<Float>
    /// Pre-activations of the group, panels x groupRows x 16.
    private let z: UnsafeMutablePointer<Float>
    /// Pooled activations and dLoss/dpooled of the group's samples, groupSamples x paddedFilters.
    private let groupPooled: UnsafeMutablePointer<Float>
    private let groupCoef: UnsafeMutablePointer<Float>
    /// The group's rows (patches) as pointers into the sample set.
    private let groupRowPointers: UnsafeMutablePointer<UnsafePointer<Float>>
    /// Per worker: a chunk's rows and pooled activations (evaluation), a chunk's masked
    /// coefficients of one panel (backward), logits.
    private let workerRows: UnsafeMutablePointer<UnsafePointer<Float>>
    private let workerPooled: UnsafeMutablePointer<Float>
    private let workerMask: UnsafeMutablePointer<Float>
    private let logitScratch: UnsafeMutablePointer<Float>
    /// Per worker: the fine-tuning logits of a chunk (chunkSamples x headClasses).
    private let chunkLogits: UnsafeMutablePointer<Float>
    private let chunkRows: Int, logitStride: Int
    private let headGrads: UnsafeMutablePointer<Float>
    private let headStride: Int
    private let chunkLoss: UnsafeMutablePointer<Double>
    private let chunkCorrect: UnsafeMutablePointer<Int>
    /// What the job pointers point at between jobs (freed in `deinit`).
    private let placeholderFloat: UnsafeMutablePointer<Float>
    private let placeholderIndex: UnsafeMutablePointer<Int32>

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
    /// The running group: its first sample in the batch and its sample count.
    private var jobGroupStart = 0, jobGroupCount = 0

    init(config: HierarchyConfig, maxBatch: Int, pool: ComputePool) {
        dim = config.dim
        patches = config.patches
        classes = config.pretrainClasses
        width = config.filtersPerClass
        filters = config.filters
        paddedFilters = (filters + vectorLanes - 1) / vectorLanes * vectorLanes
        panels = paddedFilters / vectorLanes
        headClasses = config.finetuneClasses
        bias = Float(config.bias)
        scaleOverWidth = Float(config.outputScale) / Float(config.filtersPerClass)
        self.pool = pool
        maxChunks = (maxBatch + Self.chunkSamples - 1) / Self.chunkSamples
        let perGroup = Self.groupBytes / max(1, patches * paddedFilters * 4) / Self.chunkSamples * Self.chunkSamples
        groupSamples = min(maxChunks * Self.chunkSamples, max(Self.chunkSamples, perGroup))
        groupRows = groupSamples * patches
        chunkRows = Self.chunkSamples * patches
        let workers = pool.threads
        weights = allocateFloats(dim * paddedFilters)
        gradientT = allocateFloats(dim * paddedFilters)
        headStride = headClasses * paddedFilters + headClasses
        head = allocateFloats(headStride)
        headInputScale = allocateFloats(paddedFilters)
        filterStepScale = allocateFloats(paddedFilters)
        filterStepScale.update(repeating: 1, count: paddedFilters)
        z = allocateFloats(groupRows * paddedFilters)
        groupPooled = allocateFloats(groupSamples * paddedFilters)
        groupCoef = allocateFloats(groupSamples * paddedFilters)
        workerPooled = allocateFloats(workers * Self.chunkSamples * paddedFilters)
        workerMask = allocateFloats(workers * chunkRows * vectorLanes)
        logitStride = 2 * max(classes, headClasses)
        logitScratch = allocateFloats(workers * logitStride)
        chunkLogits = allocateFloats(workers * Self.chunkSamples * headClasses)
        headGrads = allocateFloats(maxChunks * headStride)
        chunkLoss = .allocate(capacity: maxChunks)
        chunkCorrect = .allocate(capacity: maxChunks)
        let dummy = UnsafeMutablePointer<Float>.allocate(capacity: 1)
        dummy.initialize(to: 0)
        placeholderFloat = dummy
        jobX = UnsafePointer(dummy)
        groupRowPointers = .allocate(capacity: groupRows)
        groupRowPointers.initialize(repeating: UnsafePointer(dummy), count: groupRows)
        workerRows = .allocate(capacity: workers * chunkRows)
        workerRows.initialize(repeating: UnsafePointer(dummy), count: workers * chunkRows)
        let dummyIndex = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        dummyIndex.initialize(to: 0)
        placeholderIndex = dummyIndex
        jobIndices = UnsafePointer(dummyIndex)
        jobLabels = UnsafePointer(dummyIndex)
        jobPredictions = dummyIndex
        liveEngineCount.add(1, ordering: .relaxed)
    }

    deinit {
        liveEngineCount.subtract(1, ordering: .relaxed)
        for p in [weights, gradientT, head, headInputScale, filterStepScale, z, groupPooled, groupCoef, workerPooled, workerMask,
                  logitScratch, chunkLogits, headGrads] {
            UnsafeMutableRawPointer(p).deallocate()
        }
        placeholderFloat.deallocate()
        placeholderIndex.deallocate()
        groupRowPointers.deallocate()
        workerRows.deallocate()
        chunkLoss.deallocate()
        chunkCorrect.deallocate()
    }

    /// Where weight (input coordinate k, filter f) is stored in `weights`.
    @inline(__always)
    func weightIndex(_ k: Int, _ f: Int) -> Int {
        (f / vectorLanes) * dim * vectorLanes + k * vectorLanes + f % vectorLanes
    }

    /// w ~ N(0, sigma0^2 I) with sigma0 = initScale / sqrt(d); filter f uses stream (seed, f).
    func initialiseWeights(initScale: Double, seed: UInt64) {
        let sigma0 = initScale / Double(dim).squareRoot()
        weights.update(repeating: 0, count: dim * paddedFilters)
        for f in 0..<filters {
            var rng = CounterRandom(seed: seed, stream: .initialWeights, index: UInt64(f))
            for k in 0..<dim { weights[weightIndex(k, f)] = Float(sigma0 * rng.gaussian()) }
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

    /// Sets the head to the pretrained network mapped to targets: target y's weight on filter f of
    /// pretraining class j is (s/m) / u_f when `classToTarget[j] == y` (so that its logit is the sum
    /// of those classes' pretraining logits), else 0; biases 0. Call after ``resetHead``.
    func inheritHead(classToTarget: [Int32]) {
        head.update(repeating: 0, count: headStride)
        for f in 0..<filters where headInputScale[f] > 0 {
            let y = Int(classToTarget[f / width])
            head[y &* paddedFilters &+ f] = scaleOverWidth / headInputScale[f]
        }
    }

    /// The filters in filter-major order (filters x dim), for comparisons across phases.
    func filterMatrix() -> [Float] {
        var out = [Float](repeating: 0, count: filters * dim)
        for f in 0..<filters {
            for k in 0..<dim { out[f * dim + k] = weights[weightIndex(k, f)] }
        }
        return out
    }

    /// |V[y, f]| summed over targets y, per filter: the head's weight on each standardised filter output.
    func headWeightPerFilter() -> [Double] {
        (0..<filters).map { f in
            var s = 0.0
            for y in 0..<headClasses { s += Double(abs(head[y * paddedFilters + f])) }
            return s
        }
    }

    private func setHeadInputScale(_ pooled: UnsafePointer<Float>, count: Int) {
        headInputScale.update(repeating: 0, count: paddedFilters)
        for f in 0..<filters {
            var s = 0.0
            for n in 0..<count { s += Double(pooled[n * paddedFilters + f]) * Double(pooled[n * paddedFilters + f]) }
            let rms = (s / Double(count)).squareRoot()
            headInputScale[f] = rms > 0 ? Float(1 / rms) : 0
            filterStepScale[f] = rms > 0 ? Float(rms * rms) : 0
        }
    }

    // MARK: Kernels

    /// Points `rows[n*P + p]` at patch p of sample `indices[n]`, for n in 0..<count.
    @inline(__always)
    private func setRows(_ rows: UnsafeMutablePointer<UnsafePointer<Float>>, indices: UnsafePointer<Int32>, count: Int) {
        let P = patches, d = dim, sampleStride = P &* d
        var r = rows
        for n in 0..<count {
            var xp = jobX + Int(indices[n]) &* sampleStride
            for _ in 0..<P {
                r.pointee = xp
                r += 1
                xp += d
            }
        }
    }

    /// The forward pass of `count` rows (row r is patch r % P of sample r / P): pooled[n, f] =
    /// sum_p ReLU(b + <x_{n,p}, w_f>) into `pooled` (count / P rows of Fp), and with `zOut` the
    /// pre-activations, `zOut[panel * zPanelStride + r * 16 + lane]`.
    ///
    /// Per panel (d x 16 weights from L1), register blocks of 6 rows x 16 filters (12 AVX2
    /// registers of accumulators; 4-row and 1-row blocks for the tail), one fused multiply-add
    /// chain per output in k order; bias, ReLU and the patch sum are applied while the block is
    /// in registers.
    @inline(__always)
    private func forward(rows: UnsafePointer<UnsafePointer<Float>>, count R: Int, pooled: UnsafeMutablePointer<Float>,
                         zOut: UnsafeMutablePointer<Float>?, zPanelStride: Int) {
        let d = dim, P = patches, Fp = paddedFilters, lanes = vectorLanes
        pooled.update(repeating: 0, count: (R / P) &* Fp)
        let b = FloatVector(repeating: bias)
        // Adds ReLU(a) of consecutive rows r, r+1, ... to their samples' pooled sums in row order,
        // keeping a sample's running sum in registers while its rows follow each other (the same
        // additions, in the same order, as one load-add-store per row).
        var q = pooled, p = 0, s = FloatVector()
        @inline(__always) func startPooling(_ r: Int, _ pp: UnsafeMutablePointer<Float>) {
            q = pp + (r / P) &* Fp
            p = r % P
            s = load(q)
        }
        @inline(__always) func pool(_ v: FloatVector) {
            if p == P {
                store(s, q)
                q += Fp
                p = 0
                s = load(q)
            }
            s = s + v.replacing(with: 0, where: v .< 0)
            p &+= 1
        }
        // Pieces of whole samples whose rows fit in 8 KiB stay in L1 across all panels (a
        // chunk's 32 KiB of rows would be reloaded from L2 for each panel).
        let pieceRows = max(1, 2048 / max(1, P &* d)) &* P
        var r0 = 0
        while r0 < R {
            let r1 = min(R, r0 &+ pieceRows)
            for panel in 0..<panels {
                let wp = UnsafePointer(weights + panel &* d &* lanes)
                let pp = pooled + panel &* lanes
                let zp = zOut.map { $0 + panel &* zPanelStride }
                var r = r0
                while r1 &- r >= 6 && r1 &- r != 8 {
                    let x0 = rows[r], x1 = rows[r &+ 1], x2 = rows[r &+ 2], x3 = rows[r &+ 3], x4 = rows[r &+ 4], x5 = rows[r &+ 5]
                    var a0 = b, a1 = b, a2 = b, a3 = b, a4 = b, a5 = b
                    var w = wp
                    for k in 0..<d {
                        let wk = load(w)
                        a0 = a0.addingProduct(x0[k], wk)
                        a1 = a1.addingProduct(x1[k], wk)
                        a2 = a2.addingProduct(x2[k], wk)
                        a3 = a3.addingProduct(x3[k], wk)
                        a4 = a4.addingProduct(x4[k], wk)
                        a5 = a5.addingProduct(x5[k], wk)
                        w += lanes
                    }
                    if let zp {
                        let o = zp + r &* lanes
                        store(a0, o); store(a1, o + lanes); store(a2, o + 2 &* lanes)
                        store(a3, o + 3 &* lanes); store(a4, o + 4 &* lanes); store(a5, o + 5 &* lanes)
                    }
                    startPooling(r, pp)
                    pool(a0); pool(a1); pool(a2); pool(a3); pool(a4); pool(a5)
                    store(s, q)
                    r &+= 6
                }
                while r1 &- r >= 4 {
                    let x0 = rows[r], x1 = rows[r &+ 1], x2 = rows[r &+ 2], x3 = rows[r &+ 3]
                    var a0 = b, a1 = b, a2 = b, a3 = b
                    var w = wp
                    for k in 0..<d {
                        let wk = load(w)
                        a0 = a0.addingProduct(x0[k], wk)
                        a1 = a1.addingProduct(x1[k], wk)
                        a2 = a2.addingProduct(x2[k], wk)
                        a3 = a3.addingProduct(x3[k], wk)
                        w += lanes
                    }
                    if let zp {
                        let o = zp + r &* lanes
                        store(a0, o); store(a1, o + lanes); store(a2, o + 2 &* lanes); store(a3, o + 3 &* lanes)
                    }
                    startPooling(r, pp)
                    pool(a0); pool(a1); pool(a2); pool(a3)
                    store(s, q)
                    r &+= 4
                }
                while r < r1 {
                    let x0 = rows[r]
                    var a0 = b
                    var w = wp
                    for k in 0..<d {
                        a0 = a0.addingProduct(x0[k], load(w))
                        w += lanes
                    }
                    if let zp { store(a0, zp + r &* lanes) }
                    startPooling(r, pp)
                    pool(a0)
                    store(s, q)
                    r &+= 1
                }
            }
            r0 = r1
        }
    }

    /// One chunk's contribution to one panel's weight gradient: g[k, f] = sum over rows r, in
    /// order, of x[r, k] * M[r, f] (a fused multiply-add chain from 0), where M = `mask` (rows x 16,
    /// the masked coefficients); then the panel's running sum `gradientT[panel][f][k]` = g
    /// (`first`) or itself + g.
    ///
    /// Vectorised over k: register blocks of 16 input coordinates x 6 filters (12 AVX2 registers),
    /// per row one load of x[r, kb..<kb+16] and 6 broadcasts of M[r, f]; a block's rows touch one
    /// line of each row (8 KiB for 128 rows), reused by the panel's three filter blocks from L1.
    /// fma(x, m, g) = fma(m, x, g), so the chains are those of the row-major formulation. Input
    /// coordinates beyond the last multiple of 16 are done with x broadcast and M as the vector.
    @inline(__always)
    private func backward(panel: Int, rows: UnsafePointer<UnsafePointer<Float>>, count R: Int,
                          mask: UnsafePointer<Float>, first: Bool) {
        let d = dim, lanes = vectorLanes
        let gt = gradientT + panel &* lanes &* d
        @inline(__always) func put(_ v: FloatVector, _ f: Int, _ kb: Int) {
            let o = gt + (f &* d &+ kb)
            if first {
                UnsafeMutableRawPointer(o).storeBytes(of: v, as: FloatVector.self)
            } else {
                UnsafeMutableRawPointer(o).storeBytes(of: UnsafeRawPointer(o).loadUnaligned(as: FloatVector.self) + v,
                                                      as: FloatVector.self)
            }
        }
        let dMain = d / lanes * lanes
        var kb = 0
        while kb < dMain {
            var fb = 0
            while fb < lanes {
                if lanes &- fb >= 6 {
                    var g0 = FloatVector(), g1 = FloatVector(), g2 = FloatVector()
                    var g3 = FloatVector(), g4 = FloatVector(), g5 = FloatVector()
                    var m = mask + fb
                    for r in 0..<R {
                        let x = load(rows[r] + kb)
                        g0 = g0.addingProduct(x, m[0])
                        g1 = g1.addingProduct(x, m[1])
                        g2 = g2.addingProduct(x, m[2])
                        g3 = g3.addingProduct(x, m[3])
                        g4 = g4.addingProduct(x, m[4])
                        g5 = g5.addingProduct(x, m[5])
                        m += lanes
                    }
                    put(g0, fb, kb); put(g1, fb &+ 1, kb); put(g2, fb &+ 2, kb)
                    put(g3, fb &+ 3, kb); put(g4, fb &+ 4, kb); put(g5, fb &+ 5, kb)
                    fb &+= 6
                } else {
                    var g0 = FloatVector(), g1 = FloatVector(), g2 = FloatVector(), g3 = FloatVector()
                    var m = mask + fb
                    for r in 0..<R {
                        let x = load(rows[r] + kb)
                        g0 = g0.addingProduct(x, m[0])
                        g1 = g1.addingProduct(x, m[1])
                        g2 = g2.addingProduct(x, m[2])
                        g3 = g3.addingProduct(x, m[3])
                        m += lanes
                    }
                    put(g0, fb, kb); put(g1, fb &+ 1, kb); put(g2, fb &+ 2, kb); put(g3, fb &+ 3, kb)
                    fb &+= 4
                }
            }
            kb &+= lanes
        }
        // The tail: one input coordinate at a time, vectorised over the panel's filters.
        while kb < d {
            var g0 = FloatVector()
            var m = mask
            for r in 0..<R {
                g0 = g0.addingProduct(rows[r][kb], load(m))
                m += lanes
            }
            for f in 0..<lanes {
                let o = gt + (f &* d &+ kb)
                o.pointee = first ? g0[f] : o.pointee + g0[f]
            }
            kb &+= 1
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

    /// Pretraining logits, loss and accuracy of the chunk's samples (batch positions first..<first+ns,
    /// pooled activations in `pooled`); with `gradient`, coef[n, j*m + r] = (s/m) * dLoss/dF_j (the
    /// batch mean folded in). Each class sum runs over r in order (the class loop inside, so the
    /// 16 or so independent sums overlap).
    @inline(__always)
    private func pretrainHead(first: Int, count ns: Int, pooled: UnsafePointer<Float>, coef: UnsafeMutablePointer<Float>,
                              worker: Int, chunk: Int, gradient: Bool) {
        let Fp = paddedFilters, m = width, C = classes
        let logits = logitScratch + worker &* logitStride
        var loss = 0.0
        var correct = 0
        for n in 0..<ns {
            let pn = pooled + n &* Fp
            for j in 0..<C { logits[j] = 0 }
            for r in 0..<m {
                var q = pn + r
                for j in 0..<C {
                    logits[j] += q.pointee
                    q += m
                }
            }
            for j in 0..<C { logits[j] = scaleOverWidth * logits[j] }
            if !gradient {
                var best = 0
                for j in 1..<C where logits[j] > logits[best] { best = j }
                jobPredictions[first &+ n] = Int32(best)
                continue
            }
            let label = Int(jobLabels[first &+ n])
            let (l, best) = softmax(logits, C, label: label)
            loss += Double(l)
            if best == label { correct += 1 }
            let cn = coef + n &* Fp
            for j in 0..<C {
                let dj = logits[C &+ j] * jobInverseBatch * scaleOverWidth
                (cn + j &* m).update(repeating: dj, count: m)
            }
            for f in filters..<Fp { cn[f] = 0 }
        }
        if gradient {
            chunkLoss[chunk] = loss
            chunkCorrect[chunk] = correct
        }
    }

    /// Fine-tuning logits, loss and accuracy of the chunk; with `gradient`, the chunk's head
    /// gradient and, with `trainFilters`, coef[n, f] = sum_y V[y, f] * dLoss/dlogit_y.
    @inline(__always)
    private func finetuneHead(first: Int, count ns: Int, pooled: UnsafePointer<Float>, coef: UnsafeMutablePointer<Float>,
                              worker: Int, chunk: Int, gradient: Bool, trainFilters: Bool) {
        let Fp = paddedFilters, K = headClasses, F = filters
        let logits = logitScratch + worker &* logitStride
        let hg = headGrads + chunk &* headStride
        let u = headInputScale
        if gradient { hg.update(repeating: 0, count: headStride) }
        // All the chunk's logits first, four samples at a time: each logit is one chain of fused
        // multiply-adds over the filters in order (latency-bound alone; four overlap).
        let all = chunkLogits + worker &* Self.chunkSamples &* K
        var n = 0
        while n < ns {
            let p0 = pooled + n &* Fp
            if ns &- n >= 4 {
                let p1 = p0 + Fp, p2 = p1 + Fp, p3 = p2 + Fp
                for y in 0..<K {
                    let v = head + y &* Fp
                    let c = head[K &* Fp &+ y]
                    var s0 = c, s1 = c, s2 = c, s3 = c
                    for f in 0..<F {
                        let vf = v[f], uf = u[f]
                        s0 = s0.addingProduct(vf, uf * p0[f])
                        s1 = s1.addingProduct(vf, uf * p1[f])
                        s2 = s2.addingProduct(vf, uf * p2[f])
                        s3 = s3.addingProduct(vf, uf * p3[f])
                    }
                    all[n &* K &+ y] = s0
                    all[(n &+ 1) &* K &+ y] = s1
                    all[(n &+ 2) &* K &+ y] = s2
                    all[(n &+ 3) &* K &+ y] = s3
                }
                n &+= 4
            } else {
                for y in 0..<K {
                    let v = head + y &* Fp
                    var s = head[K &* Fp &+ y]
                    for f in 0..<F { s = s.addingProduct(v[f], u[f] * p0[f]) }
                    all[n &* K &+ y] = s
                }
                n &+= 1
            }
        }
        var loss = 0.0
        var correct = 0
        for n in 0..<ns {
            let pn = pooled + n &* Fp
            for y in 0..<K { logits[y] = all[n &* K &+ y] }
            if !gradient {
                var best = 0
                for y in 1..<K where logits[y] > logits[best] { best = y }
                jobPredictions[first &+ n] = Int32(best)
                continue
            }
            let label = Int(jobLabels[first &+ n])
            let (l, best) = softmax(logits, K, label: label)
            loss += Double(l)
            if best == label { correct += 1 }
            for y in 0..<K {
                let dz = logits[K &+ y] * jobInverseBatch
                let gy = hg + y &* Fp
                for f in 0..<F { gy[f] = gy[f].addingProduct(dz, u[f] * pn[f]) }
                hg[K &* Fp &+ y] += dz
            }
            if trainFilters {
                let cn = coef + n &* Fp
                for f in 0..<F {
                    var s: Float = 0
                    for y in 0..<K { s = s.addingProduct(head[y &* Fp &+ f], logits[K &+ y] * jobInverseBatch) }
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

        var trainsFilters: Bool {
            switch self {
            case .pretrain: true
            case .finetune(let t): t
            }
        }
    }

    /// Forward and backward passes of the batch `indices[0..<count]` of `x` with labels
    /// `labels[0..<count]` (pretraining classes or superclasses, by phase): leaves the summed
    /// weight gradient (trained filters), each chunk's head gradient, loss and correct count.
    /// - Returns: the number of chunks.
    func accumulate(x: UnsafePointer<Float>, indices: UnsafePointer<Int32>, labels: UnsafePointer<Int32>, count: Int,
                    phase: Phase, pooled: UnsafePointer<Float>? = nil) -> Int {
        accumulate(x: x, indices: indices, labels: labels, count: count, phase: phase, pooled: pooled, update: nil)
    }

    /// ``accumulate`` and, with `update` (a learning rate) and trained filters, each panel's SGD
    /// update right after its gradient is complete (in the last group's job).
    private func accumulate(x: UnsafePointer<Float>, indices: UnsafePointer<Int32>, labels: UnsafePointer<Int32>,
                            count: Int, phase: Phase, pooled: UnsafePointer<Float>?, update: Float?) -> Int {
        precondition(count <= maxChunks * Self.chunkSamples)
        let trainFilters = phase.trainsFilters
        precondition(pooled == nil || !trainFilters, "cached activations need frozen filters")
        jobX = x
        jobPooledIn = pooled
        jobIndices = indices
        jobLabels = labels
        jobCount = count
        jobInverseBatch = 1 / Float(count)
        let chunks = (count + Self.chunkSamples - 1) / Self.chunkSamples
        // Phase 1: a chunk's forward pass and head.
        let chunkBody: @Sendable (Int, Int) -> Void = { [self] local, worker in
            let n0 = local &* Self.chunkSamples
            let first = jobGroupStart &+ n0
            let ns = min(Self.chunkSamples, jobGroupCount &- n0)
            let chunk = first / Self.chunkSamples
            let Fp = paddedFilters
            let pooledRows = groupPooled + n0 &* Fp, coefRows = groupCoef + n0 &* Fp
            if let cache = jobPooledIn {
                for n in 0..<ns { (pooledRows + n &* Fp).update(from: cache + Int(jobIndices[first &+ n]) &* Fp, count: Fp) }
            } else {
                let rows = groupRowPointers + n0 &* patches
                setRows(rows, indices: jobIndices + first, count: ns)
                forward(rows: rows, count: ns &* patches, pooled: pooledRows,
                        zOut: trainFilters ? z + n0 &* patches &* vectorLanes : nil, zPanelStride: groupRows &* vectorLanes)
            }
            switch phase {
            case .pretrain:
                pretrainHead(first: first, count: ns, pooled: pooledRows, coef: coefRows, worker: worker, chunk: chunk,
                             gradient: true)
            case .finetune:
                finetuneHead(first: first, count: ns, pooled: pooledRows, coef: coefRows, worker: worker, chunk: chunk,
                             gradient: true, trainFilters: trainFilters)
            }
        }
        // Phase 2: a panel's gradient over the group's chunks in order, then its update.
        let panelBody: @Sendable (Int, Int) -> Void = { [self] panel, worker in
            let P = patches, Fp = paddedFilters, lanes = vectorLanes
            let mask = workerMask + worker &* chunkRows &* lanes
            let zPanel = UnsafePointer(z + panel &* groupRows &* lanes)
            var n0 = 0
            while n0 < jobGroupCount {
                let ns = min(Self.chunkSamples, jobGroupCount &- n0)
                // M = coef where z > 0, else 0 (the ReLU's derivative), for this panel and chunk.
                var zp = zPanel + n0 &* P &* lanes, mp = mask
                for n in n0..<(n0 &+ ns) {
                    let c = load(groupCoef + (n &* Fp &+ panel &* lanes))
                    for _ in 0..<P {
                        store(c.replacing(with: 0, where: load(zp) .<= 0), mp)
                        zp += lanes
                        mp += lanes
                    }
                }
                backward(panel: panel, rows: groupRowPointers + n0 &* P, count: ns &* P, mask: mask,
                         first: jobGroupStart &+ n0 == 0)
                n0 &+= ns
            }
            if let learningRate = update, jobGroupStart &+ jobGroupCount == jobCount {
                // Times 1 in pretraining (exact, so the same bits); see `filterStepScale`.
                let lr = FloatVector(repeating: learningRate) * load(filterStepScale + panel &* lanes)
                let w = weights + panel &* dim &* lanes, gt = gradientT + panel &* dim &* lanes
                for k in 0..<dim {
                    var g = FloatVector()
                    for f in 0..<lanes { g[f] = gt[f &* dim &+ k] }
                    let o = w + k &* lanes
                    store(load(o) - lr * g, o)
                }
            }
        }
        var start = 0
        while start < count {
            jobGroupStart = start
            jobGroupCount = min(groupSamples, count - start)
            let groupChunks = (jobGroupCount + Self.chunkSamples - 1) / Self.chunkSamples
            pool.run(count: groupChunks, chunkBody, then: trainFilters ? panels : 0, trainFilters ? panelBody : nil)
            start += jobGroupCount
        }
        return chunks
    }

    /// The summed weight gradient (dim x paddedFilters, row-major: [k * paddedFilters + f]) and
    /// head gradient of the last ``accumulate`` call, in chunk order (for tests; `step` sums the
    /// same way).
    func summedGradients(chunks: Int) -> (weights: [Float], head: [Float]) {
        var w = [Float](repeating: 0, count: dim * paddedFilters)
        for k in 0..<dim {
            for f in 0..<paddedFilters { w[k * paddedFilters + f] = gradientT[(f / vectorLanes) * dim * vectorLanes + (f % vectorLanes) * dim + k] }
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
    /// `filterLearningRate`: the filters' step size when it differs from the head's (full fine-tuning).
    func step(x: UnsafePointer<Float>, indices: UnsafePointer<Int32>, labels: UnsafePointer<Int32>, count: Int,
              phase: Phase, learningRate: Float, filterLearningRate: Float? = nil,
              pooled: UnsafePointer<Float>? = nil) -> (loss: Double, correct: Int) {
        let chunks = accumulate(x: x, indices: indices, labels: labels, count: count, phase: phase, pooled: pooled,
                                update: filterLearningRate ?? learningRate)
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
                    let first = chunk &* Self.chunkSamples
                    let ns = min(Self.chunkSamples, jobCount &- first)
                    let Fp = paddedFilters
                    let rows: UnsafePointer<Float>
                    if let cache = jobPooledIn {
                        rows = cache + first &* Fp
                    } else {
                        let pooledRows = workerPooled + worker &* Self.chunkSamples &* Fp
                        let rowPointers = workerRows + worker &* chunkRows
                        setRows(rowPointers, indices: jobIndices + first, count: ns)
                        forward(rows: rowPointers, count: ns &* patches, pooled: pooledRows, zOut: nil, zPanelStride: 0)
                        if let out = jobPooledOut { (out + first &* Fp).update(from: pooledRows, count: ns &* Fp) }
                        rows = UnsafePointer(pooledRows)
                    }
                    switch phase {
                    case .pretrain:
                        pretrainHead(first: first, count: ns, pooled: rows, coef: groupCoef, worker: worker, chunk: 0,
                                     gradient: false)
                    case .finetune:
                        finetuneHead(first: first, count: ns, pooled: rows, coef: groupCoef, worker: worker, chunk: 0,
                                     gradient: false, trainFilters: false)
                    }
                }
            }
        }
        return predictions
    }

    /// For each filter, the feature of the dictionary with the largest <w_f, v> (ties: the lower
    /// index), in Double; each filter in its own slot, so the result does not depend on threads.
    func closestFeatures(_ dictionary: FeatureDictionary) -> [Int] {
        let out = SendablePointer(UnsafeMutablePointer<Int>.allocate(capacity: max(1, filters)))
        defer { out.pointer.deallocate() }
        let d = dim, F = filters, lanes = vectorLanes, features = dictionary.count
        let w = SendablePointer(weights)
        dictionary.vectors.withUnsafeBufferPointer { vectors in
            let v = SendablePointer(UnsafeMutablePointer(mutating: vectors.baseAddress!))
            pool.run(count: (F + 15) / 16) { job, _ in
                for f in (job * 16)..<min(F, (job + 1) * 16) {
                    let wf = w.pointer + (f / lanes) * d * lanes + f % lanes
                    var best = 0, bestDot = -Double.infinity
                    for j in 0..<features {
                        var s = 0.0
                        for k in 0..<d { s += Double(wf[k * lanes]) * Double(v.pointer[j * d + k]) }
                        if s > bestDot { bestDot = s; best = j }
                    }
                    out.pointer[f] = best
                }
            }
        }
        return Array(UnsafeBufferPointer(start: out.pointer, count: F))
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
        let d = dim, F = filters, lanes = vectorLanes
        let w = SendablePointer(weights)
        // Filter f's weights are w[(f / 16) * d * 16 + k * 16 + f % 16], k = 0..<d.
        pool.run(count: (F + 15) / 16) { job, _ in
            for f in (job * 16)..<min(F, (job + 1) * 16) {
                let wf = w.pointer + (f / lanes) * d * lanes + f % lanes
                var s = 0.0
                for k in 0..<d { s += Double(wf[k * lanes]) * Double(wf[k * lanes]) }
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
                    let wf = w.pointer + (f / lanes) * d * lanes + f % lanes
                    var s = 0.0
                    for k in 0..<d { s += Double(wf[k * lanes]) * Double(vi[k]) }
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
