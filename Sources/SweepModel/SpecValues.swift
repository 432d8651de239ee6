import ExperimentAPI
import Foundation
import Yams

/// A position in the spec file (1-based), or 0:0 when there is none (an unreadable file).
struct Spot: Sendable, Hashable {
    let line: Int
    let column: Int

    static let start = Spot(line: 1, column: 1)

    init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    init(_ node: Node) {
        let mark = node.mark
        self.init(line: mark?.line ?? 1, column: mark?.column ?? 1)
    }
}

/// What a scalar node holds, before any parameter's domain is applied.
enum ScalarReading {
    case value(ParameterValue)
    /// `~`, `null` or nothing.
    case null
    /// NaN or an infinity, in any spelling (`.nan`, `.inf`, `-inf`, `nan`...).
    case nonFinite
}

extension Node {
    /// Reads a scalar: quoted scalars are text; plain ones are integers (`1_000` allowed), finite
    /// reals (`1e-5`, `.5`), or else text. Non-scalars are nil.
    var scalarReading: ScalarReading? {
        guard case .scalar(let scalar) = self else { return nil }
        let text = scalar.string
        switch scalar.style {
        case .singleQuoted, .doubleQuoted, .literal, .folded:
            return .value(.text(text))
        default:
            break
        }
        if ["", "~", "null", "Null", "NULL"].contains(text) { return .null }
        let digits = text.utf8.contains(UInt8(ascii: "_")) && text.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || $0 == 95 || $0 == 43 || $0 == 45 }
            ? text.replacingOccurrences(of: "_", with: "") : text
        if let n = Int(digits) { return .value(.integer(n)) }
        let lowered = text.lowercased()
        let yamlNonFinite = [".inf", "+.inf", "-.inf", ".nan"]
        if yamlNonFinite.contains(lowered) { return .nonFinite }
        if let x = Double(digits) {
            return x.isFinite ? .value(.real(x)) : .nonFinite
        }
        return .value(.text(text))
    }

    /// How a node reads in an error message: the scalar as written, or its shape.
    var foundText: String {
        switch self {
        case .scalar(let scalar):
            if scalar.string.isEmpty { return "nothing" }
            switch scalar.style {
            case .singleQuoted, .doubleQuoted: return "\"\(scalar.string)\" (quoted text)"
            default: return scalar.string
            }
        case .mapping(let mapping):
            let keys = mapping.keys.compactMap(\.string)
            return mapping.isEmpty ? "an empty mapping" : "a mapping {\(keys.joined(separator: ", "))}"
        default:
            // Yams 6 adds alias nodes.
            guard case .sequence(let sequence) = self else { return "a node" }
            return sequence.isEmpty ? "an empty list" : "a list of \(sequence.count) items"
        }
    }
}

/// Rounds to 12 significant decimal digits, so that generated range values equal the decimals a
/// person would type (`{linspace: [0.1, 1], num: 10}` gives 0.3, not 0.30000000000000004) and do
/// not depend on the last bit of `pow` in one libm or another.
func roundedToTwelveDigits(_ x: Double) -> Double {
    guard x.isFinite, x != 0 else { return x }
    return Double(String(format: "%.12g", x)) ?? x
}

/// The values of a range, given its parsed form.
enum RangeSpec {
    case linear(from: Double, to: Double, count: Int)
    case log10(from: Double, to: Double, count: Int)
    case log2(from: Double, to: Double, count: Int)
    case stepped(from: Int, to: Int, step: Int)

    var count: Int {
        switch self {
        case .linear(_, _, let n), .log10(_, _, let n), .log2(_, _, let n): return n
        case .stepped(let a, let b, let s): return (b - a) / s + 1
        }
    }

    /// The values, in order; reals for spaced ranges, integers for stepped ones.
    var values: [ParameterValue] {
        func spaced(_ a: Double, _ b: Double, _ n: Int, _ i: Int) -> Double {
            if i == 0 { return a }
            if i == n - 1 { return b }
            return a + (b - a) * Double(i) / Double(n - 1)
        }
        switch self {
        case .linear(let a, let b, let n):
            return (0..<n).map { .real(roundedToTwelveDigits(spaced(a, b, n, $0))) }
        case .log10(let a, let b, let n):
            return (0..<n).map { .real(roundedToTwelveDigits(Foundation.pow(10, spaced(a, b, n, $0)))) }
        case .log2(let a, let b, let n):
            return (0..<n).map { .real(roundedToTwelveDigits(Foundation.pow(2, spaced(a, b, n, $0)))) }
        case .stepped(let a, _, let s):
            return (0..<count).map { .integer(a + $0 * s) }
        }
    }
}

/// RFC 4180 quoting for one CSV field: quoted when it holds a comma, a quote, CR or LF (and then
/// quotes are doubled), or when it starts or ends with a space; otherwise as is.
public func csvField(_ text: String) -> String {
    let needsQuotes = text.utf8.contains { $0 == 44 || $0 == 34 || $0 == 10 || $0 == 13 }
        || text.first == " " || text.last == " "
    guard needsQuotes else { return text }
    return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}
