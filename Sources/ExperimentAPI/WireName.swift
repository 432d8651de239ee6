/// The rule for every name the wire carries (experiment, parameter, metric, phase): snake_case
/// ASCII `[a-z][a-z0-9_]*`, 1 to 64 bytes. Kept beside the parameters and metrics that bear the
/// names, so that the codec and the sweep model (names a `command` spec declares) check one rule.
public enum WireName {
    /// The longest name, in bytes.
    public static let maximumBytes = 64

    /// Whether `bytes` (UTF-8) is a valid name.
    @inlinable @inline(__always)
    public static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count <= maximumBytes, let first = bytes.first, first >= 0x61, first <= 0x7A else { return false }
        for c in bytes where !((c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x5F) {
            return false
        }
        return true
    }

    /// Whether `name` is a valid name.
    public static func isValid(_ name: String) -> Bool {
        var copy = name
        return copy.withUTF8 { isValid(UnsafeRawBufferPointer($0)) }
    }
}
