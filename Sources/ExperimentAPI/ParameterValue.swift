/// One value of a task parameter, as it appears in a sweep spec, on the wire and in CSV.
///
/// Values are typed so that `1`, `1.0` and `"1"` cannot silently mean different tasks: a
/// ``ParameterSpec`` coerces what a user wrote into the one kind its domain allows before a
/// task is formed, and ``canonicalText`` is the single text form used for identity and output.
public enum ParameterValue: Sendable, Hashable {
    case integer(Int)
    case real(Double)
    case text(String)

    /// The one text form of this value: decimal integers, shortest round-trip reals
    /// (Swift's `description`, so `0.1`, `1.0`, `1e-05`), text as is.
    public var canonicalText: String {
        switch self {
        case .integer(let v): return String(v)
        case .real(let v): return v == 0 ? "0.0" : v.description  // fold -0.0 into 0.0
        case .text(let v): return v
        }
    }

    /// The value as a Double when it is numeric.
    public var numericValue: Double? {
        switch self {
        case .integer(let v): return Double(v)
        case .real(let v): return v
        case .text: return nil
        }
    }
}

extension ParameterValue: CustomStringConvertible {
    public var description: String { canonicalText }
}
