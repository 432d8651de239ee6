import Parallelism
/// The seeded orthonormal feature dictionary: `superclasses` common features followed by
/// `superclasses * subclasses` fine features, each a unit vector in R^dim, mutually orthogonal.
struct FeatureDictionary {
    let dim: Int
    let superclasses: Int
    let subclasses: Int
    /// Row-major, one feature per row.
    let vectors: [Float]

    var count: Int { superclasses * (1 + subclasses) }
    func commonIndex(_ y: Int) -> Int { y }
    func fineIndex(_ y: Int, _ c: Int) -> Int { superclasses + y * subclasses + c }

    /// Gaussian vectors, orthonormalised by modified Gram-Schmidt applied twice, in Double.
    init(dim: Int, superclasses: Int, subclasses: Int, seed: UInt64) {
        self.dim = dim
        self.superclasses = superclasses
        self.subclasses = subclasses
        let n = superclasses * (1 + subclasses)
        precondition(n <= dim, "the dictionary needs dim >= superclasses * (1 + subclasses)")
        var rng = CounterRandom(seed: seed, stream: .dictionary)
        var v = [Double](repeating: 0, count: n * dim)
        for i in 0..<(n * dim) { v[i] = rng.gaussian() }
        for i in 0..<n {
            for _ in 0..<2 {
                for j in 0..<i {
                    var dot = 0.0
                    for t in 0..<dim { dot += v[i * dim + t] * v[j * dim + t] }
                    for t in 0..<dim { v[i * dim + t] -= dot * v[j * dim + t] }
                }
                var norm = 0.0
                for t in 0..<dim { norm += v[i * dim + t] * v[i * dim + t] }
                norm = norm.squareRoot()
                for t in 0..<dim { v[i * dim + t] /= norm }
            }
        }
        vectors = v.map { Float($0) }
    }
}

/// How a sample's pretraining label follows from its superclass y, subclass c and index.
///
/// With g = granularity, k = subclasses, K = superclasses (C = K*g classes):
/// - aligned, g divides k: class y*g + c/(k/g) (sibling subclasses merged into g groups);
/// - misaligned, g divides k: leaves are ordered interleaved (c*K + y) and cut into K*g groups of
///   k/g, so every group of two or more leaves mixes superclasses;
/// - aligned, g a multiple of k: class (y*k + c)*(g/k) + r, where r is a random pseudo-class in
///   0..<g/k drawn per sample (labels finer than the features);
/// - misaligned, g a multiple of k: the same, except that a random half of the samples (a coin per
///   sample) take the class of (y+1 mod K, c+1 mod k, r), so each class is half of superclass y's
///   leaf c and half of superclass (y-1)'s leaf c-1: it straddles superclasses at g >= k too, where
///   keeping leaves whole would only relabel the aligned classes;
/// - random: a class drawn uniformly per sample, independent of the sample.
struct LabelMap {
    let superclasses: Int
    let subclasses: Int
    let granularity: Int
    let alignment: HierarchyConfig.Alignment
    let seed: UInt64

    var classes: Int { superclasses * granularity }

    /// The label of the sample with superclass y, subclass c, drawn from `stream` as sample `index`.
    func label(y: Int, c: Int, stream: RandomStreamID, index: Int) -> Int {
        let key = (stream.rawValue << 40) ^ UInt64(index)
        switch alignment {
        case .random:
            var rng = CounterRandom(seed: seed, stream: .randomLabel, index: key)
            return rng.below(classes)
        case .aligned, .misaligned:
            if granularity >= subclasses {
                let split = granularity / subclasses
                var rng = CounterRandom(seed: seed, stream: .pseudoClass, index: key)
                let r = split == 1 ? 0 : rng.below(split)
                if alignment == .aligned { return (y * subclasses + c) * split + r }
                // Misaligned: half of the samples of leaf-part (y, c, r) move to the class of
                // leaf-part (y + 1, c + 1, r) (both mod their counts), so every class is half one
                // superclass and half the next one's, and classes stay distinct.
                var half = CounterRandom(seed: seed, stream: .misalignedHalf, index: key)
                if half.below(2) == 1 { return (((y + 1) % superclasses) * subclasses + (c + 1) % subclasses) * split + r }
                return (y * subclasses + c) * split + r
            }
            let groupSize = subclasses / granularity
            if alignment == .aligned { return y * granularity + c / groupSize }
            return (c * superclasses + y) / groupSize
        }
    }
}

/// A set of samples held in memory: patches (n x P x d, row-major), superclass, subclass,
/// hardness and pretraining label of each.
struct SampleSet {
    let count: Int
    let patches: Int
    let dim: Int
    /// 64-byte aligned, count * patches * dim floats.
    let x: UnsafeMutablePointer<Float>
    var superclass: [Int32]
    var subclass: [Int32]
    var isHard: [Bool]
    /// Whether the sample carries its fine feature (always for hard samples).
    var hasFine: [Bool]
    var label: [Int32]

    /// Draws `count` samples; sample i uses only the stream (seed, `stream`, i), so the set is the
    /// same whatever the order or thread that generates it.
    ///
    /// - Parameters:
    ///   - hardFraction: the first round(hardFraction * count) samples are hard, the rest easy.
    ///   - pool: threads to generate on, in chunks of ``generationChunk`` samples (each sample
    ///     writes only its own slots, so the bits do not depend on it); nil: the calling thread.
    init(count: Int, hardFraction: Double, stream: RandomStreamID, config: HierarchyConfig,
         dictionary: FeatureDictionary, labels: LabelMap, pool: ComputePool? = nil) {
        self.count = count
        patches = config.patches
        dim = config.dim
        let stride = patches * dim
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, count * stride) * 4, alignment: 64)
        x = raw.bindMemory(to: Float.self, capacity: max(1, count * stride))
        superclass = [Int32](repeating: 0, count: count)
        subclass = [Int32](repeating: 0, count: count)
        isHard = [Bool](repeating: false, count: count)
        hasFine = [Bool](repeating: false, count: count)
        label = [Int32](repeating: 0, count: count)
        let hardCount = Int((hardFraction * Double(count)).rounded())
        let x = SendablePointer(x)
        superclass.withUnsafeMutableBufferPointer { superclass in
        subclass.withUnsafeMutableBufferPointer { subclass in
        isHard.withUnsafeMutableBufferPointer { isHard in
        hasFine.withUnsafeMutableBufferPointer { hasFine in
        label.withUnsafeMutableBufferPointer { label in
            let out = SampleSlots(x: x, superclass: SendablePointer(superclass.baseAddress!),
                                  subclass: SendablePointer(subclass.baseAddress!), isHard: SendablePointer(isHard.baseAddress!),
                                  hasFine: SendablePointer(hasFine.baseAddress!), label: SendablePointer(label.baseAddress!))
            let chunks = (count + Self.generationChunk - 1) / Self.generationChunk
            let body: @Sendable (Int, Int) -> Void = { chunk, _ in
                for i in (chunk * Self.generationChunk)..<min(count, (chunk + 1) * Self.generationChunk) {
                    Self.drawSample(i, hard: i < hardCount, stream: stream, config: config, dictionary: dictionary,
                                    labels: labels, into: out)
                }
            }
            if let pool { pool.run(count: chunks, body) } else { for c in 0..<chunks { body(c, 0) } }
        }
        }
        }
        }
        }
    }

    /// Samples per generation job.
    static let generationChunk = 32

    /// Where ``drawSample`` writes (pointers into the set's storage, valid during generation).
    private struct SampleSlots: Sendable {
        let x: SendablePointer<Float>
        let superclass: SendablePointer<Int32>, subclass: SendablePointer<Int32>
        let isHard: SendablePointer<Bool>, hasFine: SendablePointer<Bool>
        let label: SendablePointer<Int32>
    }

    /// Draws sample `i` from the stream (seed, `stream`, i) into its slots.
    private static func drawSample(_ i: Int, hard: Bool, stream: RandomStreamID, config: HierarchyConfig,
                                   dictionary: FeatureDictionary, labels: LabelMap, into out: SampleSlots) {
        let dim = config.dim, patches = config.patches, stride = patches * dim
        let K = config.superclasses, k = config.subclasses
        let noiseStd = config.noise / Double(dim).squareRoot()
        let features = dictionary.count
        var rng = CounterRandom(seed: config.seed, stream: stream, index: UInt64(i))
        let y = rng.below(K), c = rng.below(k)
        let carriesFine = hard || rng.uniform() < config.rareFrequency
        let s = out.x.pointer + i * stride
        rng.fillGaussians(s, count: stride, scale: noiseStd)  // = Float(noiseStd * rng.gaussian()) each
        func add(_ feature: Int, _ scale: Double, patch: Int) {
            dictionary.vectors.withUnsafeBufferPointer { vectors in
                let v = vectors.baseAddress! + feature * dim
                let p = s + patch * dim
                let a = Float(scale)
                for t in 0..<dim { p[t] += a * v[t] }
            }
        }
        func alpha() -> Double { config.alphaLow + (config.alphaHigh - config.alphaLow) * rng.uniform() }
        // Patch positions do not matter to a network that sums over patches: the common
        // feature takes the first patches, the fine feature the next ones.
        if !hard {
            for p in 0..<config.commonPatches { add(dictionary.commonIndex(y), alpha(), patch: p) }
        }
        if carriesFine {
            for p in 0..<config.finePatches {
                add(dictionary.fineIndex(y, c), alpha(), patch: config.commonPatches + p)
            }
        }
        if config.featureNoise > 0 {
            // Each remaining patch carries, with probability 1/2, beta times a random feature
            // other than the sample's own two.
            for p in (config.commonPatches + config.finePatches)..<patches where rng.uniform() < 0.5 {
                var f = rng.below(features - 2)
                let own = [dictionary.commonIndex(y), dictionary.fineIndex(y, c)].sorted()
                if f >= own[0] { f += 1 }
                if f >= own[1] { f += 1 }
                add(f, config.featureNoise, patch: p)
            }
        }
        out.superclass.pointer[i] = Int32(y)
        out.subclass.pointer[i] = Int32(c)
        out.isHard.pointer[i] = hard
        out.hasFine.pointer[i] = carriesFine
        out.label.pointer[i] = Int32(labels.label(y: y, c: c, stream: stream, index: i))
    }

    /// Frees the patch buffer (a SampleSet is owned by one task run).
    func deallocate() { UnsafeMutableRawPointer(x).deallocate() }
}

/// A pointer handed to pool jobs that write disjoint slots of it (hence `@unchecked Sendable`).
struct SendablePointer<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>
    init(_ pointer: UnsafeMutablePointer<T>) { self.pointer = pointer }
}
