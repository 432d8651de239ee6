import BitStableMath
/// A counter-based random stream: value `i` of a stream is a fixed hash of (key, i), so any sample
/// can be generated on any thread, in any order, with the same bits.
///
/// The hash is SplitMix64's finaliser (Steele, Lea and Flood, 2014) applied to `key + i*gamma`;
/// keys are derived from the task seed, a stream id (``RandomStreamID``) and an index (a sample
/// number, an epoch) by the same finaliser, so streams of neighbouring indices are unrelated.
struct CounterRandom {
    private static let gamma: UInt64 = 0x9E37_79B9_7F4A_7C15
    private let key: UInt64
    private var counter: UInt64 = 0
    /// The second Gaussian of the last Box-Muller pair, if unused.
    private var spareGaussian: Double?

    @inline(__always)
    static func mix(_ z: UInt64) -> UInt64 { BitStableMath.splitMix(z) }

    /// The stream `stream` of task seed `seed` for item `index` (a sample, an epoch...).
    init(seed: UInt64, stream: RandomStreamID, index: UInt64 = 0) {
        let a = Self.mix(seed &+ Self.gamma &* (stream.rawValue &+ 1))
        key = Self.mix(a ^ Self.mix(index &+ 0x632B_E59B_D9B4_E019))
    }

    /// The next 64 random bits.
    @inline(__always)
    mutating func next() -> UInt64 {
        counter &+= 1
        return Self.mix(key &+ counter &* Self.gamma)
    }

    /// Uniform in [0, 1) with 53 random bits.
    @inline(__always)
    mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Uniform integer in 0..<n (multiply-shift on 32 bits; bias below 2^-32 * n).
    @inline(__always)
    mutating func below(_ n: Int) -> Int {
        Int(((next() >> 32) &* UInt64(n)) >> 32)
    }

    /// SplitMix64's finaliser on four lanes: each lane is ``mix(_:)-swift.type.method`` of it.
    @inline(__always)
    static func mix(_ z0: SIMD4<UInt64>) -> SIMD4<UInt64> {
        var z = z0
        z = (z ^ (z &>> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z &>> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z &>> 31)
    }

    /// Writes `Float(scale * gaussian())` for `count` successive calls of ``gaussian()`` to
    /// `out[0..<count]`, and leaves the stream as those calls would: the same bits, four
    /// Box-Muller pairs at a time (``PortableMath``'s four-lane `log` and `sinCosTwoPi` compute each
    /// lane with the scalar functions' operations).
    mutating func fillGaussians(_ out: UnsafeMutablePointer<Float>, count: Int, scale: Double) {
        var t = 0
        if count > 0, let g = spareGaussian {
            spareGaussian = nil
            out[0] = Float(scale * g)
            t = 1
        }
        let step = SIMD4<UInt64>(0, 2, 4, 6)
        while count - t >= 8 {
            // Pair i takes values counter + 2i + 1 (u1) and counter + 2i + 2 (u2).
            let c1 = SIMD4<UInt64>(repeating: counter &+ 1) &+ step
            counter &+= 8
            let b1 = Self.mix(SIMD4(repeating: key) &+ c1 &* Self.gamma)
            let b2 = Self.mix(SIMD4(repeating: key) &+ (c1 &+ 1) &* Self.gamma)
            let u1 = 1 - PortableMath.exactDouble(b1 &>> 11) * 0x1p-53  // (0, 1]
            let u2 = PortableMath.exactDouble(b2 &>> 11) * 0x1p-53
            let r = (-2 * PortableMath.logOfNormal(u1)).squareRoot()
            let (sine, cosine) = PortableMath.sinCosTwoPi(unitInterval: u2)
            let first = scale * (r * cosine), second = scale * (r * sine)
            for i in 0..<4 {
                out[t &+ 2 &* i] = Float(first[i])
                out[t &+ 2 &* i &+ 1] = Float(second[i])
            }
            t &+= 8
        }
        while t < count {
            out[t] = Float(scale * gaussian())
            t &+= 1
        }
    }

    /// A standard normal deviate (Box-Muller in Double), with ``PortableMath``'s `log` and
    /// `sinCosTwoPi` rather than libm's, so the bits are the same on every host.
    mutating func gaussian() -> Double {
        if let g = spareGaussian {
            spareGaussian = nil
            return g
        }
        let u1 = 1 - uniform()  // (0, 1]
        let u2 = uniform()
        let r = (-2 * PortableMath.log(u1)).squareRoot()
        let (sine, cosine) = PortableMath.sinCosTwoPi(u2)
        spareGaussian = r * sine
        return r * cosine
    }
}

/// The independent random streams of a task; each is keyed by the seed and an index.
enum RandomStreamID: UInt64 {
    case dictionary = 1
    case pretrainSet = 2
    case finetuneSet = 3
    case easyTestSet = 4
    case hardTestSet = 5
    case initialWeights = 6
    case pretrainShuffle = 7
    case finetuneShuffle = 8
    case pseudoClass = 9
    case randomLabel = 10
    /// The coin of a misaligned label at granularity >= subclasses.
    case misalignedHalf = 11
}
