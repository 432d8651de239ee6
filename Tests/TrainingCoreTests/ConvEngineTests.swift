import Parallelism
import Testing
@testable import TrainingCore

/// A tiny network whose shapes exercise every tail of the kernels: P=5 (one 4-patch block and a
/// single patch), d=7 (one 4-coordinate block and 3 single ones), 8 filters padded to 16, and a
/// batch of 20 (a full chunk of 16 and a partial one). Larger init, a bias and s != 1 keep
/// pre-activations away from the ReLU kink so that central differences are accurate.
private final class Fixture {
    let config: HierarchyConfig
    let set: SampleSet
    let pool: ComputePool
    let engine: ConvEngine
    let indices: [Int32]

    deinit { pool.shutdown() }

    init(threads: Int = 2) {
        var c = HierarchyConfig()
        c.superclasses = 2; c.subclasses = 2; c.granularity = 2; c.width = 2
        c.dim = 7; c.patches = 5; c.commonPatches = 2; c.finePatches = 2
        c.initScale = 1.0; c.bias = 0.1; c.outputScale = 2.0; c.seed = 42
        config = c
        let dictionary = FeatureDictionary(dim: c.dim, superclasses: c.superclasses, subclasses: c.subclasses, seed: c.seed)
        let labels = LabelMap(superclasses: 2, subclasses: 2, granularity: 2, alignment: .aligned, seed: c.seed)
        set = SampleSet(count: 20, hardFraction: 0.2, stream: .pretrainSet, config: c, dictionary: dictionary, labels: labels)
        pool = try! ComputePool(threads: threads)
        engine = ConvEngine(config: c, maxBatch: 20, pool: pool)
        engine.initialiseWeights(initScale: c.initScale, seed: c.seed)
        indices = (0..<20).map { Int32($0) }
    }

    /// Weights as Double, [k][f] for the real filters.
    func weights() -> [[Double]] {
        (0..<config.dim).map { k in (0..<config.filters).map { f in Double(engine.weights[engine.weightIndex(k, f)]) } }
    }

    /// pooled[n][f] in Double from weights `w`.
    func pooled(_ w: [[Double]]) -> [[Double]] {
        (0..<set.count).map { n in
            (0..<config.filters).map { f in
                var total = 0.0
                for p in 0..<config.patches {
                    var z = config.bias
                    for k in 0..<config.dim { z += w[k][f] * Double(set.x[(n * config.patches + p) * config.dim + k]) }
                    total += max(0, z)
                }
                return total
            }
        }
    }

    static func crossEntropy(_ logits: [Double], _ label: Int) -> Double {
        let top = logits.max()!
        let total = logits.reduce(0) { $0 + exp($1 - top) }
        return log(total) - (logits[label] - top)
    }

    /// Mean pretraining loss, in Double, from first principles.
    func pretrainLoss(_ w: [[Double]]) -> Double {
        let pooled = pooled(w)
        let m = config.width, scale = config.outputScale / Double(m)
        var loss = 0.0
        for n in 0..<set.count {
            var logits = [Double](repeating: 0, count: config.pretrainClasses)
            for j in 0..<config.pretrainClasses {
                var s = 0.0
                for r in 0..<m { s += pooled[n][j * m + r] }
                logits[j] = scale * s
            }
            loss += Self.crossEntropy(logits, Int(set.label[n]))
        }
        return loss / Double(set.count)
    }

    /// Mean fine-tuning loss, in Double, for head `v` ([y][f], then biases at [y][filters]).
    func finetuneLoss(_ w: [[Double]], _ v: [[Double]], _ u: [Double]) -> Double {
        let pooled = pooled(w)
        var loss = 0.0
        for n in 0..<set.count {
            var logits = [Double](repeating: 0, count: config.superclasses)
            for y in 0..<config.superclasses {
                var s = v[y][config.filters]
                for f in 0..<config.filters { s += v[y][f] * u[f] * pooled[n][f] }
                logits[y] = s
            }
            loss += Self.crossEntropy(logits, Int(set.superclass[n]))
        }
        return loss / Double(set.count)
    }
}

import Glibc

/// |analytic - numeric| <= 2e-3 * max(|numeric|, 1e-2): Float kernels against a Double reference.
private func close(_ analytic: Double, _ numeric: Double) -> Bool {
    abs(analytic - numeric) <= 2e-3 * max(abs(numeric), 1e-2)
}

@Test func pretrainGradientMatchesFiniteDifferences() {
    let fx = Fixture()
    defer { fx.set.deallocate() }
    let w = fx.weights()
    let chunks = fx.indices.withUnsafeBufferPointer { ids in
        fx.set.label.withUnsafeBufferPointer { labels in
            fx.engine.accumulate(x: UnsafePointer(fx.set.x), indices: ids.baseAddress!, labels: labels.baseAddress!,
                                 count: 20, phase: .pretrain)
        }
    }
    #expect(chunks == 2)
    let g = fx.engine.summedGradients(chunks: chunks).weights
    let h = 1e-5
    var checked = 0, bad = 0
    var largest = 0.0
    for k in 0..<fx.config.dim {
        for f in 0..<fx.config.filters {
            var plus = w, minus = w
            plus[k][f] += h
            minus[k][f] -= h
            let numeric = (fx.pretrainLoss(plus) - fx.pretrainLoss(minus)) / (2 * h)
            let analytic = Double(g[k * fx.engine.paddedFilters + f])
            largest = max(largest, abs(numeric))
            if !close(analytic, numeric) { bad += 1 }
            checked += 1
        }
        // Padded filters get no gradient.
        for f in fx.config.filters..<fx.engine.paddedFilters { #expect(g[k * fx.engine.paddedFilters + f] == 0) }
    }
    #expect(checked == 56)
    #expect(bad == 0)
    #expect(largest > 1e-3, "the check is not vacuous")
}

@Test func pretrainLossMatchesReference() {
    let fx = Fixture(threads: 1)
    defer { fx.set.deallocate() }
    let result = fx.indices.withUnsafeBufferPointer { ids in
        fx.set.label.withUnsafeBufferPointer { labels in
            fx.engine.step(x: UnsafePointer(fx.set.x), indices: ids.baseAddress!, labels: labels.baseAddress!,
                           count: 20, phase: .pretrain, learningRate: 0)
        }
    }
    let reference = fx.pretrainLoss(fx.weights())
    #expect(abs(result.loss / 20 - reference) < 1e-4 * max(1, reference))
}

@Test(arguments: [false, true])
func finetuneGradientsMatchFiniteDifferences(trainFilters: Bool) {
    let fx = Fixture()
    defer { fx.set.deallocate() }
    let Fp = fx.engine.paddedFilters, F = fx.config.filters, K = fx.config.superclasses
    fx.engine.resetHead(standardisingOver: fx.set)
    // A random non-zero head, so that the filter gradient is not trivially zero.
    var rng = CounterRandom(seed: 9, stream: .initialWeights)
    for y in 0..<K {
        for f in 0..<F { fx.engine.head[y * Fp + f] = Float(rng.gaussian()) }
        fx.engine.head[K * Fp + y] = Float(rng.gaussian())
    }
    let u = (0..<F).map { Double(fx.engine.headInputScale[$0]) }
    #expect(u.allSatisfy { $0 > 0 })
    let v = (0..<K).map { y in (0..<F).map { Double(fx.engine.head[y * Fp + $0]) } + [Double(fx.engine.head[K * Fp + y])] }
    let w = fx.weights()
    let chunks = fx.indices.withUnsafeBufferPointer { ids in
        fx.set.superclass.withUnsafeBufferPointer { labels in
            fx.engine.accumulate(x: UnsafePointer(fx.set.x), indices: ids.baseAddress!, labels: labels.baseAddress!,
                                 count: 20, phase: .finetune(trainFilters: trainFilters))
        }
    }
    let (gw, gh) = fx.engine.summedGradients(chunks: chunks)
    let h = 1e-5
    var bad = 0
    for y in 0..<K {
        for f in 0...F {
            var plus = v, minus = v
            plus[y][f] += h
            minus[y][f] -= h
            let numeric = (fx.finetuneLoss(w, plus, u) - fx.finetuneLoss(w, minus, u)) / (2 * h)
            let analytic = Double(f == F ? gh[K * Fp + y] : gh[y * Fp + f])
            if !close(analytic, numeric) { bad += 1 }
        }
    }
    #expect(bad == 0, "head gradient mismatches")
    if trainFilters {
        var badW = 0
        for k in 0..<fx.config.dim {
            for f in 0..<F {
                var plus = w, minus = w
                plus[k][f] += h
                minus[k][f] -= h
                let numeric = (fx.finetuneLoss(plus, v, u) - fx.finetuneLoss(minus, v, u)) / (2 * h)
                if !close(Double(gw[k * Fp + f]), numeric) { badW += 1 }
            }
        }
        #expect(badW == 0, "filter gradient mismatches under full fine-tuning")
    }
}

/// Probe fine-tuning with cached pooled activations (frozen filters) gives the same bits as
/// recomputing them: predictions, head gradients, steps (losses and the updated head).
@Test func cachedPooledActivationsGiveTheSameBits() {
    let a = Fixture(), b = Fixture()
    defer {
        a.set.deallocate()
        b.set.deallocate()
    }
    let cache = a.engine.pooledActivations(of: a.set)
    a.engine.resetHead(standardisingOver: a.set)
    cache.withUnsafeBufferPointer { b.engine.resetHead(standardisingOver: b.set, pooled: $0.baseAddress!) }
    let Fp = a.engine.paddedFilters, K = a.config.superclasses
    #expect((0..<Fp).map { a.engine.headInputScale[$0].bitPattern } == (0..<Fp).map { b.engine.headInputScale[$0].bitPattern })
    // A shuffled batch, so that cached rows are gathered out of order.
    let order: [Int32] = [7, 3, 19, 0, 12, 5, 16, 1, 9, 14, 2, 18, 6, 11, 4, 17, 8, 13, 10, 15]
    let phase = ConvEngine.Phase.finetune(trainFilters: false)
    for _ in 0..<3 {
        let (ra, rb) = order.withUnsafeBufferPointer { ids in
            a.set.superclass.withUnsafeBufferPointer { labels in
                let ra = a.engine.step(x: UnsafePointer(a.set.x), indices: ids.baseAddress!, labels: labels.baseAddress!,
                                       count: 20, phase: phase, learningRate: 0.5)
                let rb = cache.withUnsafeBufferPointer {
                    b.engine.step(x: UnsafePointer(b.set.x), indices: ids.baseAddress!, labels: labels.baseAddress!,
                                  count: 20, phase: phase, learningRate: 0.5, pooled: $0.baseAddress!)
                }
                return (ra, rb)
            }
        }
        #expect(ra.loss.bitPattern == rb.loss.bitPattern && ra.correct == rb.correct)
    }
    let headA = (0..<(K * Fp + K)).map { a.engine.head[$0].bitPattern }
    let headB = (0..<(K * Fp + K)).map { b.engine.head[$0].bitPattern }
    #expect(headA == headB)
    #expect(headA.contains { $0 != 0 })
    let pa = a.engine.predict(a.set, phase: phase)
    let pb = cache.withUnsafeBufferPointer { b.engine.predict(b.set, phase: phase, pooled: $0.baseAddress!) }
    #expect(pa == pb)
}
