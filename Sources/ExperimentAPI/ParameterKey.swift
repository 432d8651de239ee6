/// A Swift type a parameter's value can be read as: `Int`, `Double`, `String`, or an enum of
/// words (``ChoiceParameter``).
public protocol ParameterKind: Sendable {
    /// The value as this type, or nil when it is of another kind.
    init?(parameterValue: ParameterValue)
}

extension Int: ParameterKind {
    public init?(parameterValue: ParameterValue) {
        switch parameterValue {
        case .integer(let v): self = v
        case .real(let v) where v == v.rounded() && abs(v) < 9e15: self = Int(v)
        default: return nil
        }
    }
}

extension Double: ParameterKind {
    public init?(parameterValue: ParameterValue) {
        guard let v = parameterValue.numericValue else { return nil }
        self = v
    }
}

extension String: ParameterKind {
    public init?(parameterValue: ParameterValue) {
        guard case .text(let v) = parameterValue else { return nil }
        self = v
    }
}

/// An enum whose raw values are the words of a choice parameter; a key of it declares
/// `.choice(allCases.map(\.rawValue))` and reads the case.
public protocol ChoiceParameter: ParameterKind, RawRepresentable<String>, CaseIterable {}

extension ChoiceParameter {
    public init?(parameterValue: ParameterValue) {
        guard case .text(let v) = parameterValue, let c = Self(rawValue: v) else { return nil }
        self = c
    }
}

/// A parameter declared once, with its type: the spec (name, domain, default, help) that specs,
/// the CLI and CSV see, and the Swift type a family reads it as, so that a family never types a
/// parameter's name twice (`parameters[Keys.dim]` instead of `parameters.integer("dim")`).
public struct ParameterKey<Value: ParameterKind>: Sendable {
    public let spec: ParameterSpec
    public var name: String { spec.name }

    private init(spec: ParameterSpec) { self.spec = spec }
}

extension ParameterKey where Value == Int {
    /// An integer parameter in `range`.
    public init(_ name: String, _ range: ClosedRange<Int>, default value: Int, help: String) {
        precondition(range.contains(value), "default of \(name) outside its domain")
        self.init(spec: ParameterSpec(name: name, domain: .integer(range), defaultValue: .integer(value), help: help))
    }
}

extension ParameterKey where Value == Int {
    /// The replicate seed every family takes (``ParameterSpec/seed``).
    public static var seed: ParameterKey<Int> { ParameterKey(spec: .seed) }
}

extension ParameterKey where Value == Double {
    /// A real parameter between `lower` and `upper` (each inclusive or not; `upper` may be infinity).
    public init(_ name: String, lower: Double, lowerInclusive: Bool = true, upper: Double = .infinity, upperInclusive: Bool = false,
                default value: Double, help: String) {
        self.init(spec: ParameterSpec(
            name: name, domain: .real(lower: lower, lowerInclusive: lowerInclusive, upper: upper, upperInclusive: upperInclusive),
            defaultValue: .real(value), help: help))
        precondition((try? spec.coerce(.real(value)).get()) != nil, "default of \(name) outside its domain")
    }
}

extension ParameterKey where Value: ChoiceParameter {
    /// A choice among the cases of `Value`, their raw values in declaration order.
    public init(_ name: String, default value: Value, help: String) {
        self.init(spec: ParameterSpec(
            name: name, domain: .choice(Value.allCases.map(\.rawValue)), defaultValue: .text(value.rawValue), help: help))
    }
}

extension ParameterSet {
    /// The value of `key`; traps if absent or of another kind (a resolved set has every
    /// parameter of its family, each coerced into its domain).
    public subscript<Value>(_ key: ParameterKey<Value>) -> Value {
        guard let raw = values[key.name], let v = Value(parameterValue: raw) else {
            preconditionFailure("parameter \(key.name) is not resolved as \(Value.self)")
        }
        return v
    }
}
