import Foundation

/// A per-task time limit.
public enum TimeLimit: Sendable, Hashable, CustomStringConvertible {
    /// 20 times the family's cost estimate for the task, and at least 10 minutes: generous for a
    /// slow host, short enough that a hung task does not hold its slot overnight.
    case automatic
    /// The same limit for every task.
    case seconds(Double)
    /// No limit.
    case none

    public static func automaticSeconds(estimate: Double) -> Double { max(600, 20 * estimate) }

    /// Parses `auto`, `none` (or `off`, `0`), or a duration: `90`, `90s`, `15m`, `2h`.
    public init?(parsing text: String) {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        switch t {
        case "auto", "automatic": self = .automatic
        case "none", "off", "0": self = .none
        default:
            var number = Substring(t)
            var unit = 1.0
            if let last = t.last, "smh".contains(last) {
                number = t.dropLast()
                unit = last == "s" ? 1 : last == "m" ? 60 : 3600
            }
            guard let v = Double(number), v.isFinite, v > 0 else { return nil }
            self = .seconds(v * unit)
        }
    }

    public var description: String {
        switch self {
        case .automatic: return "auto"
        case .none: return "none"
        case .seconds(let s): return "\(s)s"
        }
    }
}
