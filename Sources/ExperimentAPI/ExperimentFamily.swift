/// One named final metric or curve metric, as a Double (counts and accuracies alike), so that it
/// travels on the wire and into CSV without loss (`Double.description` round-trips).
public struct Metric: Sendable, Hashable {
    public let name: String
    public let value: Double
    public init(_ name: String, _ value: Double) {
        self.name = name
        self.value = value
    }
}

/// One point of a learning curve: the metrics of one epoch of one phase, streamed while a task runs.
public struct CurvePoint: Sendable, Hashable {
    /// `pretrain` or `finetune` for the hierarchy family; any short word for others.
    public let phase: String
    public let epoch: Int
    public let metrics: [Metric]
    public init(phase: String, epoch: Int, metrics: [Metric]) {
        self.phase = phase
        self.epoch = epoch
        self.metrics = metrics
    }
}

/// A kind of experiment that grainsweep can sweep: what it takes, what it reports and how to run it.
///
/// The sweep, the wire protocol and the coordinator know experiments only through this protocol,
/// so a second family (SCIENCE.md, "later") plugs in without touching them.
public protocol ExperimentFamily: Sendable {
    /// The family's name as written in specs (`experiment: hierarchy`) and on the wire.
    var name: String { get }
    /// One line saying what it is.
    var summary: String { get }
    /// Its parameters, in the order of CSV columns, excluding `seed` (see ``allParameters``).
    var parameters: [ParameterSpec] { get }
    /// Names of the final metrics, in CSV column order.
    var resultMetricNames: [String] { get }
    /// Names of the per-epoch curve metrics, in CSV column order.
    var curveMetricNames: [String] { get }
    /// The curve phases a task with these parameters reports, each with its last epoch (epochs
    /// are numbered 1...last). A coordinator drops and counts points outside them.
    func curveEpochs(_ parameters: ParameterSet) -> [String: Int]
    /// Checks that the values make sense together (each value is already in its own domain).
    /// Must not depend on `seed`: a sweep checks each combination once for all its seeds.
    func crossCheck(_ parameters: ParameterSet) -> [ParameterProblem]
    /// A rough cost of one task, in seconds on one core of a 2026 server (for plans and ETAs).
    /// Must not depend on `seed`.
    func estimatedSeconds(_ parameters: ParameterSet) -> Double
    /// Runs one task on the threads `context` lends. Pure: the result is a function of
    /// `parameters` (seed included) only, never of the thread count. `onEpoch` is called from the
    /// calling thread as epochs complete. Throws ``TaskCancelled`` soon after
    /// `context.cancellation` is set (within one unit of work, e.g. one SGD step).
    func run(_ parameters: ParameterSet, context: TaskContext, onEpoch: (CurvePoint) -> Void) throws -> [Metric]
    /// Whether a task returns at once (a no-op): a worker then runs it on its I/O thread instead
    /// of handing it to a slot thread. Defaults to false.
    func isInstant(_ parameters: ParameterSet) -> Bool
    /// What a task id covers besides the parameter values: the family's name for compiled
    /// families (the default); for a spec-defined `command` family, also its definition.
    var identity: String { get }
    /// A spec-defined family's definition, which the coordinator sends to workers with each task
    /// (nil for compiled families, the default).
    var commandDefinition: CommandDefinition? { get }
    /// The version of the bits the family's tasks produce (1 by default): raised whenever a change
    /// of its code alters any task's results for the same parameters and seed. The coordinator
    /// records it in a results directory and refuses to resume a directory of another version
    /// unless told to, so that results of two versions never mix.
    var bitsVersion: Int { get }
    /// The figures the report draws for this family's sweeps; none declared (the default): the
    /// report's generic figures.
    var figures: [FigureDeclaration] { get }
}

extension ParameterSpec {
    /// The replicate seed every family takes; part of a task's identity.
    public static let seed = ParameterSpec(
        name: "seed", domain: .integer(0...Int(Int32.max)), defaultValue: .integer(0),
        help: "replicate seed: keys every random stream of the task")
}

extension ExperimentFamily {
    public func isInstant(_ parameters: ParameterSet) -> Bool { false }
    public var identity: String { name }
    public var commandDefinition: CommandDefinition? { nil }
    public var bitsVersion: Int { 1 }
    public var figures: [FigureDeclaration] { [] }

    /// ``parameters`` followed by `seed`.
    public var allParameters: [ParameterSpec] { parameters + [.seed] }

    /// Resolves what a user gave (possibly partial, possibly text from a command line already
    /// parsed into values) into a full ``ParameterSet``: unknown names, values outside their
    /// domain and bad combinations are all reported, not just the first.
    public func resolve(_ given: [String: ParameterValue]) -> Result<ParameterSet, ParameterProblems> {
        var problems: [ParameterProblem] = []
        let specs = allParameters
        let known = Set(specs.map(\.name))
        for name in given.keys.sorted() where !known.contains(name) {
            let hint = closestName(to: name, among: specs.map(\.name)).map { " (did you mean \($0)?)" } ?? ""
            problems.append(ParameterProblem(
                parameter: name, found: "an unknown parameter", expected: "a parameter of \(self.name)\(hint)"))
        }
        var set = ParameterSet()
        for spec in specs {
            switch spec.coerce(given[spec.name] ?? spec.defaultValue) {
            case .success(let v): set[spec.name] = v
            case .failure(let p): problems.append(p)
            }
        }
        if problems.isEmpty { problems = crossCheck(set) }
        return problems.isEmpty ? .success(set) : .failure(ParameterProblems(problems))
    }
}

/// Several ``ParameterProblem``s at once: all of them are reported, not just the first.
public struct ParameterProblems: Error, Sendable, CustomStringConvertible {
    public let problems: [ParameterProblem]
    public init(_ problems: [ParameterProblem]) { self.problems = problems }
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// The name within edit distance 2 of `name` (or sharing its first 4 letters), for did-you-mean hints.
public func closestName(to name: String, among names: [String]) -> String? {
    var best: (String, Int)?
    for candidate in names {
        let d = editDistance(Array(name.utf8), Array(candidate.utf8))
        if d <= max(2, name.utf8.count / 3), d < (best?.1 ?? .max) { best = (candidate, d) }
    }
    return best?.0
}

func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            current[j] = Swift.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}
