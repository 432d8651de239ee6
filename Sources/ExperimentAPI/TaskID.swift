/// The identity of a task: a 128-bit hash of its experiment name and fully resolved parameters
/// (seed included), in a canonical encoding, so that the same task has the same id in every
/// sweep, on every host and in every version that keeps the encoding.
///
/// The hash is the first 16 bytes of SHA-256 (``SHA256``) over the UTF-8 bytes of
/// ``canonicalEncoding(experiment:parameters:)``: `high` is bytes 0..<8 and `low` bytes 8..<16,
/// each big-endian, so ``description`` is the first 32 hex digits of `sha256sum` of that text.
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

    /// The id of the task of `experiment` with these fully resolved parameters.
    /// - Complexity: O(n) in the length of the canonical encoding; one SHA-256.
    public static func of(experiment: String, parameters: ParameterSet) -> TaskID {
        of(canonicalEncoding: canonicalEncoding(experiment: experiment, parameters: parameters))
    }

    /// The id whose canonical encoding is `bytes` (for callers that assemble the encoding
    /// themselves, faster; they must produce exactly ``canonicalEncoding(experiment:parameters:)``).
    public static func of(canonicalEncoding bytes: UnsafeRawBufferPointer) -> TaskID {
        let digest = SHA256.hash(bytes)
        return TaskID(high: digest.word0, low: digest.word1)
    }

    /// The id whose canonical encoding is `bytes`, reusing the hashing of the previous encoding
    /// passed with the same cache (see ``SHA256/hash(_:cache:)``).
    package static func of(canonicalEncoding bytes: UnsafeRawBufferPointer, cache: inout SHA256.PrefixCache) -> TaskID {
        let digest = SHA256.hash(bytes, cache: &cache)
        return TaskID(high: digest.word0, low: digest.word1)
    }

    /// The id whose canonical encoding is `text`.
    public static func of(canonicalEncoding text: String) -> TaskID {
        let digest = SHA256.hash(text)
        return TaskID(high: digest.word0, low: digest.word1)
    }
}
