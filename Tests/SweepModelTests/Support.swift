import ExperimentAPI
import Experiments
import SweepModel
import Testing

/// A small family with a cross-check, so tests do not depend on the hierarchy family's evolving list.
struct TestFamily: ExperimentFamily {
    var name: String { "toy" }
    var summary: String { "a family for tests" }
    var parameters: [ParameterSpec] {
        [
            ParameterSpec(name: "parts", domain: .integer(1...100), defaultValue: .integer(4), help: "must divide total"),
            ParameterSpec(name: "total", domain: .integer(1...1000), defaultValue: .integer(12), help: "a multiple of parts"),
            ParameterSpec(name: "rate", domain: .real(lower: 0, lowerInclusive: false, upper: 1, upperInclusive: true),
                          defaultValue: .real(0.5), help: "in (0, 1]"),
            ParameterSpec(name: "mode", domain: .choice(["fast", "slow"]), defaultValue: .text("fast"), help: "a word"),
        ]
    }
    var resultMetricNames: [String] { [] }
    var curveMetricNames: [String] { [] }
    func crossCheck(_ p: ParameterSet) -> [ParameterProblem] {
        p.integer("total") % p.integer("parts") == 0 ? []
            : [ParameterProblem(parameter: "parts", found: String(p.integer("parts")), expected: "a divisor of total (\(p.integer("total")))")]
    }
    func estimatedSeconds(_ p: ParameterSet) -> Double { Double(p.integer("parts")) }
    func curveEpochs(_ p: ParameterSet) -> [String: Int] { [:] }
    func run(_ p: ParameterSet, context: TaskContext, onEpoch: (CurvePoint) -> Void) throws -> [Metric] { [] }
}

/// The catalog's families plus the test family.
let families: [String: any ExperimentFamily] = ExperimentCatalog.byName.merging(["toy": TestFamily()]) { a, _ in a }

func plan(_ yaml: String, limits: SweepLimits = .init()) throws -> SweepPlan {
    try SweepLoader.load(text: yaml, path: "test.yaml", families: families, limits: limits, commandFamily: ExperimentCatalog.commandFamily)
}

/// The errors of a spec that must not load (records an issue if it loads).
func errors(_ yaml: String, limits: SweepLimits = .init(), sourceLocation: SourceLocation = #_sourceLocation) -> [SpecError] {
    do {
        _ = try SweepLoader.load(text: yaml, path: "test.yaml", families: families, limits: limits, commandFamily: ExperimentCatalog.commandFamily)
        Issue.record("the spec loaded without errors", sourceLocation: sourceLocation)
        return []
    } catch {
        return error.errors
    }
}

/// The one error of a spec (records an issue when there are none or several).
func onlyError(_ yaml: String, limits: SweepLimits = .init(), sourceLocation: SourceLocation = #_sourceLocation) -> SpecError? {
    let all = errors(yaml, limits: limits, sourceLocation: sourceLocation)
    if all.count != 1 { Issue.record("expected one error, got \(all.count): \(all)", sourceLocation: sourceLocation) }
    return all.first
}

/// Each task's swept values as text, `name=value` joined by spaces, in plan order.
func rows(_ plan: SweepPlan, _ names: [String]) -> [String] {
    plan.tasks.map { task in names.map { "\($0)=\(task.parameters[$0]!.canonicalText)" }.joined(separator: " ") }
}
