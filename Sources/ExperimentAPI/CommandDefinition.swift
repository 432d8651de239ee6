import Foundation

/// A `command` experiment family as a sweep spec defines it: the program to run for each task
/// (an argv template, environment and working directory) and the parameters and metrics it
/// takes and reports. Pure data: the sweep model reads it from a spec, the coordinator sends it
/// to workers with each task, and a worker builds the family that runs it.
///
/// A task's id covers ``identity``: the template, the environment, the working directory, the
/// declared code version, the digests of the named files, and the declarations; changing any of
/// them makes new tasks. It does not cover the contents of files that are not named in
/// ``fileDigests`` (see README, "Sweeping your own program").
public struct CommandDefinition: Codable, Sendable, Equatable {
    /// The program and its arguments; `{name}` is replaced by the task's value of parameter
    /// `name` (or `seed`), `{{` and `}}` by braces. No shell is involved.
    public var argv: [String]
    /// Variables added to the worker's environment (values are templates like argv's).
    public var env: [String: String]
    /// The directory the program runs in, resolved on the worker (relative to its current
    /// directory); nil: the worker's current directory.
    public var workdir: String?
    /// A version the user declares for their code (e.g. a git commit), part of the task id.
    public var codeVersion: String?
    /// SHA-256 (hex) of named files, relative to ``workdir``, computed when the spec is loaded;
    /// part of the task id, and checked by the worker before it runs a task.
    public var fileDigests: [String: String]
    /// The declared parameters (excluding `seed`), in CSV column order.
    public var parameters: [Parameter]
    /// Final metric names, in CSV column order: the program's result must give each of them.
    public var finalMetrics: [String]
    /// Per-epoch curve metric names, in CSV column order (may be empty).
    public var curveMetrics: [String]
    /// The curve phases the program may report, and the largest epoch number accepted.
    public var phases: [String]
    public var maxEpoch: Int
    /// A rough cost of one task in seconds (plans, ETAs, the automatic time limit).
    public var estimatedSeconds: Double

    /// One declared parameter: a name, a kind with its domain, and a default.
    public struct Parameter: Codable, Sendable, Equatable {
        public enum Kind: String, Codable, Sendable { case integer, real, choice }
        public var name: String
        public var kind: Kind
        /// Inclusive bounds for integer and real parameters (nil: unbounded on that side).
        public var minimum: Double?
        public var maximum: Double?
        /// The allowed words of a choice parameter.
        public var values: [String]?
        /// The default, as its canonical text.
        public var defaultText: String
        public var help: String?

        public init(name: String, kind: Kind, minimum: Double? = nil, maximum: Double? = nil, values: [String]? = nil,
                    defaultText: String, help: String? = nil) {
            self.name = name
            self.kind = kind
            self.minimum = minimum
            self.maximum = maximum
            self.values = values
            self.defaultText = defaultText
            self.help = help
        }

        /// The parameter as the sweep and the wire know parameters.
        public var spec: ParameterSpec {
            let domain: ParameterSpec.Domain
            let value: ParameterValue
            switch kind {
            case .integer:
                let lo = minimum.map { Int(max($0, -9.0e18)) } ?? Int.min / 2
                let hi = maximum.map { Int(min($0, 9.0e18)) } ?? Int.max / 2
                domain = .integer(lo...max(lo, hi))
                value = .integer(Int(defaultText) ?? lo)
            case .real:
                domain = .real(lower: minimum ?? -Double.greatestFiniteMagnitude, lowerInclusive: true,
                               upper: maximum ?? Double.greatestFiniteMagnitude, upperInclusive: true)
                value = .real(Double(defaultText) ?? 0)
            case .choice:
                domain = .choice(values ?? [])
                value = .text(defaultText)
            }
            return ParameterSpec(name: name, domain: domain, defaultValue: value, help: help ?? "declared by the spec")
        }
    }

    public init(
        argv: [String], env: [String: String] = [:], workdir: String? = nil, codeVersion: String? = nil,
        fileDigests: [String: String] = [:], parameters: [Parameter], finalMetrics: [String], curveMetrics: [String] = [],
        phases: [String] = ["train"], maxEpoch: Int = 1_000_000, estimatedSeconds: Double = 60
    ) {
        self.argv = argv
        self.env = env
        self.workdir = workdir
        self.codeVersion = codeVersion
        self.fileDigests = fileDigests
        self.parameters = parameters
        self.finalMetrics = finalMetrics
        self.curveMetrics = curveMetrics
        self.phases = phases
        self.maxEpoch = maxEpoch
        self.estimatedSeconds = estimatedSeconds
    }

    enum CodingKeys: String, CodingKey {
        case argv, env, workdir, parameters, phases
        case codeVersion = "code_version", fileDigests = "file_digests", finalMetrics = "final_metrics"
        case curveMetrics = "curve_metrics", maxEpoch = "max_epoch", estimatedSeconds = "estimated_seconds"
    }

    /// The definition as compact JSON with sorted keys: one text for one definition, used for
    /// the identity and on the wire.
    public func canonicalJSON() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // A struct of strings, numbers and arrays always encodes.
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    /// Reads a definition from ``canonicalJSON()``'s text.
    public static func decode(json: String) throws -> CommandDefinition {
        try JSONDecoder().decode(CommandDefinition.self, from: Data(json.utf8))
    }

    /// Where a file named relative to the working directory is: `workdir` resolved against
    /// this process's current directory (the loading coordinator's, or a worker's), then `file`
    /// against it; absolute names stay as they are.
    public static func path(of file: String, workdir: String?) -> String {
        if file.hasPrefix("/") { return file }
        let current = FileManager.default.currentDirectoryPath
        let base = workdir.map { $0.hasPrefix("/") ? $0 : current + "/" + $0 } ?? current
        return base + "/" + file
    }

    /// What a task id covers besides the parameter values: `command:` and the SHA-256 of the
    /// canonical JSON (everything the definition says).
    public var identity: String { "command:" + SHA256.hash(canonicalJSON()).description }
}

/// Makes the family that runs a ``CommandDefinition`` (the command module's; passed in by the
/// executable, so that the sweep model and the worker do not depend on how programs are run).
public typealias CommandFamilyMaker = @Sendable (CommandDefinition) -> any ExperimentFamily

extension CommandDefinition {
    /// Task parameters whose names start with this carry the definition on the wire (see
    /// docs/PROTOCOL.md, section 6); declared parameters may not use it.
    public static let wirePrefix = "command_definition_"

    /// The definition as task parameters: its canonical JSON in pieces of at most 1,000 bytes
    /// (a text parameter holds 1,024), named `command_definition_000`, `_001`, ...
    public func wireParameters() -> [(name: String, value: ParameterValue)] {
        var pieces: [String] = []
        var current = ""
        var bytes = 0
        for character in canonicalJSON() {
            let size = character.utf8.count
            if bytes + size > 1000 {
                pieces.append(current)
                current = ""
                bytes = 0
            }
            current.append(character)
            bytes += size
        }
        if !current.isEmpty { pieces.append(current) }
        return pieces.enumerated().map { (Self.wirePrefix + String(format: "%03d", $0.offset), .text($0.element)) }
    }

    /// The definition carried by a task's parameters (nil when there is none or it does not
    /// decode), and the other parameters.
    public static func fromWire(_ parameters: [String: ParameterValue]) -> (definition: CommandDefinition?, rest: [String: ParameterValue]) {
        var rest: [String: ParameterValue] = [:]
        var pieces: [(String, String)] = []
        for (name, value) in parameters {
            if name.hasPrefix(wirePrefix), case .text(let text) = value { pieces.append((name, text)) } else { rest[name] = value }
        }
        guard !pieces.isEmpty else { return (nil, rest) }
        let json = pieces.sorted { $0.0 < $1.0 }.map(\.1).joined()
        return ((try? decode(json: json)), rest)
    }
}

/// The `{name}` templates of a ``CommandDefinition``: `{name}` is a parameter's value (its
/// canonical text), `{{` and `}}` are literal braces; any other brace is an error.
public enum CommandTemplate {
    /// A template that cannot be read, with why.
    public struct Problem: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// The names a template refers to, in order.
    public static func placeholders(in template: String) -> Result<[String], Problem> {
        var names: [String] = []
        switch scan(template, { names.append($0); return "" }) {
        case .success: return .success(names)
        case .failure(let p): return .failure(p)
        }
    }

    /// The template with each `{name}` replaced by `value(name)`.
    public static func render(_ template: String, _ value: (String) -> String) -> Result<String, Problem> {
        scan(template, value)
    }

    private static func scan(_ template: String, _ value: (String) -> String) -> Result<String, Problem> {
        var out = ""
        var i = template.startIndex
        while i < template.endIndex {
            let c = template[i]
            let next = template.index(after: i)
            if c == "{" {
                if next < template.endIndex && template[next] == "{" {
                    out.append("{")
                    i = template.index(after: next)
                    continue
                }
                guard let close = template[next...].firstIndex(of: "}") else {
                    return .failure(Problem(description: "a '{' without its '}'"))
                }
                let name = String(template[next..<close])
                guard !name.isEmpty, !name.contains("{") else {
                    return .failure(Problem(description: "'{\(name)}' is not a parameter name"))
                }
                out += value(name)
                i = template.index(after: close)
            } else if c == "}" {
                guard next < template.endIndex && template[next] == "}" else {
                    return .failure(Problem(description: "a '}' without its '{' (write }} for a literal brace)"))
                }
                out.append("}")
                i = template.index(after: next)
            } else {
                out.append(c)
                i = next
            }
        }
        return .success(out)
    }
}
