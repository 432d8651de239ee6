import ExperimentAPI
import Foundation
import Yams

/// Loads sweep specs (`sweeps/NAME.yaml`) into validated ``SweepPlan``s.
///
/// Every problem of a file is reported at once, each with its line, column and field path; see
/// sweeps/README.md for the format.
public enum SweepLoader {
    /// The top-level keys of a spec.
    public static let topLevelKeys = [
        "name", "description", "experiment", "base", "axes", "zip", "sample", "exclude", "seeds", "time_limit",
        "command", "parameters", "metrics",
    ]

    /// Makes the family of a spec with `experiment: command` from the definition it writes
    /// (given by the caller, so that the sweep model does not depend on how programs are run).
    public typealias CommandFamilyMaker = ExperimentAPI.CommandFamilyMaker

    /// Reads and validates the spec at `path`.
    /// - Parameters:
    ///   - families: the families a spec may name under `experiment`, by name.
    ///   - defaultExperiment: the family of a spec that names none (the catalog's first).
    ///   - limits: guard rails (grid size).
    ///   - commandFamily: makes the family of an `experiment: command` spec (nil: such specs
    ///     are refused).
    /// - Throws: every problem found, located in the file.
    public static func load(
        path: String, families: [String: any ExperimentFamily], defaultExperiment: String = "hierarchy",
        limits: SweepLimits = .init(), commandFamily: CommandFamilyMaker? = nil
    ) throws(SpecErrors) -> SweepPlan {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw SpecErrors([SpecError(
                code: .unreadable, file: path, line: 0, column: 0, path: "(file)",
                found: unreadableReason(path), expected: "a readable UTF-8 YAML file, such as sweeps/quickstart.yaml")])
        }
        return try load(text: text, path: path, families: families, defaultExperiment: defaultExperiment, limits: limits,
                        commandFamily: commandFamily)
    }

    /// Validates a spec given as text; `path` is used in messages and kept as ``SweepPlan/specPath``.
    public static func load(
        text: String, path: String, families: [String: any ExperimentFamily], defaultExperiment: String = "hierarchy",
        limits: SweepLimits = .init(), commandFamily: CommandFamilyMaker? = nil
    ) throws(SpecErrors) -> SweepPlan {
        let reader = SpecReader(file: path, text: text, families: families, defaultExperiment: defaultExperiment, limits: limits)
        reader.makeCommandFamily = commandFamily
        if let plan = reader.read(), reader.errors.isEmpty { return plan }
        // File order; errors found after expansion (cross-checks) keep their order after ties.
        let sorted = reader.errors.enumerated().sorted {
            ($0.element.line, $0.element.column, $0.offset) < ($1.element.line, $1.element.column, $1.offset)
        }.map(\.element)
        throw SpecErrors(sorted)
    }
}

/// Why `path` cannot be read, in words (Foundation's error says "NSCocoaErrorDomain error 256").
func unreadableReason(_ path: String) -> String {
    var status = stat()
    guard stat(path, &status) == 0 else {
        let error = errno
        return error == ENOENT ? "no such file" : "a file that cannot be opened (\(String(cString: strerror(error))))"
    }
    if status.st_mode & S_IFMT == S_IFDIR { return "a directory" }
    if access(path, R_OK) != 0 { return "a file this user may not read (permissions)" }
    return "a file that is not UTF-8 text"
}

/// The one-shot state of loading one spec.
final class SpecReader {
    let file: String
    let text: String
    let families: [String: any ExperimentFamily]
    let defaultExperiment: String
    let limits: SweepLimits
    private(set) var errors: [SpecError] = []
    /// While set, problems are not recorded (the size pre-pass reads ranges it will read again).
    var muted = false
    /// Makes the family of an `experiment: command` spec; nil refuses such specs.
    var makeCommandFamily: SweepLoader.CommandFamilyMaker?

    init(file: String, text: String, families: [String: any ExperimentFamily], defaultExperiment: String, limits: SweepLimits) {
        self.file = file
        self.text = text
        self.families = families
        self.defaultExperiment = defaultExperiment
        self.limits = limits
    }

    // MARK: - Reporting

    func fail(_ code: SpecError.Code, at spot: Spot, _ path: String, found: String, expected: String, hint: String? = nil) {
        if muted { return }
        errors.append(SpecError(
            code: code, file: file, line: spot.line, column: spot.column, path: path, found: found, expected: expected, hint: hint))
    }

    func fail(_ code: SpecError.Code, _ node: Node, _ path: String, found: String? = nil, expected: String, hint: String? = nil) {
        fail(code, at: Spot(node), path, found: found ?? node.foundText, expected: expected, hint: hint)
    }

    // MARK: - Structure

    /// A value as it came from the file: where it was and how it read.
    struct Sourced {
        let value: ParameterValue
        let spot: Spot
        let path: String
    }

    /// A mapping's entries with text keys; reports other keys and repeated keys (keeping the first).
    func entries(_ node: Node, _ path: String) -> [(key: String, keyNode: Node, value: Node)] {
        guard case .mapping(let mapping) = node else { return [] }
        var seen: [String: Spot] = [:]
        var result: [(key: String, keyNode: Node, value: Node)] = []
        for (keyNode, value) in mapping {
            let at = path.isEmpty ? "" : path + "."
            guard case .scalar(let scalar) = keyNode, !scalar.string.isEmpty else {
                fail(.wrongType, keyNode, path.isEmpty ? "(top level)" : path, expected: "a name as key")
                continue
            }
            let key = scalar.string
            if let first = seen[key] {
                fail(.duplicateKey, keyNode, at + key, found: "\(key) again",
                     expected: "each key once", hint: "first given at line \(first.line)")
                continue
            }
            seen[key] = Spot(keyNode)
            result.append((key, keyNode, value))
        }
        return result
    }

    /// Did-you-mean text for `name` among `names`, or the list of names when none is close.
    func suggestion(for name: String, among names: [String]) -> String {
        if let close = closestName(to: name, among: names) { return "did you mean '\(close)'?" }
        return "known: " + names.joined(separator: ", ")
    }

    /// Reads one scalar value, reporting null, NaN/infinities and non-scalars.
    func readScalar(_ node: Node, _ path: String, expected: String) -> ParameterValue? {
        switch node.scalarReading {
        case .value(let v)?:
            return v
        case .null?:
            fail(.missing, node, path, found: "nothing (null)", expected: expected)
        case .nonFinite?:
            fail(.nonFinite, node, path, expected: "a finite number (NaN and infinities are not allowed)")
        case nil:
            fail(.wrongType, node, path, expected: expected)
        }
        return nil
    }

    /// Coerces a value into a parameter's domain, reporting what is wrong.
    func coerce(_ value: ParameterValue, _ spec: ParameterSpec, at spot: Spot, _ path: String, found: String, hint: String? = nil) -> ParameterValue? {
        switch spec.coerce(value) {
        case .success(let v):
            return v
        case .failure:
            fail(.outOfDomain, at: spot, path, found: found, expected: spec.expectation, hint: hint)
            return nil
        }
    }

    /// Reads and coerces the scalar `node` as a value of `spec`.
    func readParameterValue(_ node: Node, _ spec: ParameterSpec, _ path: String) -> Sourced? {
        guard let raw = readScalar(node, path, expected: spec.expectation) else { return nil }
        guard let value = coerce(raw, spec, at: Spot(node), path, found: node.foundText) else { return nil }
        return Sourced(value: value, spot: Spot(node), path: path)
    }

    /// Reads a finite number (integer or real).
    func readNumber(_ node: Node, _ path: String) -> Double? {
        guard let v = readScalar(node, path, expected: "a number") else { return nil }
        guard let x = v.numericValue else {
            fail(.wrongType, node, path, expected: "a number")
            return nil
        }
        return x
    }

    /// Reads an integer.
    func readInteger(_ node: Node, _ path: String, expected: String = "an integer") -> Int? {
        guard let v = readScalar(node, path, expected: expected) else { return nil }
        guard case .integer(let n) = v else {
            fail(.wrongType, node, path, expected: expected)
            return nil
        }
        return n
    }

    // MARK: - Lists and ranges

    static let rangeKeys = ["linspace", "log10", "log2", "num", "from", "to", "step"]
    static let rangeForms = "a list of values, {linspace: [a, b], num: n}, {log10: [a, b], num: n}, {log2: [a, b], num: n} or {from: a, to: b, step: s}"

    /// Reads a range mapping into its values, or reports why not.
    func readRange(_ node: Node, _ path: String, integerHint: Bool = false) -> RangeSpec? {
        let fields = entries(node, path)
        var byKey: [String: Node] = [:]
        for (key, keyNode, value) in fields {
            guard Self.rangeKeys.contains(key) else {
                fail(.unknownKey, keyNode, path + "." + key, found: key, expected: "a range key (linspace, log10, log2, num; or from, to, step)",
                     hint: suggestion(for: key, among: Self.rangeKeys))
                return nil
            }
            byKey[key] = value
        }
        let spaced = ["linspace", "log10", "log2"].filter { byKey[$0] != nil }
        let stepped = ["from", "to", "step"].filter { byKey[$0] != nil }
        if spaced.count == 1, stepped.isEmpty {
            let kind = spaced[0]
            let endpointsNode = byKey[kind]!
            guard let numNode = byKey["num"] else {
                fail(.badRange, node, path, expected: "\(kind) with num: the number of values", hint: "add num: n")
                return nil
            }
            guard case .sequence(let endpoints) = endpointsNode, endpoints.count == 2 else {
                fail(.badRange, endpointsNode, path + "." + kind, expected: "a list of two numbers [a, b]")
                return nil
            }
            let a = readNumber(endpoints[0], path + "." + kind + "[0]")
            let b = readNumber(endpoints[1], path + "." + kind + "[1]")
            let n = readInteger(numNode, path + ".num", expected: "an integer >= 1")
            guard let a, let b, let n else { return nil }
            guard n >= 1, n <= limits.maximumTasks else {
                fail(.badRange, numNode, path + ".num", expected: "an integer in 1...\(limits.maximumTasks)")
                return nil
            }
            if n == 1, a != b {
                fail(.badRange, numNode, path + ".num", expected: "at least 2 values between \(a) and \(b)", hint: "or write the one value as a list")
                return nil
            }
            switch kind {
            case "linspace": return .linear(from: a, to: b, count: n)
            case "log10": return .log10(from: a, to: b, count: n)
            default: return .log2(from: a, to: b, count: n)
            }
        }
        if spaced.isEmpty, byKey["num"] == nil, byKey["from"] != nil, byKey["to"] != nil {
            let from = readInteger(byKey["from"]!, path + ".from", expected: "an integer (use linspace for reals)")
            let to = readInteger(byKey["to"]!, path + ".to", expected: "an integer (use linspace for reals)")
            let step = byKey["step"].map { readInteger($0, path + ".step", expected: "a non-zero integer") } ?? 1
            guard let from, let to, let step else { return nil }
            let stepNode = byKey["step"] ?? node
            guard step != 0, (to - from).signum() * step.signum() >= 0 else {
                fail(.badRange, stepNode, path + ".step", found: String(step),
                     expected: "a step that goes from \(from) towards \(to)")
                return nil
            }
            guard (to - from) % step == 0 else {
                let below = from + (to - from) / step * step
                fail(.badRange, byKey["to"]!, path + ".to", found: String(to),
                     expected: "a value reached from \(from) in steps of \(step) (to is included)",
                     hint: "use to: \(below) or \(below + step)")
                return nil
            }
            let count = (to - from) / step + 1
            guard count <= limits.maximumTasks else {
                fail(.gridSize, node, path, found: "\(count) values", expected: "at most \(limits.maximumTasks) (the task limit)")
                return nil
            }
            return .stepped(from: from, to: to, step: step)
        }
        fail(.badRange, node, path, expected: Self.rangeForms)
        return nil
    }

    /// Reads the values of an axis or zip member: a list of scalars or a range, each coerced.
    func readValueList(_ node: Node, _ spec: ParameterSpec, _ path: String) -> [Sourced]? {
        switch node {
        case .sequence(let items):
            if items.isEmpty {
                fail(.wrongType, node, path, expected: "at least one value", hint: "an empty axis would sweep nothing")
                return nil
            }
            var result: [Sourced] = []
            var ok = true
            for (i, item) in items.enumerated() {
                if let v = readParameterValue(item, spec, "\(path)[\(i)]") { result.append(v) } else { ok = false }
            }
            return ok ? result : nil
        case .mapping:
            guard let range = readRange(node, path) else { return nil }
            var result: [Sourced] = []
            var ok = true
            let isInteger: Bool
            if case .integer = spec.domain { isInteger = true } else { isInteger = false }
            for (i, raw) in range.values.enumerated() {
                let itemPath = "\(path)[\(i)]"
                let hint = isInteger && !range.isStepped ? "the range gives non-integers; use {from, to, step} or log2 for integer axes" : nil
                if let v = coerce(raw, spec, at: Spot(node), itemPath, found: "\(raw) (value \(i) of the range)", hint: hint) {
                    result.append(Sourced(value: v, spot: Spot(node), path: itemPath))
                } else {
                    ok = false
                }
            }
            return ok ? result : nil
        default:
            fail(.wrongType, node, path, expected: Self.rangeForms,
                 hint: "write [\(node.scalarReading.flatMap { if case .value(let v) = $0 { v.canonicalText } else { nil } } ?? "…")] for one value, or move it to base")
            return nil
        }
    }
}

extension RangeSpec {
    var isStepped: Bool { if case .stepped = self { true } else { false } }
}
