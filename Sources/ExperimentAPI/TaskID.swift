/// The identity of a task: a 128-bit hash of its experiment name and fully resolved parameters
/// (seed included), in a canonical encoding, so that the same task has the same id in every
/// sweep, on every host and in every version that keeps the encoding.
///
/// STUB: the sweep-model work replaces the body of `of(experiment:parameters:)` with SHA-256 over
/// the canonical encoding documented there.
public struct TaskID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let high: UInt64
    public let low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Parses 32 lowercase or uppercase hex digits.
    public init?(hex: String) {
        let utf8 = Array(hex.utf8)
        guard utf8.count == 32, let h = UInt64(String(decoding: utf8[0..<16], as: UTF8.self), radix: 16),
              let l = UInt64(String(decoding: utf8[16..<32], as: UTF8.self), radix: 16) else { return nil }
        self.init(high: h, low: l)
    }

    /// 32 lowercase hex digits.
    public var description: String {
        func hex16(_ x: UInt64) -> String {
            let s = String(x, radix: 16)
            return String(repeating: "0", count: 16 - s.count) + s
        }
        return hex16(high) + hex16(low)
    }

    public static func < (a: TaskID, b: TaskID) -> Bool { (a.high, a.low) < (b.high, b.low) }

    /// The canonical text that identity hashes: `experiment\n` then `name=value\n` for each
    /// parameter in sorted name order, values in ``ParameterValue/canonicalText``.
    public static func canonicalEncoding(experiment: String, parameters: ParameterSet) -> String {
        var s = experiment + "\n"
        for name in parameters.sortedNames {
            s += name + "=" + parameters[name]!.canonicalText + "\n"
        }
        return s
    }

    public static func of(experiment: String, parameters: ParameterSet) -> TaskID {
        // STUB (FNV-1a, two lanes) until SHA-256 lands.
        var a: UInt64 = 0xcbf2_9ce4_8422_2325, b: UInt64 = 0x8422_2325_cbf2_9ce4
        for byte in canonicalEncoding(experiment: experiment, parameters: parameters).utf8 {
            a = (a ^ UInt64(byte)) &* 0x100_0000_01b3
            b = (b ^ UInt64(byte)) &* 0x100_0000_01b3 &+ 7
        }
        return TaskID(high: a, low: b)
    }
}
