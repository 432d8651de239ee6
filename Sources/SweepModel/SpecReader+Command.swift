import ExperimentAPI
import Foundation
import Yams

/// Reading a spec-defined `command` family: the `command`, `parameters` and `metrics` sections.
extension SpecReader {
    /// The top-level keys only a `command` spec has.
    static let commandKeys = ["command", "parameters", "metrics"]

    /// Reads the definition of a `command` family; nil (with every problem reported) when it has
    /// errors. `top` holds the spec's top-level entries.
    func readCommandDefinition(_ top: [String: (keyNode: Node, value: Node)], root: Node) -> CommandDefinition? {
        let before = errors.count
        guard let commandNode = top["command"]?.value else {
            fail(.missing, root, "command", found: "no command section",
                 expected: "a command section with argv (experiment: command runs your program; see sweeps/README.md)")
            return nil
        }
        guard case .mapping = commandNode else {
            fail(.wrongType, commandNode, "command", expected: "a mapping with argv, and optionally env, workdir, code_version, hash_files, estimated_seconds")
            return nil
        }
        let commandKeys = ["argv", "env", "workdir", "code_version", "hash_files", "estimated_seconds"]
        var fields: [String: Node] = [:]
        for (key, keyNode, value) in entries(commandNode, "command") {
            guard commandKeys.contains(key) else {
                fail(.unknownKey, keyNode, "command." + key, found: key, expected: "a key of command (" + commandKeys.joined(separator: ", ") + ")",
                     hint: closestName(to: key, among: commandKeys).map { "did you mean '\($0)'?" })
                continue
            }
            fields[key] = value
        }

        // Parameters first: argv's placeholders must name them.
        let parameters = readDeclaredParameters(top["parameters"]?.value)
        let names = Set(parameters.map(\.name) + ["seed"])

        var argv: [String] = []
        if let node = fields["argv"] {
            argv = readTextList(node, "command.argv", expected: "the program and its arguments, a non-empty list of text")
            if argv.isEmpty && errors.count == before {
                fail(.wrongType, node, "command.argv", expected: "the program and its arguments, a non-empty list of text")
            }
            if case .sequence(let items) = node {
                for (i, item) in items.enumerated() where i < argv.count {
                    checkPlaceholders(argv[i], at: item, "command.argv[\(i)]", names: names)
                }
            }
        } else {
            fail(.missing, commandNode, "command.argv", found: "no argv", expected: "the program and its arguments, e.g. [python3, train.py, --lr, \"{lr}\"]")
        }
        var env: [String: String] = [:]
        if let node = fields["env"] {
            if case .mapping = node {
                for (key, keyNode, value) in entries(node, "command.env") {
                    guard key.utf8.allSatisfy({ $0 == UInt8(ascii: "_") || ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) }),
                          !(key.first?.isNumber ?? true) else {
                        fail(.wrongType, keyNode, "command.env." + key, found: key, expected: "a variable name: letters, digits and '_', not starting with a digit")
                        continue
                    }
                    guard case .scalar(let s) = value else {
                        fail(.wrongType, value, "command.env." + key, expected: "text")
                        continue
                    }
                    checkPlaceholders(s.string, at: value, "command.env." + key, names: names)
                    env[key] = s.string
                }
            } else {
                fail(.wrongType, node, "command.env", expected: "a mapping of variable names to text")
            }
        }
        let workdir = fields["workdir"].flatMap { readText($0, "command.workdir", expected: "a directory (relative to the worker's current directory)") }
        let codeVersion = fields["code_version"].flatMap { readText($0, "command.code_version", expected: "text naming your code's version, e.g. a git commit") }
        var estimate = 60.0
        if let node = fields["estimated_seconds"] {
            if case .value(let v)? = node.scalarReading, let x = v.numericValue, x > 0, x.isFinite {
                estimate = x
            } else {
                fail(.outOfDomain, node, "command.estimated_seconds", expected: "a positive number of seconds")
            }
        }
        var digests: [String: String] = [:]
        if let node = fields["hash_files"] {
            let files = readTextList(node, "command.hash_files", expected: "a list of files (relative to workdir) whose contents are part of the task ids")
            for (i, file) in files.enumerated() {
                let path = CommandDefinition.path(of: file, workdir: workdir)
                guard let data = FileManager.default.contents(atPath: path) else {
                    let at: Node = { if case .sequence(let items) = node, i < items.count { return items[i] } else { return node } }()
                    fail(.unreadable, at, "command.hash_files[\(i)]", found: "\(file), which cannot be read here (\(path))",
                         expected: "a readable file, relative to workdir (resolved against the current directory)")
                    continue
                }
                digests[file] = SHA256.hash([UInt8](data)).description
            }
        }

        var finalMetrics: [String] = []
        var curveMetrics: [String] = []
        var phases = ["train"]
        var maxEpoch = 1_000_000
        if let node = top["metrics"]?.value {
            let metricKeys = ["final", "curve", "phases", "max_epoch"]
            if case .mapping = node {
                for (key, keyNode, value) in entries(node, "metrics") {
                    switch key {
                    case "final": finalMetrics = readNameList(value, "metrics.final", what: "final metric names")
                    case "curve": curveMetrics = readNameList(value, "metrics.curve", what: "per-epoch metric names")
                    case "phases": phases = readNameList(value, "metrics.phases", what: "curve phase names")
                    case "max_epoch":
                        if case .value(.integer(let n))? = value.scalarReading, n >= 1 { maxEpoch = n } else {
                            fail(.outOfDomain, value, "metrics.max_epoch", expected: "a positive integer")
                        }
                    default:
                        fail(.unknownKey, keyNode, "metrics." + key, found: key, expected: "a key of metrics (" + metricKeys.joined(separator: ", ") + ")",
                             hint: closestName(to: key, among: metricKeys).map { "did you mean '\($0)'?" })
                    }
                }
                if finalMetrics.isEmpty, top["metrics"] != nil, !entries(node, "").contains(where: { $0.key == "final" }) {
                    fail(.missing, node, "metrics.final", found: "no final metrics", expected: "the names of the metrics your program's result reports, e.g. [loss, accuracy]")
                }
            } else {
                fail(.wrongType, node, "metrics", expected: "a mapping with final (and optionally curve, phases, max_epoch)")
            }
        } else {
            fail(.missing, root, "metrics", found: "no metrics section", expected: "metrics: {final: [...]} naming what your program reports")
        }
        for (list, path) in [(finalMetrics, "metrics.final"), (curveMetrics, "metrics.curve")] {
            if let clash = list.first(where: { names.contains($0) }) {
                fail(.conflict, top["metrics"]!.value, path, found: clash, expected: "metric names different from the parameters' (both are CSV columns)")
            }
        }
        guard errors.count == before else { return nil }
        return CommandDefinition(
            argv: argv, env: env, workdir: workdir, codeVersion: codeVersion, fileDigests: digests, parameters: parameters,
            finalMetrics: finalMetrics, curveMetrics: curveMetrics, phases: phases, maxEpoch: maxEpoch, estimatedSeconds: estimate)
    }

    /// The `parameters` section: name -> {kind, min, max, values, default, help}.
    private func readDeclaredParameters(_ node: Node?) -> [CommandDefinition.Parameter] {
        guard let node else { return [] }
        guard case .mapping = node else {
            fail(.wrongType, node, "parameters", expected: "a mapping of parameter names to {kind: integer|real|choice, ...}")
            return []
        }
        var result: [CommandDefinition.Parameter] = []
        let fieldKeys = ["kind", "min", "max", "values", "default", "help"]
        for (name, keyNode, value) in entries(node, "parameters") {
            let path = "parameters." + name
            guard WireName.isValid(name), name != "seed", !name.hasPrefix(CommandDefinition.wirePrefix) else {
                fail(.wrongType, keyNode, path, found: name,
                     expected: name == "seed" ? "a name other than seed (replicates are set by seeds)"
                        : name.hasPrefix(CommandDefinition.wirePrefix) ? "a name not starting with \(CommandDefinition.wirePrefix) (reserved)"
                        : "a snake_case name: [a-z][a-z0-9_]*, at most 64 characters")
                continue
            }
            guard case .mapping = value else {
                fail(.wrongType, value, path, expected: "{kind: integer|real|choice, min, max, values, default}")
                continue
            }
            var fields: [String: Node] = [:]
            for (key, fieldKeyNode, fieldValue) in entries(value, path) {
                guard fieldKeys.contains(key) else {
                    fail(.unknownKey, fieldKeyNode, path + "." + key, found: key, expected: "a key of a parameter (" + fieldKeys.joined(separator: ", ") + ")",
                         hint: closestName(to: key, among: fieldKeys).map { "did you mean '\($0)'?" })
                    continue
                }
                fields[key] = fieldValue
            }
            guard let kindNode = fields["kind"], case .scalar(let kindScalar) = kindNode,
                  let kind = CommandDefinition.Parameter.Kind(rawValue: kindScalar.string) else {
                fail(fields["kind"] == nil ? .missing : .wrongType, fields["kind"] ?? value, path + ".kind",
                     expected: "integer, real or choice")
                continue
            }
            func number(_ key: String) -> Double? {
                guard let n = fields[key] else { return nil }
                if case .value(let v)? = n.scalarReading, let x = v.numericValue,
                   kind == .real || x == x.rounded() {
                    return x
                }
                fail(.wrongType, n, path + "." + key, expected: kind == .integer ? "an integer" : "a finite number")
                return nil
            }
            let help = fields["help"].flatMap { readText($0, path + ".help", expected: "text") }
            var parameter: CommandDefinition.Parameter
            switch kind {
            case .integer, .real:
                if let v = fields["values"] { fail(.unknownKey, v, path + ".values", expected: "values only for kind: choice (use min and max)") }
                let lo = number("min"), hi = number("max")
                if let lo, let hi, lo > hi {
                    fail(.badRange, fields["max"]!, path + ".max", found: formatNumber(hi), expected: "at least min (\(formatNumber(lo)))")
                }
                let fallback = lo ?? min(0, hi ?? 0)
                let given = number("default")
                let value = given ?? fallback
                parameter = .init(name: name, kind: kind, minimum: lo, maximum: hi,
                                  defaultText: kind == .integer ? String(Int(value)) : ParameterValue.real(value).canonicalText, help: help)
                if let given, (lo.map { given < $0 } ?? false) || (hi.map { given > $0 } ?? false) {
                    fail(.outOfDomain, fields["default"]!, path + ".default", found: formatNumber(given), expected: "a value within min and max")
                }
            case .choice:
                for key in ["min", "max"] where fields[key] != nil {
                    fail(.unknownKey, fields[key]!, path + "." + key, expected: "min and max only for integer and real (a choice lists values)")
                }
                guard let valuesNode = fields["values"] else {
                    fail(.missing, value, path + ".values", found: "no values", expected: "the words a choice parameter takes, e.g. [sgd, adam]")
                    continue
                }
                let words = readTextList(valuesNode, path + ".values", expected: "a non-empty list of words")
                if words.isEmpty { continue }
                if Set(words).count != words.count {
                    fail(.duplicateKey, valuesNode, path + ".values", found: "a word listed twice", expected: "distinct words")
                }
                let given = fields["default"].flatMap { readText($0, path + ".default", expected: "one of the values") }
                if let given, !words.contains(given) {
                    fail(.outOfDomain, fields["default"]!, path + ".default", found: given, expected: "one of " + words.joined(separator: ", "))
                }
                parameter = .init(name: name, kind: .choice, values: words, defaultText: given ?? words[0], help: help)
            }
            result.append(parameter)
        }
        return result
    }

    /// Checks that every `{name}` in a template names a declared parameter or `seed`.
    private func checkPlaceholders(_ template: String, at node: Node, _ path: String, names: Set<String>) {
        switch CommandTemplate.placeholders(in: template) {
        case .success(let used):
            for name in used where !names.contains(name) {
                fail(.unknownKey, node, path, found: "{\(name)}", expected: "a placeholder naming a declared parameter or seed",
                     hint: closestName(to: name, among: names.sorted()).map { "did you mean '{\($0)}'?" } ?? "write {{ for a literal brace")
            }
        case .failure(let problem):
            fail(.wrongType, node, path, found: template, expected: "a template whose braces are {parameter}, {{ or }} (\(problem))")
        }
    }

    private func readText(_ node: Node, _ path: String, expected: String) -> String? {
        guard case .scalar(let s) = node else {
            fail(.wrongType, node, path, expected: expected)
            return nil
        }
        return s.string
    }

    private func readTextList(_ node: Node, _ path: String, expected: String) -> [String] {
        guard case .sequence(let items) = node else {
            fail(.wrongType, node, path, expected: expected)
            return []
        }
        var out: [String] = []
        for (i, item) in items.enumerated() {
            if case .scalar(let s) = item { out.append(s.string) } else { fail(.wrongType, item, path + "[\(i)]", expected: "text") }
        }
        return out
    }

    private func readNameList(_ node: Node, _ path: String, what: String) -> [String] {
        let names = readTextList(node, path, expected: "a list of \(what)")
        var seen: Set<String> = []
        for name in names {
            if !WireName.isValid(name) {
                fail(.wrongType, node, path, found: name, expected: "snake_case names: [a-z][a-z0-9_]*, at most 64 characters")
            } else if !seen.insert(name).inserted {
                fail(.duplicateKey, node, path, found: "\(name) twice", expected: "each name once")
            }
        }
        return names
    }

    private func formatNumber(_ x: Double) -> String { ParameterValue.real(x).canonicalText }
}
