import ExperimentAPI
import Yams

extension SpecReader {
    static let sampleKeys = ["n", "method", "seed", "space"]
    static let distributionKeys = ["uniform", "loguniform", "int"]
    static let distributionForms = "{uniform: [lo, hi]}, {loguniform: [lo, hi]}, {int: [lo, hi]} or a list of values"

    /// The `sample` section, read: its dimension (n rows, repeats not merged yet) and its description.
    struct SampleDraft {
        var dimension: DraftDimension
        let sample: SweepSample
    }

    /// Reads `sample: {n, method, seed, space}` and draws its points.
    ///
    /// Every parameter of the space is checked by `claim` (the check base, axes and zip use: a
    /// known parameter, not `seed`, not set anywhere else), and its distribution against the
    /// parameter's domain: both ends of a range must be values of the parameter, so every value
    /// drawn is one. Reports every problem; returns nil when there is no sample or when its points
    /// cannot be drawn.
    /// - Parameter claim: checks a parameter name used as a key and records where it is set; nil
    ///   when refused (already reported).
    func readSample(_ node: Node?, claim: (String, Node, String) -> ParameterSpec?) -> SampleDraft? {
        guard let node, !isNull(node) else { return nil }
        guard case .mapping = node else {
            fail(.wrongType, node, "sample", expected: "a mapping {n, method, seed, space}",
                 hint: "e.g. sample: {n: 100, method: sobol, seed: 0, space: {rate: {uniform: [0.1, 1]}}}")
            return nil
        }
        var byKey: [String: Node] = [:]
        for (key, keyNode, value) in entries(node, "sample") {
            guard Self.sampleKeys.contains(key) else {
                fail(.unknownKey, keyNode, "sample." + key, found: key, expected: "a key of sample (n, method, seed, space)",
                     hint: suggestion(for: key, among: Self.sampleKeys))
                continue
            }
            byKey[key] = value
        }

        // n
        var count: Int?
        let countExpectation = "a number of points in 1...\(formatCount(limits.maximumTasks))"
        if let n = byKey["n"] {
            if let v = readInteger(n, "sample.n", expected: countExpectation) {
                if v >= 1, v <= limits.maximumTasks {
                    count = v
                } else {
                    fail(v < 1 ? .outOfDomain : .gridSize, n, "sample.n", expected: countExpectation,
                         hint: v < 1 ? nil : "the grid may hold at most \(formatCount(limits.maximumTasks)) tasks (plan --max-tasks)")
                }
            }
        } else {
            fail(.missing, at: Spot(node), "sample.n", found: "no n", expected: "the number of points to draw", hint: "add n: 100")
        }

        // method (default random)
        var method: SweepSample.Method? = .random
        if let m = byKey["method"] {
            let names = SweepSample.Method.allCases.map(\.rawValue)
            if case .scalar(let s) = m, let known = SweepSample.Method(rawValue: s.string) {
                method = known
            } else {
                method = nil
                let hint = m.string.flatMap { closestName(to: $0, among: names) }.map { "did you mean '\($0)'?" }
                fail(.unknownKey, m, "sample.method", expected: "a sampling method: " + names.joined(separator: ", "), hint: hint)
            }
        }

        // seed (default 0)
        var seed: Int? = 0
        if let s = byKey["seed"] {
            let expected = "an integer >= 0 (which points are drawn; the tasks' replicates are set by seeds)"
            seed = readInteger(s, "sample.seed", expected: expected)
            if let v = seed, v < 0 {
                fail(.outOfDomain, s, "sample.seed", expected: expected)
                seed = nil
            }
        }

        // space
        var space: [(name: String, distribution: SweepSample.Distribution, spec: ParameterSpec, spot: Spot)] = []
        var spaceRead = true
        if let spaceNode = byKey["space"] {
            let fields = entries(spaceNode, "sample.space")
            if case .mapping = spaceNode, !fields.isEmpty {
                for (key, keyNode, value) in fields {
                    let path = "sample.space." + key
                    // A refused name is reported and dropped, as a misspelled axis is.
                    guard let spec = claim(key, keyNode, path) else { continue }
                    if let distribution = readDistribution(value, spec, path) {
                        space.append((key, distribution, spec, Spot(keyNode)))
                    } else {
                        spaceRead = false
                    }
                }
            } else {
                fail(.wrongType, spaceNode, "sample.space", expected: "a mapping of parameter: distribution, where a distribution is " + Self.distributionForms)
                spaceRead = false
            }
        } else {
            fail(.missing, at: Spot(node), "sample.space", found: "no space", expected: "the parameters to sample and their distributions",
                 hint: "add space: {name: {uniform: [lo, hi]}, ...}")
            spaceRead = false
        }
        if method == .sobol, space.count > SobolSequence.maximumDimensions, let spaceNode = byKey["space"] {
            fail(.wrongType, spaceNode, "sample.space", found: "\(space.count) parameters",
                 expected: "at most \(SobolSequence.maximumDimensions) parameters for sobol", hint: "use method: random")
            spaceRead = false
        }
        guard spaceRead, let count, let method, let seed, !space.isEmpty else { return nil }

        // Draw; every value is coerced as an axis value is (the ranges were checked against the
        // domains, so this only makes the kinds canonical: 1 and 1.0 are one value).
        let drawn = SweepSample.draw(method: method, seed: seed, count: count, space: space.map(\.distribution))
        var rows: [[ParameterValue]] = []
        rows.reserveCapacity(count)
        for (i, point) in drawn.enumerated() {
            var row: [ParameterValue] = []
            row.reserveCapacity(space.count)
            for (c, value) in point.enumerated() {
                guard let v = coerce(value, space[c].spec, at: space[c].spot, "sample[\(i)]", found: "\(space[c].name)=\(value)") else {
                    return nil
                }
                row.append(v)
            }
            rows.append(row)
        }
        var dimension = DraftDimension(label: "sample", names: space.map(\.name))
        dimension.rows = rows
        dimension.sampled = (spots: space.map(\.spot), points: Array(0..<count))
        let sample = SweepSample(
            method: method, count: count, seed: seed, space: space.map { ($0.name, $0.distribution) }, points: [])
        return SampleDraft(dimension: dimension, sample: sample)
    }

    /// Reads one parameter's distribution: a list of values, or `{uniform|loguniform|int: [lo, hi]}`.
    func readDistribution(_ node: Node, _ spec: ParameterSpec, _ path: String) -> SweepSample.Distribution? {
        switch node {
        case .sequence(let items):
            if items.isEmpty {
                fail(.wrongType, node, path, expected: "at least one value", hint: "a list draws one of its values")
                return nil
            }
            var values: [ParameterValue] = []
            var firstAt: [ParameterValue: Int] = [:]
            var ok = true
            for (i, item) in items.enumerated() {
                guard let v = readParameterValue(item, spec, "\(path)[\(i)]") else {
                    ok = false
                    continue
                }
                if let first = firstAt[v.value] {
                    fail(.conflict, item, "\(path)[\(i)]", found: "\(v.value.canonicalText) again", expected: "each value once",
                         hint: "it repeats \(path)[\(first)]; a repeated value would be drawn twice as often")
                    ok = false
                    continue
                }
                firstAt[v.value] = i
                values.append(v.value)
            }
            return ok ? .choice(values) : nil
        case .mapping:
            let fields = entries(node, path)
            guard fields.count == 1, let (kind, keyNode, bounds) = fields.first else {
                fail(.badRange, node, path, expected: "exactly one of " + Self.distributionForms)
                return nil
            }
            let kindPath = path + "." + kind
            guard Self.distributionKeys.contains(kind) else {
                let hint = Self.rangeKeys.contains(kind)
                    ? "ranges of values are written under axes; a sample draws from uniform, loguniform or int"
                    : suggestion(for: kind, among: Self.distributionKeys)
                fail(.unknownKey, keyNode, kindPath, found: kind, expected: "a distribution (uniform, loguniform, int)", hint: hint)
                return nil
            }
            // The distribution must suit the parameter's kind.
            switch (kind, spec.domain) {
            case ("int", .integer), ("uniform", .real), ("loguniform", .real):
                break
            case (_, .choice):
                fail(.wrongType, keyNode, kindPath, found: "\(kind) for \(spec.name) (\(spec.expectation))",
                     expected: "a list of the values to draw from", hint: "write \(spec.name): [\(Self.choiceWords(spec).joined(separator: ", "))]")
                return nil
            case ("int", _):
                fail(.wrongType, keyNode, kindPath, found: "int for \(spec.name) (\(spec.expectation))",
                     expected: "uniform or loguniform for a real parameter")
                return nil
            default:
                fail(.wrongType, keyNode, kindPath, found: "\(kind) for \(spec.name) (\(spec.expectation))",
                     expected: "int or a list of values for an integer parameter", hint: "write \(spec.name): {int: [lo, hi]}")
                return nil
            }
            guard case .sequence(let ends) = bounds, ends.count == 2 else {
                fail(.badRange, bounds, kindPath, expected: "a list of two values [lo, hi]")
                return nil
            }
            let lo = readParameterValue(ends[0], spec, kindPath + "[0]")
            let hi = readParameterValue(ends[1], spec, kindPath + "[1]")
            guard let lo, let hi else { return nil }
            switch (lo.value, hi.value) {
            case (.integer(let a), .integer(let b)):
                guard a < b else { return badEnds(bounds, kindPath, spec, lo.value, hi.value) }
                return .integer(lower: a, upper: b)
            case (.real(let a), .real(let b)):
                guard a < b else { return badEnds(bounds, kindPath, spec, lo.value, hi.value) }
                if kind == "loguniform" {
                    guard a > 0 else {
                        fail(.outOfDomain, ends[0], kindPath + "[0]", expected: "a lower end > 0 (the logarithm of 0 or less is undefined)",
                             hint: "use uniform to include 0")
                        return nil
                    }
                    return .logUniform(lower: a, upper: b)
                }
                return .uniform(lower: a, upper: b)
            default:  // unreachable: both ends were coerced into the parameter's kind
                fail(.wrongType, bounds, kindPath, expected: "two values of \(spec.name)")
                return nil
            }
        default:
            let written = node.scalarReading.flatMap { if case .value(let v) = $0 { v.canonicalText } else { nil } }
            fail(.wrongType, node, path, expected: "a distribution: " + Self.distributionForms,
                 hint: written.map { "to fix \(spec.name) at \($0), move it to base" })
            return nil
        }
    }

    private func badEnds(_ node: Node, _ path: String, _ spec: ParameterSpec, _ lo: ParameterValue, _ hi: ParameterValue) -> SweepSample.Distribution? {
        fail(.badRange, node, path, found: "[\(lo.canonicalText), \(hi.canonicalText)]", expected: "a lower end below the upper end",
             hint: lo == hi ? "to fix \(spec.name) at \(lo.canonicalText), move it to base" : "swap the ends")
        return nil
    }

    private static func choiceWords(_ spec: ParameterSpec) -> [String] {
        if case .choice(let words) = spec.domain { return words }
        return []
    }
}
