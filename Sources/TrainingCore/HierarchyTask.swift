import Parallelism

/// The metrics of one epoch of one phase, streamed while a task runs.
///
/// During pretraining, `trainAccuracy` is the accuracy on the pretraining labels over the epoch's
/// batches (before each step's update), and `easyAccuracy`/`hardAccuracy` are *coarse* accuracies of
/// the pretrained network on the test sets: its predicted class mapped to the superclass that most
/// of that class's training samples belong to (for aligned labels, exactly the class's superclass).
/// During fine-tuning they are the fine-tuned network's accuracies on superclasses.
/// Alignments are those of the current filters (see ``HierarchyResult``).
public struct HierarchyEpoch: Sendable, Hashable {
    /// The phase an epoch belongs to.
    public enum Phase: String, Sendable, Hashable {
        case pretrain, finetune
    }
    public var phase: Phase
    /// 1-based.
    public var epoch: Int
    /// Mean training softmax cross-entropy over the epoch's samples.
    public var loss: Double
    public var trainAccuracy: Double
    public var easyAccuracy: Double
    public var hardAccuracy: Double
    public var commonAlignment: Double
    public var fineAlignment: Double
}

/// The final metrics of one task.
public struct HierarchyResult: Sendable, Hashable {
    /// Coarse accuracy after fine-tuning on the easy test set.
    public var easyAccuracy: Double
    /// Coarse accuracy after fine-tuning on the hard test set (no common feature): the claim's measure.
    public var hardAccuracy: Double
    /// Pretraining test accuracy: the pretrained network's accuracy on the pretraining labels of the
    /// easy test set (for `pretrain: none`, that of the random initialisation).
    public var pretrainAccuracy: Double
    /// The pretrained network's coarse accuracy on the hard test set (see ``HierarchyEpoch``).
    public var pretrainHardAccuracy: Double
    /// Mean over common features v of max over filters of <w, v>/||w||, for the final filters.
    public var commonAlignment: Double
    /// The same over fine features.
    public var fineAlignment: Double
    /// SGD steps taken (pretraining plus fine-tuning).
    public var steps: Int
    /// Fine-tuning epochs run (at most `finetuneEpochs`; fewer when judged converged).
    public var finetuneEpochsRun: Int
    /// Whether fine-tuning stopped by the convergence rule (``HierarchyConfig/finetuneTolerance``)
    /// rather than at its epoch cap.
    public var finetuneConverged: Bool
    /// ||W_after - W_before|| / ||W_before|| of the filters over fine-tuning (0 for `probe`).
    public var filterChange: Double
    /// The fine-tuned head's share of weight (|V| on standardised filter outputs, summed over
    /// targets) on filters whose best-aligned feature is a fine feature; the rest is on filters
    /// closest to a common feature.
    public var headFineWeight: Double
    /// Mean training loss of the last pretraining epoch (0 without pretraining).
    public var pretrainLoss: Double
    /// Mean training loss of the last fine-tuning epoch.
    public var finetuneLoss: Double
}

/// A task stopped before its end because its caller asked (``runHierarchyTask(_:pool:shouldStop:onEpoch:)``).
public struct TrainingStopped: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "training stopped on request" }
}

/// Runs one task on a pool of `threads` threads made for it and joined before returning (for
/// one-off runs and tests; a long-lived caller lends one pool to every task instead).
public func runHierarchyTask(_ config: HierarchyConfig, threads: Int,
                             onEpoch: (HierarchyEpoch) -> Void = { _ in }) throws(ComputePoolError) -> HierarchyResult {
    let pool = try ComputePool(threads: threads)
    defer { pool.shutdown() }
    // Never stopped, so never throws TrainingStopped.
    do {
        return try runHierarchyTask(config, pool: pool, onEpoch: onEpoch)
    } catch {
        preconditionFailure("unreachable: \(error)")
    }
}

/// Runs one task of the label-granularity experiment: draws the data, pretrains (unless
/// `pretraining == .none`), fine-tunes a new coarse head and evaluates.
///
/// - Parameters:
///   - config: everything the result depends on, seed included. Must have no ``HierarchyConfig/problems``.
///   - pool: threads to use (the caller's included), borrowed for the call; the result does not
///     depend on their number.
///   - shouldStop: polled before every SGD step and evaluation; when it returns true the task
///     ends at once with ``TrainingStopped`` (a time limit or a cancel).
///   - onEpoch: called on the calling thread after each pretraining epoch and after fine-tuning
///     epochs 1-20, every 10th and the last (fine-tuning runs up to hundreds of epochs).
/// - Returns: the final metrics.
/// - Complexity: about 4*P*d*C*m flops per sample per pretraining epoch (see ``PretrainStep``).
public func runHierarchyTask(_ config: HierarchyConfig, pool: ComputePool, shouldStop: () -> Bool = { false },
                             onEpoch: (HierarchyEpoch) -> Void = { _ in }) throws(TrainingStopped) -> HierarchyResult {
    precondition(config.problems.isEmpty, "invalid config: \(config.problems)")
    // The from-scratch baseline never trains on pretraining labels: fix what `granularity` and
    // `alignment` would otherwise change (the filter count and the unused pretraining head).
    var config = config
    if config.pretraining == .none {
        config.filterCount = config.filters
        config.granularity = 1
        config.alignment = .aligned
    }
    let dictionary = FeatureDictionary(dim: config.dim, superclasses: config.superclasses,
                                       subclasses: config.subclasses, seed: config.seed)
    let labels = LabelMap(superclasses: config.superclasses, subclasses: config.subclasses,
                          granularity: config.granularity, alignment: config.alignment, seed: config.seed)
    // The engine first: its thread pool also generates the sample sets.
    let engine = ConvEngine(config: config, maxBatch: max(config.batchSize, config.finetuneBatchSize), pool: pool)
    engine.initialiseWeights(initScale: config.initScale, seed: config.seed)
    func makeSet(_ n: Int, hard: Double, _ stream: RandomStreamID) -> SampleSet {
        SampleSet(count: n, hardFraction: hard, stream: stream, config: config, dictionary: dictionary, labels: labels,
                  pool: engine.pool)
    }
    let supervised = config.pretraining == .supervised
    let pretrainSet = supervised ? makeSet(config.trainSamples, hard: config.trainHardFraction, .pretrainSet) : nil
    let finetuneSet = makeSet(config.finetuneSamples, hard: config.trainHardFraction, .finetuneSet)
    let easyTest = makeSet(config.testSamples, hard: 0, .easyTestSet)
    let hardTest = makeSet(config.testSamples, hard: 1, .hardTestSet)
    defer {
        pretrainSet?.deallocate()
        finetuneSet.deallocate()
        easyTest.deallocate()
        hardTest.deallocate()
    }

    let commonFeatures = 0..<config.superclasses
    let fineFeatures = config.superclasses..<dictionary.count

    // Class -> superclass by majority over the labelled set (ties to the lower superclass).
    let classToSuperclass: [Int32] = {
        let set = pretrainSet ?? finetuneSet
        var counts = [Int](repeating: 0, count: config.pretrainClasses * config.superclasses)
        for i in 0..<set.count { counts[Int(set.label[i]) * config.superclasses + Int(set.superclass[i])] += 1 }
        return (0..<config.pretrainClasses).map { j in
            var best = 0
            for y in 1..<config.superclasses where counts[j * config.superclasses + y] > counts[j * config.superclasses + best] { best = y }
            return Int32(best)
        }
    }()

    func accuracy(_ predictions: [Int32], _ truth: [Int32], map: [Int32]? = nil) -> Double {
        var correct = 0
        for i in 0..<predictions.count {
            let p = map.map { $0[Int(predictions[i])] } ?? predictions[i]
            if p == truth[i] { correct += 1 }
        }
        return Double(correct) / Double(predictions.count)
    }

    var steps = 0
    /// One epoch of SGD over `set` in an order drawn from (seed, stream, epoch).
    func trainEpoch(_ set: SampleSet, labels: [Int32], stream: RandomStreamID, epoch: Int, batchSize: Int,
                    phase: ConvEngine.Phase, learningRate: Double, filterLearningRate: Double? = nil,
                    pooled: UnsafePointer<Float>? = nil) throws(TrainingStopped) -> (loss: Double, accuracy: Double) {
        var order = (0..<set.count).map { Int32($0) }
        var rng = CounterRandom(seed: config.seed, stream: stream, index: UInt64(epoch))
        for i in stride(from: set.count - 1, to: 0, by: -1) { order.swapAt(i, rng.below(i + 1)) }
        let batchLabels = order.map { labels[Int($0)] }
        var loss = 0.0
        var correct = 0
        var stopped = false
        order.withUnsafeBufferPointer { o in
            batchLabels.withUnsafeBufferPointer { l in
                var start = 0
                while start < set.count {
                    if shouldStop() {
                        stopped = true
                        return
                    }
                    let n = min(batchSize, set.count - start)
                    let r = engine.step(x: UnsafePointer(set.x), indices: o.baseAddress! + start, labels: l.baseAddress! + start,
                                        count: n, phase: phase, learningRate: Float(learningRate),
                                        filterLearningRate: filterLearningRate.map { Float($0) }, pooled: pooled)
                    loss += r.loss
                    correct += r.correct
                    steps += 1
                    start += n
                }
            }
        }
        if stopped { throw TrainingStopped() }
        return (loss / Double(set.count), Double(correct) / Double(set.count))
    }

    var pretrainLoss = 0.0, finetuneLoss = 0.0
    var pretrainAccuracy = 0.0, pretrainHardAccuracy = 0.0, easyAccuracy = 0.0, hardAccuracy = 0.0
    var finalCommonAlignment = 0.0, finalFineAlignment = 0.0
    var finetuneEpochsRun = 0, finetuneConverged = false, filterChange = 0.0, headFineWeight = 0.0
    // With `probe` fine-tuning the filters are frozen after pretraining, so the pooled activations
    // of the fine-tuning and test sets are computed once and reused by every fine-tuning step and
    // evaluation (the same kernel, so the same bits as recomputing them), unless they would take
    // more memory than the sets themselves and over 64 MiB. Those of the test sets are computed by
    // the last pretraining epoch's evaluation, which then predicts from them.
    let probe = config.finetuning == .probe
    let cachedFloats = (finetuneSet.count + easyTest.count + hardTest.count) * engine.paddedFilters
    let useCache = probe && (cachedFloats <= 1 << 24 || engine.paddedFilters <= config.patches * config.dim)
    var easyPooled: [Float] = [], hardPooled: [Float] = []
    var testSetsCached = false
    func cacheTestSets() {
        easyPooled = engine.pooledActivations(of: easyTest)
        hardPooled = engine.pooledActivations(of: hardTest)
        testSetsCached = true
    }
    if let set = pretrainSet {
        for epoch in 1...max(1, config.epochs) where config.epochs > 0 {
            let r = try trainEpoch(set, labels: set.label, stream: .pretrainShuffle, epoch: epoch, batchSize: config.batchSize,
                               phase: .pretrain, learningRate: config.learningRate)
            pretrainLoss = r.loss
            let easyPredictions: [Int32], hardPredictions: [Int32]
            if useCache && epoch == config.epochs {
                cacheTestSets()
                easyPredictions = easyPooled.withUnsafeBufferPointer { engine.predict(easyTest, phase: .pretrain, pooled: $0.baseAddress!) }
                hardPredictions = hardPooled.withUnsafeBufferPointer { engine.predict(hardTest, phase: .pretrain, pooled: $0.baseAddress!) }
            } else {
                easyPredictions = engine.predict(easyTest, phase: .pretrain)
                hardPredictions = engine.predict(hardTest, phase: .pretrain)
            }
            onEpoch(HierarchyEpoch(
                phase: .pretrain, epoch: epoch, loss: r.loss, trainAccuracy: r.accuracy,
                easyAccuracy: accuracy(easyPredictions, easyTest.superclass, map: classToSuperclass),
                hardAccuracy: accuracy(hardPredictions, hardTest.superclass, map: classToSuperclass),
                commonAlignment: engine.alignment(dictionary, features: commonFeatures),
                fineAlignment: engine.alignment(dictionary, features: fineFeatures)))
        }
    }
    if useCache && !testSetsCached { cacheTestSets() }
    let finetunePooled = useCache ? engine.pooledActivations(of: finetuneSet) : []

    if shouldStop() { throw TrainingStopped() }
    try easyPooled.withUnsafeBufferPointer { (easyPooled) throws(TrainingStopped) in
    try hardPooled.withUnsafeBufferPointer { (hardPooled) throws(TrainingStopped) in
    try finetunePooled.withUnsafeBufferPointer { (finetunePooled) throws(TrainingStopped) in
    let easyCache = useCache ? easyPooled.baseAddress : nil
    let hardCache = useCache ? hardPooled.baseAddress : nil
    let finetuneCache = useCache ? finetunePooled.baseAddress : nil

    let easyPretrainPredictions = engine.predict(easyTest, phase: .pretrain, pooled: easyCache)
    pretrainAccuracy = accuracy(easyPretrainPredictions, easyTest.label)
    pretrainHardAccuracy = accuracy(engine.predict(hardTest, phase: .pretrain, pooled: hardCache), hardTest.superclass,
                                    map: classToSuperclass)

    engine.resetHead(standardisingOver: finetuneSet, pooled: finetuneCache)
    if config.finetuneHead == .inherited { engine.inheritHead(classToTarget: classToSuperclass) }
    let filtersBefore = config.finetuning == .full ? engine.filterMatrix() : []
    let finetunePhase = ConvEngine.Phase.finetune(trainFilters: config.finetuning == .full)
    // Targets: superclasses, or leaves (y * k + c) for coarse-to-fine.
    func targets(_ set: SampleSet) -> [Int32] {
        if config.finetuneLabels == .coarse { return set.superclass }
        return (0..<set.count).map { set.superclass[$0] * Int32(config.subclasses) + set.subclass[$0] }
    }
    let finetuneTargets = targets(finetuneSet), easyTargets = targets(easyTest), hardTargets = targets(hardTest)
    // Frozen filters keep their alignments.
    var frozenAlignments: (Double, Double)?
    func alignments() -> (Double, Double) {
        if let a = frozenAlignments { return a }
        let a = (engine.alignment(dictionary, features: commonFeatures), engine.alignment(dictionary, features: fineFeatures))
        if probe { frozenAlignments = a }
        return a
    }
    /// The fine-tuned network's easy and hard test accuracies on its targets.
    func evaluate() {
        easyAccuracy = accuracy(engine.predict(easyTest, phase: finetunePhase, pooled: easyCache), easyTargets)
        hardAccuracy = accuracy(engine.predict(hardTest, phase: finetunePhase, pooled: hardCache), hardTargets)
    }
    // Convergence: stop after epoch e when none of the last `patience` epochs' losses is below
    // (1 - tolerance) times the lowest loss before them (a relative rule: on separable data the
    // loss falls towards 0 like 1/t while the head's direction, and the hard accuracy, still move).
    var losses: [Double] = []
    for epoch in 1...max(1, config.finetuneEpochs) where config.finetuneEpochs > 0 {
        let r = try trainEpoch(finetuneSet, labels: finetuneTargets, stream: .finetuneShuffle, epoch: epoch,
                               batchSize: config.finetuneBatchSize, phase: finetunePhase,
                               learningRate: config.finetuneLearningRate,
                               filterLearningRate: config.finetuning == .full ? config.finetuneFilterLearningRate : nil,
                               pooled: finetuneCache)
        finetuneLoss = r.loss
        losses.append(r.loss)
        finetuneEpochsRun = epoch
        let patience = HierarchyConfig.finetunePatience
        if config.finetuneTolerance > 0 && epoch > patience {
            let earlier = losses[0..<(epoch - patience)].min()!
            if !(losses[epoch - patience..<epoch].min()! < earlier * (1 - config.finetuneTolerance)) {
                finetuneConverged = true
            }
        }
        // Curve points (and the test-set evaluations they need): epochs 1-20, every 10th, the last.
        let last = finetuneConverged || epoch == config.finetuneEpochs
        if epoch <= 20 || epoch % 10 == 0 || last {
            evaluate()
            let (common, fine) = alignments()
            onEpoch(HierarchyEpoch(
                phase: .finetune, epoch: epoch, loss: r.loss, trainAccuracy: r.accuracy,
                easyAccuracy: easyAccuracy, hardAccuracy: hardAccuracy,
                commonAlignment: common, fineAlignment: fine))
        }
        if finetuneConverged { break }
    }
    if config.finetuneEpochs == 0 { evaluate() }
    if config.finetuning == .full {
        let after = engine.filterMatrix()
        var moved = 0.0, before = 0.0
        for i in 0..<after.count {
            let d = Double(after[i]) - Double(filtersBefore[i])
            moved += d * d
            before += Double(filtersBefore[i]) * Double(filtersBefore[i])
        }
        filterChange = before > 0 ? (moved / before).squareRoot() : 0
    }
    headFineWeight = {
        let weight = engine.headWeightPerFilter()
        let closest = engine.closestFeatures(dictionary)
        var fine = 0.0, total = 0.0
        for f in 0..<weight.count {
            total += weight[f]
            if closest[f] >= config.superclasses { fine += weight[f] }
        }
        return total > 0 ? fine / total : 0
    }()
    (finalCommonAlignment, finalFineAlignment) = alignments()
    }
    }
    }
    return HierarchyResult(
        easyAccuracy: easyAccuracy, hardAccuracy: hardAccuracy,
        pretrainAccuracy: pretrainAccuracy, pretrainHardAccuracy: pretrainHardAccuracy,
        commonAlignment: finalCommonAlignment, fineAlignment: finalFineAlignment,
        steps: steps, finetuneEpochsRun: finetuneEpochsRun, finetuneConverged: finetuneConverged,
        filterChange: filterChange, headFineWeight: headFineWeight,
        pretrainLoss: pretrainLoss, finetuneLoss: finetuneLoss)
}
