import BitStableMath
/// Transcendental functions in plain Swift arithmetic, so that a task's result is the same bits on
/// every host.
///
/// Why not libm: SCIENCE.md requires a task's result to be a pure function of its parameters and
/// seed, the same bits on any host and any thread count. glibc's `log`, `sin`, `cos`, `expf`,
/// `logf` are not bit-stable across hosts: glibc selects CPU-specific variants when it is loaded
/// (ifunc: FMA vs SSE2 code paths, with different rounding), and its implementations change between
/// versions. Everything here uses only IEEE-754 operations that are exactly specified (+, -, *, /,
/// `squareRoot`, `addingProduct` = fused multiply-add rounded once), integer bit manipulation and
/// comparisons, in an order fixed by the source. The compiler does not reassociate floating-point
/// arithmetic (no fast-math), so the same source gives the same bits with any `-target-cpu`.
///
/// Accuracy is a few ULP (checked against libm and long-double references in
/// `PortableMathTests`), plenty for random draws and softmax.
enum PortableMath {
    // ln 2 split so that n * ln2Hi is exact for |n| < 2^11 (fdlibm's constants).
    private static let ln2Hi: Double = 6.931_471_803_691_238_164_90e-01  // 0x3FE62E42FEE00000
    private static let ln2Lo: Double = 1.908_214_929_270_587_700_02e-10  // 0x3DEA39EF35793C76

    /// The natural logarithm, to within a few ULP (the scalar function is shared with the sweep
    /// model: ``BitStableMath/BitStableMath/log(_:)``).
    @inline(__always)
    static func log(_ x: Double) -> Double { BitStableMath.log(x) }

    /// ``log(_:)-swift.type.method`` of four positive, normal, finite lanes (the case of every
    /// uniform draw in (0, 1]): each lane is the scalar function's result, by the same operations.
    @inline(__always)
    static func logOfNormal(_ x: SIMD4<Double>) -> SIMD4<Double> {
        let bits = unsafeBitCast(x, to: SIMD4<UInt64>.self)
        var e = SIMD4<Int64>(truncatingIfNeeded: (bits &>> 52) & 0x7FF) &- 1023
        var m = unsafeBitCast((bits & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000, to: SIMD4<Double>.self)
        let big = m .> 1.414_213_562_373_095_048_80
        m = m.replacing(with: m * 0.5, where: big)
        e = e.replacing(with: e &+ 1, where: big)
        let f = (m - 1) / (m + 1)
        let s = f * f
        var p = SIMD4<Double>(repeating: 1.0 / 21.0)
        p = SIMD4(repeating: 1.0 / 19.0).addingProduct(p, s)
        p = SIMD4(repeating: 1.0 / 17.0).addingProduct(p, s)
        p = SIMD4(repeating: 1.0 / 15.0).addingProduct(p, s)
        p = SIMD4(repeating: 1.0 / 13.0).addingProduct(p, s)
        p = SIMD4(repeating: 1.0 / 11.0).addingProduct(p, s)
        p = SIMD4(repeating: 1.0 / 9.0).addingProduct(p, s)
        p = SIMD4(repeating: 1.0 / 7.0).addingProduct(p, s)
        p = SIMD4(repeating: 1.0 / 5.0).addingProduct(p, s)
        p = SIMD4(repeating: 1.0 / 3.0).addingProduct(p, s)
        let twoF = 2 * f
        let logM = twoF.addingProduct(twoF * s, p)
        let de = exactDouble(e)
        return de * ln2Hi + (de * ln2Lo + logM)
    }

    // Conversions by exact bit tricks (the generic SIMD conversions are not vectorised).

    /// Double(e) per lane for |e| < 2^51: 2^52 + 2^51 + e has e in its low bits, and the
    /// subtraction is exact.
    @inline(__always)
    static func exactDouble(_ e: SIMD4<Int64>) -> SIMD4<Double> {
        let biased = SIMD4<UInt64>(truncatingIfNeeded: e &+ (1 << 51)) | 0x4330_0000_0000_0000
        return unsafeBitCast(biased, to: SIMD4<Double>.self) - 0x1.8p52
    }

    /// Double(v) per lane for v < 2^53 (exact: both halves are exact, and so is their sum).
    @inline(__always)
    static func exactDouble(_ v: SIMD4<UInt64>) -> SIMD4<Double> {
        let magic = SIMD4<UInt64>(repeating: 0x4330_0000_0000_0000)
        let hi = unsafeBitCast((v &>> 32) | magic, to: SIMD4<Double>.self) - 0x1p52
        let lo = unsafeBitCast((v & 0xFFFF_FFFF) | magic, to: SIMD4<Double>.self) - 0x1p52
        return hi * 0x1p32 + lo
    }

    /// ``sinCosTwoPi(_:)`` of four lanes in [0, 1) (uniform draws): each lane is the scalar
    /// function's result, by the same operations.
    @inline(__always)
    static func sinCosTwoPi(unitInterval u: SIMD4<Double>) -> (sin: SIMD4<Double>, cos: SIMD4<Double>) {
        // round(4u) to nearest even, exactly: adding 1.5 * 2^52 leaves no fraction bits.
        let q = (4 * u + 0x1.8p52) - 0x1.8p52  // 0...4
        let r = u - q * 0.25
        let a = r * 6.283_185_307_179_586_476_93
        let a2 = a * a
        var ps = SIMD4<Double>(repeating: -1.0 / 121_645_100_408_832_000.0)
        ps = SIMD4(repeating: 1.0 / 355_687_428_096_000.0).addingProduct(ps, a2)
        ps = SIMD4(repeating: -1.0 / 1_307_674_368_000.0).addingProduct(ps, a2)
        ps = SIMD4(repeating: 1.0 / 6_227_020_800.0).addingProduct(ps, a2)
        ps = SIMD4(repeating: -1.0 / 39_916_800.0).addingProduct(ps, a2)
        ps = SIMD4(repeating: 1.0 / 362_880.0).addingProduct(ps, a2)
        ps = SIMD4(repeating: -1.0 / 5_040.0).addingProduct(ps, a2)
        ps = SIMD4(repeating: 1.0 / 120.0).addingProduct(ps, a2)
        ps = SIMD4(repeating: -1.0 / 6.0).addingProduct(ps, a2)
        let s = a.addingProduct(a * a2, ps)
        var pc = SIMD4<Double>(repeating: 1.0 / 2_432_902_008_176_640_000.0)
        pc = SIMD4(repeating: -1.0 / 6_402_373_705_728_000.0).addingProduct(pc, a2)
        pc = SIMD4(repeating: 1.0 / 20_922_789_888_000.0).addingProduct(pc, a2)
        pc = SIMD4(repeating: -1.0 / 87_178_291_200.0).addingProduct(pc, a2)
        pc = SIMD4(repeating: 1.0 / 479_001_600.0).addingProduct(pc, a2)
        pc = SIMD4(repeating: -1.0 / 3_628_800.0).addingProduct(pc, a2)
        pc = SIMD4(repeating: 1.0 / 40_320.0).addingProduct(pc, a2)
        pc = SIMD4(repeating: -1.0 / 720.0).addingProduct(pc, a2)
        pc = SIMD4(repeating: 1.0 / 24.0).addingProduct(pc, a2)
        pc = SIMD4(repeating: -0.5).addingProduct(pc, a2)
        let c = SIMD4<Double>(repeating: 1).addingProduct(a2, pc)
        // Quadrant q mod 4 (q >= 0): 0 (s, c), 1 (c, -s), 2 (-s, -c), 3 (-c, s).
        let quadrant = unsafeBitCast(q + 0x1p52, to: SIMD4<Int64>.self) & 3  // q in the low bits
        let odd = (quadrant & 1) .== 1, negate = quadrant .>= 2
        let sine = s.replacing(with: c, where: odd), cosine = c.replacing(with: -s, where: odd)
        return (sine.replacing(with: -sine, where: negate), cosine.replacing(with: -cosine, where: negate))
    }

    /// (sin 2*pi*u, cos 2*pi*u), to within a few ULP, for any finite u (NaN for non-finite u).
    ///
    /// The argument is in turns, so the range reduction is exact: q = round(4u), r = u - q/4 in
    /// [-1/8, 1/8] (exact by Sterbenz's lemma), a = 2*pi*r in [-pi/4, pi/4] (one rounding), then
    /// Taylor polynomials of sin (to a^19) and cos (to a^20), truncation below 2^-60, and the
    /// quadrant q mod 4 selects signs and swaps. Unlike sin(2*pi*u) in libm, the relative error
    /// stays small near the zeros (u near multiples of 1/2).
    static func sinCosTwoPi(_ u: Double) -> (sin: Double, cos: Double) {
        if !u.isFinite { return (.nan, .nan) }
        if !(abs(u) < 0x1p52) { return (0, 1) }  // u is an integer: a whole number of turns
        let q = (4 * u).rounded(.toNearestOrEven)
        let r = u - q * 0.25
        let a = r * 6.283_185_307_179_586_476_93  // 2 pi
        let a2 = a * a
        var ps = -1.0 / 121_645_100_408_832_000.0  // -1/19!
        ps = (1.0 / 355_687_428_096_000.0).addingProduct(ps, a2)  // 1/17!
        ps = (-1.0 / 1_307_674_368_000.0).addingProduct(ps, a2)  // -1/15!
        ps = (1.0 / 6_227_020_800.0).addingProduct(ps, a2)  // 1/13!
        ps = (-1.0 / 39_916_800.0).addingProduct(ps, a2)  // -1/11!
        ps = (1.0 / 362_880.0).addingProduct(ps, a2)  // 1/9!
        ps = (-1.0 / 5_040.0).addingProduct(ps, a2)  // -1/7!
        ps = (1.0 / 120.0).addingProduct(ps, a2)  // 1/5!
        ps = (-1.0 / 6.0).addingProduct(ps, a2)  // -1/3!
        let s = a.addingProduct(a * a2, ps)
        var pc = 1.0 / 2_432_902_008_176_640_000.0  // 1/20!
        pc = (-1.0 / 6_402_373_705_728_000.0).addingProduct(pc, a2)  // -1/18!
        pc = (1.0 / 20_922_789_888_000.0).addingProduct(pc, a2)  // 1/16!
        pc = (-1.0 / 87_178_291_200.0).addingProduct(pc, a2)  // -1/14!
        pc = (1.0 / 479_001_600.0).addingProduct(pc, a2)  // 1/12!
        pc = (-1.0 / 3_628_800.0).addingProduct(pc, a2)  // -1/10!
        pc = (1.0 / 40_320.0).addingProduct(pc, a2)  // 1/8!
        pc = (-1.0 / 720.0).addingProduct(pc, a2)  // -1/6!
        pc = (1.0 / 24.0).addingProduct(pc, a2)  // 1/4!
        pc = (-0.5).addingProduct(pc, a2)
        let c = (1.0).addingProduct(a2, pc)
        let quadrant = Int64(q.truncatingRemainder(dividingBy: 4)) & 3  // exact; & 3 maps -1 to 3
        switch quadrant {
        case 0: return (s, c)
        case 1: return (c, -s)
        case 2: return (-s, -c)
        default: return (-c, s)
        }
    }

    /// e^x in Float, 16 lanes at a time; each lane is exactly ``exp(_:)-swift.type.method`` of it.
    ///
    /// x is clamped to [-104, 89] (e^-104 rounds to 0, e^89 overflows to inf, so no result changes);
    /// n = round(x log2 e) by the 1.5*2^23 trick, r = x - n ln2 (two FMAs, |r| <= 0.35), e^r by its
    /// Taylor polynomial to r^7 (truncation < 2^-27), scaled by 2^(n/2) * 2^(n - n/2) so that
    /// subnormal results are rounded once. NaN lanes stay NaN. Max error about 1 ULP.
    @inline(__always)
    static func exp(_ x: SIMD16<Float>) -> SIMD16<Float> {
        var xc = x.replacing(with: -104, where: x .< -104)
        xc = xc.replacing(with: 89, where: xc .> 89)
        let shifter = SIMD16<Float>(repeating: 0x1.8p23)
        let t = shifter.addingProduct(xc, SIMD16(repeating: 1.442_695_04))  // 1.5*2^23 + round(x log2 e)
        let n = t - shifter
        var r = xc.addingProduct(-n, SIMD16(repeating: 0.693_145_751_953_125))  // ln2 high bits (exact n * hi)
        r = r.addingProduct(-n, SIMD16(repeating: 1.428_606_765_330_187e-06))  // ln2 - hi
        var p = SIMD16<Float>(repeating: 1.0 / 5040.0)
        p = SIMD16(repeating: 1.0 / 720.0).addingProduct(p, r)
        p = SIMD16(repeating: 1.0 / 120.0).addingProduct(p, r)
        p = SIMD16(repeating: 1.0 / 24.0).addingProduct(p, r)
        p = SIMD16(repeating: 1.0 / 6.0).addingProduct(p, r)
        p = SIMD16(repeating: 0.5).addingProduct(p, r)
        p = SIMD16(repeating: 1).addingProduct(p, r)
        p = SIMD16(repeating: 1).addingProduct(p, r)
        // Same-size reinterpretations (SIMD vectors have no `bitPattern`).
        let ni = unsafeBitCast(t, to: SIMD16<Int32>.self) &- unsafeBitCast(shifter, to: SIMD16<Int32>.self)  // n
        let n1 = ni &>> 1, n2 = ni &- n1
        let s1 = unsafeBitCast((n1 &+ 127) &<< 23, to: SIMD16<Float>.self)  // 2^n1
        let s2 = unsafeBitCast((n2 &+ 127) &<< 23, to: SIMD16<Float>.self)  // 2^n2
        return p * s1 * s2
    }

    /// e^x in Float; the same operations as the 16-lane ``exp(_:)-swift.type.method``.
    @inline(__always)
    static func exp(_ x: Float) -> Float {
        exp(SIMD16<Float>(repeating: x))[0]
    }

    /// e^x for `count` floats in place, 16 at a time (a partial last vector is padded; lanes are
    /// independent, so the bits do not depend on the position of a value).
    @inline(__always)
    static func expInPlace(_ p: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 16 <= count {
            let v = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(p + i).storeBytes(of: exp(v), as: SIMD16<Float>.self)
            i += 16
        }
        if i < count {
            var v = SIMD16<Float>(repeating: 0)
            for j in 0..<(count - i) { v[j] = p[i + j] }
            let e = exp(v)
            for j in 0..<(count - i) { p[i + j] = e[j] }
        }
    }

    /// The natural logarithm in Float: ``log(_:)-swift.type.method`` in Double, rounded to Float
    /// (used once per sample for the loss, so Double's cost does not matter).
    @inline(__always)
    static func log(_ x: Float) -> Float { Float(log(Double(x))) }
}
