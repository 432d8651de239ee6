/// The fully resolved parameters of one task: every parameter of its family, defaults filled in,
/// each value coerced into its domain. Includes `seed`.
///
/// Iteration order is by name, so two sets with the same contents encode identically.
public struct ParameterSet: Sendable, Hashable {
    public private(set) var values: [String: ParameterValue]

    public init(_ values: [String: ParameterValue] = [:]) { self.values = values }

    public subscript(name: String) -> ParameterValue? {
        get { values[name] }
        set { values[name] = newValue }
    }

    /// Names in sorted order.
    public var sortedNames: [String] { values.keys.sorted() }

    /// The value of an integer parameter; traps if absent or of another kind (a resolved set has it).
    public func integer(_ name: String) -> Int {
        switch values[name] {
        case .integer(let v)?: return v
        case .real(let v)?: return Int(v)
        default: preconditionFailure("parameter \(name) is not a resolved integer")
        }
    }

    /// The value of a real parameter; traps if absent or not numeric.
    public func real(_ name: String) -> Double {
        guard let v = values[name]?.numericValue else { preconditionFailure("parameter \(name) is not a resolved number") }
        return v
    }

    /// The value of a choice parameter; traps if absent or not text.
    public func text(_ name: String) -> String {
        guard case .text(let v)? = values[name] else { preconditionFailure("parameter \(name) is not resolved text") }
        return v
    }
}
