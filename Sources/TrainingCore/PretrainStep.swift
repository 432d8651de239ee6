/// The pretraining SGD step alone, on a fixed generated training set, for benchmarks.
///
/// Exposes the kernel that dominates a task's time (forward, softmax cross-entropy, backward,
/// fixed-order gradient reduction and update) so that a benchmark can time it against references
/// without reaching into internals. Steps cycle through the training set in order.
public final class PretrainStep {
    private let config: HierarchyConfig
    private let engine: ConvEngine
    private let set: SampleSet
    private let order: [Int32]
    private var position = 0

    /// Flops of one sample's step: 4 * P * d * (C*m): forward and backward are each a
    /// (P x d) by (d x C*m) product of multiply-adds.
    public var flopsPerSample: Double {
        4 * Double(config.patches) * Double(config.dim) * Double(config.filters)
    }

    /// Sets up the network and a training set of `samples` samples for `config`.
    public init(config: HierarchyConfig, samples: Int = 4096, threads: Int) {
        precondition(config.problems.isEmpty, "invalid config: \(config.problems)")
        self.config = config
        let dictionary = FeatureDictionary(dim: config.dim, superclasses: config.superclasses,
                                           subclasses: config.subclasses, seed: config.seed)
        let labels = LabelMap(superclasses: config.superclasses, subclasses: config.subclasses,
                              granularity: config.granularity, alignment: config.alignment, seed: config.seed)
        set = SampleSet(count: samples, hardFraction: config.trainHardFraction, stream: .pretrainSet,
                        config: config, dictionary: dictionary, labels: labels)
        engine = ConvEngine(config: config, maxBatch: config.batchSize, threads: threads)
        engine.initialiseWeights(initScale: config.initScale, seed: config.seed)
        order = (0..<samples).map { Int32($0) }
    }

    deinit { set.deallocate() }

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
