/// Scalar functions whose results are the same bits on every host, shared by the training core
/// (random draws, losses) and the sweep model (sampled points, whose values are part of task
/// ids).
///
/// Why not libm: a task's result, and a sampled task's id, must be a pure function of its inputs
/// on any host. glibc picks CPU-specific variants of `log` and `exp` when it is loaded (ifunc:
/// FMA vs SSE2 paths, rounded differently) and changes them between versions. Everything here uses
/// only exactly specified IEEE-754 operations (+, -, *, /, `addingProduct` = a fused multiply-add
/// rounded once), integer bit manipulation and comparisons, in an order fixed by the source; the
/// compiler does not reassociate floating-point arithmetic, so any `-target-cpu` gives the same
/// bits. `@inlinable`, so that hot loops of other modules inline them.
public enum BitStableMath {
    // ln 2 split so that n * ln2Hi is exact for |n| < 2^11 (fdlibm's constants).
    @usableFromInline static let ln2Hi: Double = 6.931_471_803_691_238_164_90e-01  // 0x3FE62E42FEE00000
    @usableFromInline static let ln2Lo: Double = 1.908_214_929_270_587_700_02e-10  // 0x3DEA39EF35793C76

    /// The natural logarithm, to within a few ULP.
    ///
    /// x = 2^e * m with m in [sqrt(1/2), sqrt(2)); log m = 2 atanh(f), f = (m - 1)/(m + 1),
    /// |f| <= 0.1716, by its Taylor series to f^21 (truncation below 2^-60 relative);
    /// log x = e ln2Hi + (e ln2Lo + log m). Special values: log 0 = -inf, log x<0 = NaN,
    /// log inf = inf, log NaN = NaN; subnormal inputs are handled.
    @inlinable
    public static func log(_ x: Double) -> Double {
        if !(x > 0) { return x == 0 ? -.infinity : .nan }
        if x == .infinity { return x }
        var y = x
        var e = 0
        if y < Double.leastNormalMagnitude {
            y *= 0x1p54  // exact
            e = -54
        }
        let bits = y.bitPattern
        e += Int((bits >> 52) & 0x7FF) - 1023
        var m = Double(bitPattern: (bits & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000)  // [1, 2)
        if m > 1.414_213_562_373_095_048_80 {
            m *= 0.5  // exact
            e += 1
        }
        let f = (m - 1) / (m + 1)  // m - 1 is exact (Sterbenz)
        let s = f * f
        // p(s) = 1/3 + s/5 + s^2/7 + ... + s^9/21, Horner with FMAs.
        var p = 1.0 / 21.0
        p = (1.0 / 19.0).addingProduct(p, s)
        p = (1.0 / 17.0).addingProduct(p, s)
        p = (1.0 / 15.0).addingProduct(p, s)
        p = (1.0 / 13.0).addingProduct(p, s)
        p = (1.0 / 11.0).addingProduct(p, s)
        p = (1.0 / 9.0).addingProduct(p, s)
        p = (1.0 / 7.0).addingProduct(p, s)
        p = (1.0 / 5.0).addingProduct(p, s)
        p = (1.0 / 3.0).addingProduct(p, s)
        let twoF = 2 * f  // exact
        let logM = twoF.addingProduct(twoF * s, p)
        let de = Double(e)
        return de * ln2Hi + (de * ln2Lo + logM)
    }

    /// e^x, to within a few ULP: n = round(x / ln 2), r = x - n ln 2 (|r| <= 0.35, two steps),
    /// e^r by its Taylor polynomial to r^13 (truncation below 2^-57), times 2^n (rounded once if
    /// subnormal). exp NaN = NaN; overflow gives inf, underflow 0.
    @inlinable
    public static func exp(_ x: Double) -> Double {
        if x.isNaN { return x }
        if x > 709.8 { return .infinity }
        if x < -745.2 { return 0 }
        let n = (x * 1.442_695_040_888_963_407_36).rounded(.toNearestOrEven)
        let r = (x - n * ln2Hi) - n * ln2Lo
        var p = 1.0 / 6_227_020_800.0  // 1/13!
        var factorial = 6_227_020_800.0
        for k in stride(from: 12.0, through: 1.0, by: -1.0) {
            factorial /= k + 1  // exact: k! as a Double
            p = (1.0 / factorial).addingProduct(p, r)
        }
        p = 1.0.addingProduct(p, r)
        let e = Int(n)
        if e >= -1022 { return Double(sign: .plus, exponent: e, significand: p) }
        // Subnormal: scale in two steps so that only the last one rounds.
        return Double(sign: .plus, exponent: e + 60, significand: p) * 0x1p-60
    }

    /// SplitMix64's finaliser (Steele, Lea and Flood, 2014): a bijective 64-bit mix, the hash of
    /// every counter-based random stream in grainsweep (training data, sampled points).
    @inlinable @inline(__always)
    public static func splitMix(_ z0: UInt64) -> UInt64 {
        var z = z0
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
