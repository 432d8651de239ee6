import ExperimentAPI
import Experiments
import Testing

private let family = HierarchyExperiment()

private func resolved(_ given: [String: ParameterValue]) -> Result<ParameterSet, ParameterProblems> {
    family.resolve(given)
}

@Test func defaultsResolve() throws {
    let set = try resolved([:]).get()
    #expect(set.integer("granularity") == 8)
    #expect(set.integer("subclasses") == 8)
    #expect(set.text("alignment") == "aligned")
    let names = Set(family.parameters.map(\.name))
    for name in ["superclasses", "subclasses", "dim", "patches", "common_patches", "fine_patches", "rare_freq", "noise",
                 "alpha_lo", "alpha_hi", "feature_noise", "train_hard_frac", "granularity", "alignment", "pretrain",
                 "width", "finetune", "train_samples", "finetune_samples", "test_samples", "epochs", "finetune_epochs",
                 "batch_size", "learning_rate", "finetune_lr", "init_scale", "output_scale", "bias"] {
        #expect(names.contains(name), "missing parameter \(name)")
    }
    #expect(!names.contains("seed"))
    #expect(family.parameters.allSatisfy { !$0.help.isEmpty })
}

@Test(arguments: [
    (["granularity": ParameterValue.integer(3)], "granularity"),
    (["dim": .integer(17)], "dim"),
    (["common_patches": .integer(5), "fine_patches": .integer(4)], "common_patches"),
    (["alpha_lo": .real(2), "alpha_hi": .real(1)], "alpha_lo"),
    (["granularity": .integer(4096), "width": .integer(4096)], "width"),
    (["filters": .integer(100)], "filters"),
    (["pretrain": .text("none"), "filters": .integer(5)], "filters"),
    (["finetune_head": .text("inherited"), "pretrain": .text("none")], "finetune_head"),
    (["finetune_head": .text("inherited"), "finetune_labels": .text("fine")], "finetune_head"),
    (["samples_per_class": .integer(1_000_000), "granularity": .integer(32)], "samples_per_class"),
])
func badCombinationsAreReported(given: [String: ParameterValue], parameter: String) {
    switch resolved(given) {
    case .success: Issue.record("accepted \(given)")
    case .failure(let p):
        #expect(p.problems.map(\.parameter).contains(parameter), "\(p)")
        #expect(p.problems.allSatisfy { !$0.expected.isEmpty })
    }
}

@Test func goodCombinationsAreAccepted() {
    for given: [String: ParameterValue] in [["granularity": .integer(1)], ["granularity": .integer(2)], ["granularity": .integer(32)],
                                            ["subclasses": .integer(4), "granularity": .integer(12), "dim": .integer(10)],
                                            ["filters": .integer(256), "granularity": .integer(32)],
                                            ["pretrain": .text("none"), "filters": .integer(6), "granularity": .integer(2)]] {
        if case .failure(let p) = resolved(given) { Issue.record("rejected \(given): \(p)") }
    }
}

@Test func estimatedSecondsScalesWithWork() throws {
    let base = try resolved([:]).get()
    let wider = try resolved(["width": .integer(32)]).get()
    let none = try resolved(["pretrain": .text("none")]).get()
    let t = family.estimatedSeconds(base)
    #expect(t > 0.1 && t < 30)
    #expect(family.estimatedSeconds(wider) > 1.5 * t)
    #expect(family.estimatedSeconds(none) < t / 2)
}

@Test func runReportsTheDeclaredMetricsAndIsPureInThreads() throws {
    let set = try resolved([
        "subclasses": .integer(4), "granularity": .integer(4), "dim": .integer(16), "width": .integer(4),
        "train_samples": .integer(300), "finetune_samples": .integer(100), "test_samples": .integer(100),
        "epochs": .integer(2), "finetune_epochs": .integer(2), "seed": .integer(9),
    ]).get()
    var curve: [CurvePoint] = []
    let metrics = try TaskContext.withPool(threads: 1) { ctx in try family.run(set, context: ctx) { curve.append($0) } }
    #expect(metrics.map(\.name) == family.resultMetricNames)
    #expect(curve.map(\.phase) == ["pretrain", "pretrain", "finetune", "finetune"])
    #expect(curve.allSatisfy { $0.metrics.map(\.name) == family.curveMetricNames })
    let steps: Double? = metrics.first { $0.name == "steps" }?.value
    #expect(steps == Double(2 * 3 + 2 * 7))  // ceil(300/128) and ceil(100/16) steps an epoch
    var curve3: [CurvePoint] = []
    let metrics3 = try TaskContext.withPool(threads: 3) { ctx in try family.run(set, context: ctx) { curve3.append($0) } }
    #expect(metrics3 == metrics)
    #expect(curve3 == curve)
}
