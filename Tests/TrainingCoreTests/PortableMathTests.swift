import Glibc
import Testing
@testable import TrainingCore

#if arch(x86_64) || arch(i386)  // Float80 (long double) references exist only on x86.
/// The error of `value` against a more precise `reference`, in ULPs of the reference rounded to Double.
private func ulpError(_ value: Double, _ reference: Float80) -> Double {
    let r = Double(reference)
    if value == r { return 0 }
    return Double(abs(Float80(value) - reference) / Float80(r.ulp))
}

#endif

private func ulpError(_ value: Float, _ reference: Double) -> Double {
    let r = Float(reference)
    if value == r { return 0 }
    // Below the normal range, ULPs of the subnormal spacing.
    let ulp = max(r.ulp, Float.leastNonzeroMagnitude)
    return abs(Double(value) - reference) / Double(ulp)
}

#if arch(x86_64) || arch(i386)  // Float80 (long double) references exist only on x86.
@Test func logIsAccurateAgainstLongDouble() {
    var rng = CounterRandom(seed: 1, stream: .dictionary)
    var worst = 0.0
    var inputs: [Double] = [1, 2, 0.5, 10, .ulpOfOne, 1 - .ulpOfOne / 2, 1 + .ulpOfOne, 0x1p-53, .greatestFiniteMagnitude,
                            .leastNormalMagnitude, .leastNonzeroMagnitude, 0x1p-1060, 1.4142135623730951, 0.7071067811865476]
    for _ in 0..<100_000 { inputs.append(1 - rng.uniform()) }  // the Box-Muller domain (0, 1]
    for _ in 0..<50_000 { inputs.append(1 + (rng.uniform() - 0.5) * 0x1p-10) }  // near 1, where log is small
    for _ in 0..<50_000 {  // every binade
        let e = Double(rng.below(2000) - 1000)
        inputs.append((1 + rng.uniform()) * Double(sign: .plus, exponent: Int(e), significand: 1))
    }
    for x in inputs {
        let err = ulpError(PortableMath.log(x), logl(Float80(x)))
        worst = max(worst, err)
        #expect(err <= 2, "log(\(x)) = \(PortableMath.log(x)), long double \(logl(Float80(x)))")
        if err > 2 { break }
    }
    print("PortableMath.log: max error \(worst) ulp over \(inputs.count) inputs")
}

#endif

@Test func logSpecialValues() {
    #expect(PortableMath.log(1.0) == 0)
    #expect(PortableMath.log(0.0) == -.infinity)
    #expect(PortableMath.log(-0.0) == -.infinity)
    #expect(PortableMath.log(-1.0).isNaN)
    #expect(PortableMath.log(Double.nan).isNaN)
    #expect(PortableMath.log(Double.infinity) == .infinity)
    #expect(PortableMath.log(-Double.infinity).isNaN)
    #expect(PortableMath.log(Float(1)) == 0)
    #expect(abs(PortableMath.log(Float(16)) - 2.7725887) <= Float(2.7725887).ulp)
}

#if arch(x86_64) || arch(i386)  // Float80 (long double) references exist only on x86.
/// The reduction u -> r = u - round(4u)/4 is exact in Double, so the long-double reference is taken
/// at r, in its quadrant (a long-double 2*pi*u would itself be off by ~1e-19 near the zeros); the
/// quadrant logic is checked against libm's sin(2*pi*u) with an absolute tolerance.
@Test func sinCosTwoPiIsAccurateAgainstLongDouble() {
    var rng = CounterRandom(seed: 2, stream: .dictionary)
    var inputs: [Double] = [0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1 - .ulpOfOne / 2, 0x1p-53, 0x1p-1000,
                            0.5 + .ulpOfOne, 0.25 - .ulpOfOne / 4, -0.3, -7.9, 1e6 + 0.1, 123_456.789]
    for _ in 0..<200_000 { inputs.append(rng.uniform()) }  // the Box-Muller domain [0, 1)
    for _ in 0..<20_000 { inputs.append((rng.uniform() - 0.5) * 2000) }
    var worstSin = 0.0, worstCos = 0.0, worstAbsolute = 0.0
    let twoPi = 2 * Float80.pi
    for u in inputs {
        let (s, c) = PortableMath.sinCosTwoPi(u)
        let q = (4 * u).rounded(.toNearestOrEven)
        let a = twoPi * Float80(u - q * 0.25)
        let (sr, cr): (Float80, Float80)
        switch Int64(q.truncatingRemainder(dividingBy: 4)) & 3 {
        case 0: (sr, cr) = (sinl(a), cosl(a))
        case 1: (sr, cr) = (cosl(a), -sinl(a))
        case 2: (sr, cr) = (-sinl(a), -cosl(a))
        default: (sr, cr) = (-cosl(a), sinl(a))
        }
        let es = ulpError(s, sr), ec = ulpError(c, cr)
        worstSin = max(worstSin, es)
        worstCos = max(worstCos, ec)
        #expect(es <= 2 && ec <= 2, "u \(u): sin \(s) vs \(sr), cos \(c) vs \(cr)")
        let absolute = max(abs(s - Glibc.sin(2 * .pi * u)), abs(c - Glibc.cos(2 * .pi * u)))
        worstAbsolute = max(worstAbsolute, absolute / max(1, abs(u)))
        #expect(absolute <= 1e-15 * max(1, abs(u)), "u \(u): (\(s), \(c)) vs libm")
        if es > 2 || ec > 2 || absolute > 1e-15 * max(1, abs(u)) { break }
    }
    print("PortableMath.sinCosTwoPi: max error sin \(worstSin) ulp, cos \(worstCos) ulp over \(inputs.count) inputs; vs libm sin(2 pi u) \(worstAbsolute) absolute / max(1, |u|)")
}

#endif

@Test func sinCosTwoPiSpecialValues() {
    #expect(PortableMath.sinCosTwoPi(0) == (0, 1))
    #expect(PortableMath.sinCosTwoPi(0.25) == (1, 0))
    #expect(PortableMath.sinCosTwoPi(0.5) == (0, -1))
    #expect(PortableMath.sinCosTwoPi(0.75) == (-1, 0))
    #expect(PortableMath.sinCosTwoPi(0x1p60) == (0, 1))
    #expect(PortableMath.sinCosTwoPi(.nan).sin.isNaN)
    #expect(PortableMath.sinCosTwoPi(.infinity).cos.isNaN)
}

@Test func expIsAccurateAgainstDoubleLibm() {
    var rng = CounterRandom(seed: 3, stream: .dictionary)
    var inputs: [Float] = [0, -0.0, 1, -1, 0.5, -0.5, 88.7, 88.72, -87.3, -87.34, -100, -103.2, -103.9, 1e-8, -1e-8,
                           Float(0.34657359), -Float(0.34657359)]
    for _ in 0..<200_000 { inputs.append(Float(-30 * rng.uniform())) }  // softmax: logits - max <= 0
    for _ in 0..<100_000 { inputs.append(Float(-104 + 192.7 * rng.uniform())) }  // the whole finite range
    var worst = 0.0
    for x in inputs {
        let e = PortableMath.exp(x)
        let err = ulpError(e, Glibc.exp(Double(x)))
        worst = max(worst, err)
        #expect(err <= 1.5, "exp(\(x)) = \(e), libm (Double) \(Glibc.exp(Double(x)))")
        if err > 1.5 { break }
    }
    print("PortableMath.exp(Float): max error \(worst) ulp over \(inputs.count) inputs")
}

@Test func expSpecialValuesAndLanes() {
    #expect(PortableMath.exp(Float(0)) == 1)
    #expect(PortableMath.exp(-Float.infinity) == 0)
    #expect(PortableMath.exp(Float(-200)) == 0)
    #expect(PortableMath.exp(Float(-104)) == 0)
    #expect(PortableMath.exp(Float.infinity) == .infinity)
    #expect(PortableMath.exp(Float(89)) == .infinity)
    #expect(PortableMath.exp(Float(88.72)).isFinite)
    #expect(PortableMath.exp(Float.nan).isNaN)
    #expect(PortableMath.exp(Float(-103)) > 0)  // subnormal, not flushed
    // In place over a length with a partial vector: each value as if computed alone.
    var values = (0..<37).map { Float($0) * -0.7 + 3 }
    let expected = values.map { PortableMath.exp($0) }
    values.withUnsafeMutableBufferPointer { PortableMath.expInPlace($0.baseAddress!, count: 37) }
    #expect(values.map(\.bitPattern) == expected.map(\.bitPattern))
}

@Test func gaussianDrawsHaveStandardNormalMoments() {
    var rng = CounterRandom(seed: 4, stream: .pretrainSet, index: 9)
    let n = 400_000
    var s1 = 0.0, s2 = 0.0, s4 = 0.0, within1 = 0
    for _ in 0..<n {
        let g = rng.gaussian()
        s1 += g; s2 += g * g; s4 += g * g * g * g
        if abs(g) < 1 { within1 += 1 }
    }
    let mean = s1 / Double(n), variance = s2 / Double(n) - mean * mean
    #expect(abs(mean) < 0.01)  // standard error 0.0016
    #expect(abs(variance - 1) < 0.01)  // standard error 0.0022
    #expect(abs(s4 / Double(n) - 3) < 0.05)  // standard error ~0.01
    #expect(abs(Double(within1) / Double(n) - 0.682_689) < 0.005)  // standard error 0.0007
}

/// Pinned bits: the first Gaussian draws of a stream and a small task's metrics. These are pure
/// functions of the source (no libm, fixed arithmetic order), so they must match on every host, with
/// any `-target-cpu` and thread count. A change here means the generated data or training changed:
/// only update the constants for an intended change of the computation, and say so in the commit.
@Test func pinnedBitsAreHostIndependent() throws {
    var rng = CounterRandom(seed: 123, stream: .pretrainSet, index: 7)
    var h: UInt64 = 0
    for _ in 0..<1000 { h = CounterRandom.mix(h ^ rng.gaussian().bitPattern) }
    var e: UInt32 = 0
    for i in 0..<1000 { e = e &* 31 &+ PortableMath.exp(Float(i) * -0.05 + 10).bitPattern }
    var c = HierarchyConfig()
    c.subclasses = 4; c.granularity = 4; c.dim = 16; c.patches = 6; c.width = 4
    c.trainSamples = 300; c.finetuneSamples = 100; c.testSamples = 100
    c.epochs = 2; c.finetuneEpochs = 2; c.seed = 11
    func pin(_ r: HierarchyResult) -> UInt64 {
        var t: UInt64 = 0
        for v in [r.easyAccuracy, r.hardAccuracy, r.pretrainAccuracy, r.commonAlignment, r.fineAlignment, r.pretrainLoss, r.finetuneLoss] {
            t = CounterRandom.mix(t ^ v.bitPattern)
        }
        return t
    }
    // Core version 2 (issue 15) changed the defaults: fine-tuning batches of 16, a convergence rule.
    let t = pin(try runHierarchyTask(c, threads: 2))
    // With core version 1's fine-tuning (the pretraining batch size, every epoch run) the kernels
    // still give version 1's bits: the science revision changed what runs, not how it computes.
    c.finetuneBatchSize = 128; c.finetuneTolerance = 0
    let t1 = pin(try runHierarchyTask(c, threads: 2))
    print("pinned: gaussians \(h) exp \(e) task \(t) task-v1-settings \(t1)")
    #expect(h == 10_068_719_897_041_997_106)
    #expect(e == 2_768_409_376)
    #expect(t1 == 7_418_827_023_760_553_778)
    #expect(t == 9_371_084_498_323_701_159)
}

/// The four-lane Gaussian fill gives the bits of the scalar draws, and leaves the stream where they
/// would (a pending spare, the counter), for every count and starting state.
@Test func fillGaussiansEqualsScalarDraws() {
    for seed: UInt64 in [0, 1, 7, 123_456_789] {
        for count in [0, 1, 2, 7, 8, 9, 15, 16, 17, 64, 511, 512, 1000] {
            for offset in 0..<3 {
                var a = CounterRandom(seed: seed, stream: .pretrainSet, index: UInt64(count))
                var b = a
                // Put both streams in the same state: `offset` Gaussians drawn (a spare pending when odd).
                for _ in 0..<offset {
                    _ = a.gaussian()
                    _ = b.gaussian()
                }
                let scale = 0.0625 * Double(seed % 5 + 1)
                let expected = (0..<count).map { _ in Float(scale * a.gaussian()) }
                var got = [Float](repeating: .nan, count: count)
                got.withUnsafeMutableBufferPointer { b.fillGaussians($0.baseAddress!, count: count, scale: scale) }
                #expect(got.map(\.bitPattern) == expected.map(\.bitPattern), "seed \(seed) count \(count) offset \(offset)")
                // The streams continue identically.
                #expect(a.gaussian().bitPattern == b.gaussian().bitPattern)
                #expect(a.next() == b.next())
            }
        }
    }
}
