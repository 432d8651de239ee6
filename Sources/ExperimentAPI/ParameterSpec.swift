/// The declaration of one parameter of an experiment family: its name (snake_case, the same in
/// the CLI, in sweep specs and in CSV headers), its domain, its default and a line of help.
public struct ParameterSpec: Sendable {
    /// The values a parameter may take.
    public enum Domain: Sendable {
        /// Whole numbers in a closed range.
        case integer(ClosedRange<Int>)
        /// Finite reals between two bounds, each inclusive or not.
        case real(lower: Double, lowerInclusive: Bool, upper: Double, upperInclusive: Bool)
        /// One of a fixed set of words.
        case choice([String])
    }

    public let name: String
    public let domain: Domain
    public let defaultValue: ParameterValue
    public let help: String

    public init(name: String, domain: Domain, defaultValue: ParameterValue, help: String) {
        self.name = name
        self.domain = domain
        self.defaultValue = defaultValue
        self.help = help
    }

    /// What the domain allows, in words, for error messages: "an integer in 1...64",
    /// "a number in (0, 1]", "one of aligned, misaligned, random".
    public var expectation: String {
        switch domain {
        case .integer(let r):
            if r.upperBound == Int.max { return "an integer >= \(r.lowerBound)" }
            return "an integer in \(r.lowerBound)...\(r.upperBound)"
        case .real(let lo, let loIn, let hi, let hiIn):
            if hi == .infinity {
                return "a finite number \(loIn ? ">=" : ">") \(Self.format(lo))"
            }
            return "a number in \(loIn ? "[" : "(")\(Self.format(lo)), \(Self.format(hi))\(hiIn ? "]" : ")")"
        case .choice(let words):
            return "one of " + words.joined(separator: ", ")
        }
    }

    private static func format(_ x: Double) -> String {
        x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : x.description
    }

    /// Coerces a value written by a user into this parameter's kind and checks the domain.
    ///
    /// Integers are accepted for real parameters (`rare_freq: 1`); reals with an integral value
    /// are accepted for integer parameters (`width: 16.0`); NaN and infinities are never accepted.
    /// - Returns: the canonical value, or the reason it is not allowed.
    public func coerce(_ value: ParameterValue) -> Result<ParameterValue, ParameterProblem> {
        func problem() -> Result<ParameterValue, ParameterProblem> {
            .failure(ParameterProblem(parameter: name, found: value.canonicalText, expected: expectation))
        }
        switch domain {
        case .integer(let range):
            let n: Int
            switch value {
            case .integer(let v): n = v
            case .real(let v):
                guard v.isFinite, v == v.rounded(), abs(v) < 9e15 else { return problem() }
                n = Int(v)
            case .text(let s):
                guard let v = Int(s) else { return problem() }
                n = v
            }
            return range.contains(n) ? .success(.integer(n)) : problem()
        case .real(let lo, let loIn, let hi, let hiIn):
            let x: Double
            switch value {
            case .integer(let v): x = Double(v)
            case .real(let v): x = v
            case .text(let s):
                guard let v = Double(s) else { return problem() }
                x = v
            }
            guard x.isFinite else { return problem() }
            let aboveLower = loIn ? x >= lo : x > lo
            let belowUpper = hiIn ? x <= hi : x < hi
            return aboveLower && belowUpper ? .success(.real(x == 0 ? 0 : x)) : problem()
        case .choice(let words):
            guard case .text(let s) = value, words.contains(s) else { return problem() }
            return .success(.text(s))
        }
    }

    /// Parses a command-line word into this parameter's kind (then checks the domain).
    public func parse(_ word: String) -> Result<ParameterValue, ParameterProblem> {
        switch domain {
        case .integer:
            if let n = Int(word) { return coerce(.integer(n)) }
            if let x = Double(word) { return coerce(.real(x)) }
        case .real:
            if let x = Double(word) { return coerce(.real(x)) }
        case .choice:
            return coerce(.text(word))
        }
        return .failure(ParameterProblem(parameter: name, found: word, expected: expectation))
    }
}

/// A value that a parameter does not allow, or a combination of values that does not make sense.
public struct ParameterProblem: Error, Sendable, Hashable, CustomStringConvertible {
    /// The parameter (or, for a combination, the first parameter) at fault.
    public let parameter: String
    /// What was found, as text.
    public let found: String
    /// What was expected, in words.
    public let expected: String

    public init(parameter: String, found: String, expected: String) {
        self.parameter = parameter
        self.found = found
        self.expected = expected
    }

    public var description: String { "\(parameter): found \(found), expected \(expected)" }
}
