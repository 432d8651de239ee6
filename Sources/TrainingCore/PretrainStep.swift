import Parallelism
/// The pretraining SGD step alone, on a fixed generated training set, for benchmarks.
///
/// Exposes the kernel that dominates a task's time (forward, softmax cross-entropy, backward,
/// fixed-order gradient reduction and update) so that a benchmark can time it against references
/// without reaching into internals. Steps cycle through the training set in order.
public final class PretrainStep {
    private let config: HierarchyConfig
    private let engine: ConvEngine
    private let pool: ComputePool
    private let set: SampleSet
    private let order: [Int32]
    private var position = 0

    /// Flops of one sample's step: 4 * P * d * (C*m): forward and backward are each a
    /// (P x d) by (d x C*m) product of multiply-adds.
    public var flopsPerSample: Double {
        4 * Double(config.patches) * Double(config.dim) * Double(config.filters)
    }

    /// Sets up the network and a training set of `samples` samples for `config`, on a pool of
    /// `threads` threads that it owns (shut down in `deinit`).
    public init(config: HierarchyConfig, samples: Int = 4096, threads: Int) throws(ComputePoolError) {
        precondition(config.problems.isEmpty, "invalid config: \(config.problems)")
        self.config = config
        let dictionary = FeatureDictionary(dim: config.dim, superclasses: config.superclasses,
                                           subclasses: config.subclasses, seed: config.seed)
        let labels = LabelMap(superclasses: config.superclasses, subclasses: config.subclasses,
                              granularity: config.granularity, alignment: config.alignment, seed: config.seed)
        set = SampleSet(count: samples, hardFraction: config.trainHardFraction, stream: .pretrainSet,
                        config: config, dictionary: dictionary, labels: labels)
        pool = try ComputePool(threads: threads)
        engine = ConvEngine(config: config, maxBatch: config.batchSize, pool: pool)
        engine.initialiseWeights(initScale: config.initScale, seed: config.seed)
        order = (0..<samples).map { Int32($0) }
    }

    deinit {
        set.deallocate()
        pool.shutdown()
    }

    /// Runs `count` steps of `config.batchSize` samples.
    /// - Returns: the mean loss of the last step (so the work cannot be optimised away).
    @discardableResult
    public func run(steps count: Int) -> Double {
        var last = 0.0
        let b = config.batchSize
        order.withUnsafeBufferPointer { o in
            set.label.withUnsafeBufferPointer { l in
                for _ in 0..<count {
                    if position + b > set.count { position = 0 }
                    let r = engine.step(x: UnsafePointer(set.x), indices: o.baseAddress! + position,
                                        labels: l.baseAddress! + position, count: b, phase: .pretrain,
                                        learningRate: Float(config.learningRate))
                    last = r.loss / Double(b)
                    position += b
                }
            }
        }
        return last
    }
}

/// For benchmarks: the wall time of one pool job shaped like a pretraining step, `chunks` chunks
/// then a second phase of `chunks2` chunks, each a fixed dependent arithmetic loop of `work`
/// iterations (about 1 ns each), averaged over `runs` jobs, in seconds. Comparing 1 and 2
/// threads isolates the pool's scaling (synchronisation, wake-ups, stragglers) from the kernels.
public func measurePoolJob(threads: Int, chunks: Int = 8, chunks2: Int = 8, work: Int = 50_000, runs: Int = 2_000) throws(ComputePoolError) -> Double {
    let pool = try ComputePool(threads: threads)
    defer { pool.shutdown() }
    let sink = SendablePointer(UnsafeMutablePointer<Double>.allocate(capacity: max(chunks, chunks2)))
    defer { sink.pointer.deallocate() }
    let body: @Sendable (Int, Int) -> Void = { chunk, _ in
        var x = Double(chunk)
        for _ in 0..<work { x = x.addingProduct(x, 0.999_999) }
        sink.pointer[chunk] = x
    }
    let short: @Sendable (Int, Int) -> Void = { chunk, _ in
        var x = Double(chunk)
        for _ in 0..<(work / 16) { x = x.addingProduct(x, 0.999_999) }
        sink.pointer[chunk] = x
    }
    let t0 = ContinuousClock.now
    for _ in 0..<runs { pool.run(count: chunks, body, then: chunks2, short) }
    let d = ContinuousClock.now - t0
    return (Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18) / Double(runs)
}
