import Testing
@testable import TrainingCore

/// A configuration for generator tests: the defaults with a given seed.
private func config(seed: UInt64 = 7) -> HierarchyConfig {
    var c = HierarchyConfig()
    c.seed = seed
    return c
}

private func dot(_ a: UnsafePointer<Float>, _ b: [Float], offset: Int, _ n: Int) -> Double {
    var s = 0.0
    for i in 0..<n { s += Double(a[i]) * Double(b[offset + i]) }
    return s
}

@Test func dictionaryIsOrthonormal() {
    for seed: UInt64 in [0, 1, 99] {
        let d = FeatureDictionary(dim: 20, superclasses: 2, subclasses: 8, seed: seed)
        #expect(d.count == 18)
        var worst = 0.0
        for i in 0..<d.count {
            for j in 0..<d.count {
                var s = 0.0
                for t in 0..<d.dim { s += Double(d.vectors[i * d.dim + t]) * Double(d.vectors[j * d.dim + t]) }
                worst = max(worst, abs(s - (i == j ? 1 : 0)))
            }
        }
        #expect(worst < 1e-5, "max |<v_i, v_j> - delta_ij| = \(worst)")
    }
}

@Test func dictionaryDependsOnSeed() {
    let a = FeatureDictionary(dim: 64, superclasses: 2, subclasses: 8, seed: 1)
    let b = FeatureDictionary(dim: 64, superclasses: 2, subclasses: 8, seed: 2)
    #expect(a.vectors != b.vectors)
}

/// Measures features by projection (not by the generator's own flags): a patch "carries" feature v
/// when <x_p, v> exceeds 0.4. Noise projects with standard deviation sigma/sqrt(d) = 0.0625 at the
/// defaults, so 0.4 is more than 5 standard deviations from both 0 and alpha_lo = 0.8.
@Test func easySamplesCarryTheirFineFeatureAtRareFrequency() {
    let c = config()
    let dictionary = FeatureDictionary(dim: c.dim, superclasses: c.superclasses, subclasses: c.subclasses, seed: c.seed)
    let labels = LabelMap(superclasses: 2, subclasses: 8, granularity: 8, alignment: .aligned, seed: c.seed)
    let n = 20_000
    let set = SampleSet(count: n, hardFraction: 0, stream: .pretrainSet, config: c, dictionary: dictionary, labels: labels)
    defer { set.deallocate() }
    var withFine = 0
    var commonEverywhere = true
    var flagsAgree = true
    for i in 0..<n {
        let y = Int(set.superclass[i]), sub = Int(set.subclass[i])
        let s = UnsafePointer(set.x + i * c.patches * c.dim)
        var carries = false
        for p in c.commonPatches..<(c.commonPatches + c.finePatches)
        where dot(s + p * c.dim, dictionary.vectors, offset: dictionary.fineIndex(y, sub) * c.dim, c.dim) > 0.4 {
            carries = true
        }
        if carries { withFine += 1 }
        if carries != set.hasFine[i] { flagsAgree = false }
        for p in 0..<c.commonPatches
        where dot(s + p * c.dim, dictionary.vectors, offset: dictionary.commonIndex(y) * c.dim, c.dim) < 0.4 {
            commonEverywhere = false
        }
    }
    let fraction = Double(withFine) / Double(n)
    // Binomial standard error sqrt(0.3 * 0.7 / 20000) = 0.0032; 0.015 is over 4.5 of them.
    #expect(abs(fraction - c.rareFrequency) < 0.015, "fraction with fine feature \(fraction), rare_freq \(c.rareFrequency)")
    #expect(commonEverywhere)
    #expect(flagsAgree)
}

@Test func hardSamplesCarryNoCommonFeatureAndAlwaysTheirFineOne() {
    let c = config(seed: 3)
    let dictionary = FeatureDictionary(dim: c.dim, superclasses: c.superclasses, subclasses: c.subclasses, seed: c.seed)
    let labels = LabelMap(superclasses: 2, subclasses: 8, granularity: 8, alignment: .aligned, seed: c.seed)
    let n = 2000
    let set = SampleSet(count: n, hardFraction: 1, stream: .hardTestSet, config: c, dictionary: dictionary, labels: labels)
    defer { set.deallocate() }
    var maxCommon = 0.0
    var fineEverywhere = true
    var allHard = true
    for i in 0..<n {
        if !set.isHard[i] { allHard = false }
        let y = Int(set.superclass[i]), sub = Int(set.subclass[i])
        let s = UnsafePointer(set.x + i * c.patches * c.dim)
        for p in 0..<c.patches {
            for yy in 0..<c.superclasses {
                maxCommon = max(maxCommon, abs(dot(s + p * c.dim, dictionary.vectors, offset: dictionary.commonIndex(yy) * c.dim, c.dim)))
            }
        }
        for p in c.commonPatches..<(c.commonPatches + c.finePatches)
        where dot(s + p * c.dim, dictionary.vectors, offset: dictionary.fineIndex(y, sub) * c.dim, c.dim) < 0.4 {
            fineEverywhere = false
        }
    }
    #expect(allHard)
    #expect(maxCommon < 0.4, "largest |<x_p, v_common>| in a hard sample: \(maxCommon)")
    #expect(fineEverywhere)
}

@Test func trainHardFractionSetsTheShareOfHardSamples() {
    var c = config()
    c.trainHardFraction = 0.25
    let dictionary = FeatureDictionary(dim: c.dim, superclasses: c.superclasses, subclasses: c.subclasses, seed: c.seed)
    let labels = LabelMap(superclasses: 2, subclasses: 8, granularity: 8, alignment: .aligned, seed: c.seed)
    let set = SampleSet(count: 400, hardFraction: c.trainHardFraction, stream: .pretrainSet, config: c, dictionary: dictionary, labels: labels)
    defer { set.deallocate() }
    #expect(set.isHard.filter { $0 }.count == 100)
}

@Test func samplesDoNotDependOnSetSize() {
    // Sample i is keyed by (seed, stream, i): a prefix of a larger set is the smaller set.
    let c = config()
    let dictionary = FeatureDictionary(dim: c.dim, superclasses: c.superclasses, subclasses: c.subclasses, seed: c.seed)
    let labels = LabelMap(superclasses: 2, subclasses: 8, granularity: 8, alignment: .aligned, seed: c.seed)
    let a = SampleSet(count: 10, hardFraction: 0, stream: .easyTestSet, config: c, dictionary: dictionary, labels: labels)
    let b = SampleSet(count: 30, hardFraction: 0, stream: .easyTestSet, config: c, dictionary: dictionary, labels: labels)
    defer { a.deallocate(); b.deallocate() }
    let floats = 10 * c.patches * c.dim
    #expect(Array(UnsafeBufferPointer(start: a.x, count: floats)) == Array(UnsafeBufferPointer(start: b.x, count: floats)))
    #expect(a.label == Array(b.label[0..<10]))
}

// MARK: Label maps

/// Labels of `n` samples drawn uniformly over (y, c), as the generator draws them.
private func labelled(_ map: LabelMap, n: Int = 4000) -> [(y: Int, c: Int, label: Int)] {
    var rng = CounterRandom(seed: 11, stream: .pretrainSet)
    return (0..<n).map { i in
        let y = rng.below(map.superclasses), c = rng.below(map.subclasses)
        return (y, c, map.label(y: y, c: c, stream: .pretrainSet, index: i))
    }
}

@Test(arguments: [1, 2, 4, 8, 16, 32])
func alignedLabelsFollowTheHierarchy(granularity g: Int) {
    let K = 2, k = 8
    let map = LabelMap(superclasses: K, subclasses: k, granularity: g, alignment: .aligned, seed: 5)
    let rows = labelled(map)
    #expect(Set(rows.map(\.label)) == Set(0..<(K * g)), "every one of the K*g classes is used")
    var wrong = 0
    for r in rows {
        // Each class lies inside one superclass: class / g is the superclass.
        if r.label / g != r.y { wrong += 1 }
        if g <= k {
            // Sibling subclasses merged in consecutive groups of k/g.
            if r.label != r.y * g + r.c / (k / g) { wrong += 1 }
        } else {
            // Each leaf split into g/k pseudo-classes.
            if r.label / (g / k) != r.y * k + r.c { wrong += 1 }
        }
    }
    #expect(wrong == 0)
    if g > k {
        // The pseudo-class is random per sample: every leaf uses all its g/k pseudo-classes.
        let leaf0 = Set(rows.filter { $0.y == 0 && $0.c == 0 }.map(\.label))
        #expect(leaf0.count == g / k)
    }
}

@Test(arguments: [1, 2, 4])
func misalignedLabelsStraddleSuperclasses(granularity g: Int) {
    let K = 2, k = 8
    let map = LabelMap(superclasses: K, subclasses: k, granularity: g, alignment: .misaligned, seed: 5)
    let rows = labelled(map)
    #expect(Set(rows.map(\.label)) == Set(0..<(K * g)))
    for j in 0..<(K * g) {
        let supers = Set(rows.filter { $0.label == j }.map(\.y))
        #expect(supers == Set(0..<K), "class \(j) holds superclasses \(supers)")
    }
    // Still a function of the leaf: all samples of a leaf share a class.
    for y in 0..<K {
        for c in 0..<k {
            #expect(Set(rows.filter { $0.y == y && $0.c == c }.map(\.label)).count == 1)
        }
    }
}

/// At g >= k (g = k included) misaligned classes straddle superclasses too (core version 2): each
/// class is about half one superclass's leaf-part and half the next superclass's, the two leaves
/// differ, and the labels are not the aligned ones relabelled.
@Test(arguments: [8, 16, 32])
func misalignedLabelsStraddleSuperclassesAtAndBelowTheLeaves(granularity g: Int) {
    let K = 2, k = 8
    let map = LabelMap(superclasses: K, subclasses: k, granularity: g, alignment: .misaligned, seed: 5)
    let aligned = LabelMap(superclasses: K, subclasses: k, granularity: g, alignment: .aligned, seed: 5)
    let rows = labelled(map, n: 16_000)
    #expect(Set(rows.map(\.label)) == Set(0..<(K * g)))
    for j in 0..<(K * g) {
        let members = rows.filter { $0.label == j }
        let fromFirst = members.filter { $0.y == 0 }.count
        // Half and half: within 6 standard deviations of a fair coin.
        let half = Double(members.count) / 2
        #expect(abs(Double(fromFirst) - half) < 6 * (half / 2).squareRoot() + 1, "class \(j): \(fromFirst) of \(members.count) from superclass 0")
        #expect(Set(members.map { $0.y * k + $0.c }).count == 2, "class \(j) is made of two leaves")
    }
    // Not a relabelling of the aligned classes: some aligned class is split between two misaligned ones.
    let alignedRows = labelled(aligned, n: 16_000)
    var pairs: [Int: Set<Int>] = [:]
    for (a, m) in zip(alignedRows, rows) { pairs[a.label, default: []].insert(m.label) }
    #expect(pairs.values.contains { $0.count > 1 })
}

@Test(arguments: [1, 8])
func randomLabelsIgnoreTheSample(granularity g: Int) {
    let K = 2
    let map = LabelMap(superclasses: K, subclasses: 8, granularity: g, alignment: .random, seed: 5)
    let rows = labelled(map, n: 8000)
    var counts = [Int](repeating: 0, count: K * g * K)
    for r in rows { counts[r.label * K + r.y] += 1 }
    // Each (class, superclass) cell expects n / (K*g*K) samples; allow 6 standard deviations.
    let expected = Double(rows.count) / Double(K * g * K)
    for n in counts {
        #expect(abs(Double(n) - expected) < 6 * expected.squareRoot(), "cell count \(n), expected \(expected)")
    }
}
