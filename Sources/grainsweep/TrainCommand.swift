import ArgumentParser
import ExperimentAPI
import Experiments
import Foundation

/// `grainsweep train`: runs one task in this process and prints its metrics as JSON.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Run one task and print its final metrics as one JSON object (the last line of stdout).",
        discussion: """
            Every parameter of the experiment is an option with its snake_case name, the same name \
            as in sweep specs and CSV headers: `grainsweep train --granularity 8 --rare_freq 0.3 --seed 2`. \
            `grainsweep train --list-parameters` lists them with their domains and defaults.
            """)

    @Option(help: "The experiment family.")
    var experiment: String = ExperimentCatalog.defaultFamily.name

    @Option(help: "Threads for the training core (default: all usable cores).")
    var threads: Int?

    @Flag(help: "Print each epoch's metrics as a JSON line before the final line.")
    var progress = false

    @Flag(name: .customLong("list-parameters"), help: "List the experiment's parameters and exit.")
    var listParameters = false

    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("--<parameter> <value> pairs.", valueName: "parameters"))
    var parameterWords: [String] = []

    func run() throws {
        guard let family = ExperimentCatalog.family(named: experiment) else {
            throw fail("--experiment: found \(experiment), expected one of \(ExperimentCatalog.all.map(\.name).joined(separator: ", "))")
        }
        if listParameters {
            for spec in family.allParameters {
                print("--\(spec.name) <\(spec.expectation)> (default \(spec.defaultValue)): \(spec.help)")
            }
            return
        }
        let parameters: ParameterSet
        switch parseParameters(parameterWords, family: family) {
        case .success(let set): parameters = set
        case .failure(let problems):
            for p in problems.problems { FileHandle.standardError.write(Data("error: --\(p.parameter): found \(p.found), expected \(p.expected)\n".utf8)) }
            throw ExitCode(2)
        }
        let threadCount = threads ?? usableCores()
        guard threadCount >= 1 && threadCount <= 1024 else { throw fail("--threads: found \(threadCount), expected an integer in 1...1024", code: 2) }
        let start = Date()
        let metrics: [Metric]
        do {
            metrics = try TaskContext.withPool(threads: threadCount) { context in
                try family.run(parameters, context: context) { point in
                    guard progress else { return }
                    var json = JSONLine()
                    json.add("phase", .text(point.phase))
                    json.add("epoch", .integer(point.epoch))
                    for m in point.metrics { json.add(m.name, .real(m.value)) }
                    print(json.text)
                    fflush(nil)
                }
            }
        } catch {
            throw fail("task failed: \(error)")
        }
        var json = JSONLine()
        json.add("task_id", .text(TaskID.of(experiment: family.identity, parameters: parameters).description))
        json.add("experiment", .text(family.name))
        for spec in family.allParameters { json.add(spec.name, parameters[spec.name]!) }
        for m in metrics { json.add(m.name, .real(m.value)) }
        json.add("threads", .integer(threadCount))
        json.add("wall_seconds", .real(Date().timeIntervalSince(start)))
        json.add("host", .text(hostName()))
        print(json.text)
    }
}

/// Parses `--name value` and `--name=value` words into a resolved parameter set. Kebab-case
/// names (`--rare-freq`) are accepted for snake_case parameters.
func parseParameters(_ words: [String], family: any ExperimentFamily) -> Result<ParameterSet, ParameterProblems> {
    var given: [String: ParameterValue] = [:]
    var problems: [ParameterProblem] = []
    let specs = Dictionary(uniqueKeysWithValues: family.allParameters.map { ($0.name, $0) })
    var i = 0
    while i < words.count {
        let word = words[i]
        i += 1
        guard word.hasPrefix("--") else {
            problems.append(ParameterProblem(parameter: word, found: "a stray word", expected: "--<parameter> <value>"))
            continue
        }
        var name = String(word.dropFirst(2))
        var value: String?
        if let eq = name.firstIndex(of: "=") {
            value = String(name[name.index(after: eq)...])
            name = String(name[..<eq])
        }
        name = name.replacingOccurrences(of: "-", with: "_")
        if value == nil {
            guard i < words.count else {
                problems.append(ParameterProblem(parameter: name, found: "no value", expected: specs[name]?.expectation ?? "a value"))
                continue
            }
            value = words[i]
            i += 1
        }
        guard let spec = specs[name] else {
            let hint = closestName(to: name, among: Array(specs.keys)).map { " (did you mean --\($0)?)" } ?? ""
            problems.append(ParameterProblem(parameter: name, found: "an unknown parameter", expected: "a parameter of \(family.name)\(hint)"))
            continue
        }
        switch spec.parse(value!) {
        case .success(let v): given[name] = v
        case .failure(let p): problems.append(p)
        }
    }
    if !problems.isEmpty { return .failure(ParameterProblems(problems)) }
    return family.resolve(given)
}

/// A flat JSON object written in insertion order, numbers in shortest round-trip form (so they
/// match results.csv bit for bit); non-finite numbers become strings ("nan", "inf").
struct JSONLine {
    private var parts: [String] = []

    mutating func add(_ key: String, _ value: ParameterValue) {
        let encoded: String
        switch value {
        case .integer(let n): encoded = String(n)
        case .real(let x): encoded = x.isFinite ? x.description : Self.quote(x.description)
        case .text(let s): encoded = Self.quote(s)
        }
        parts.append(Self.quote(key) + ":" + encoded)
    }

    var text: String { "{" + parts.joined(separator: ",") + "}" }

    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
