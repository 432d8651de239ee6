import ExperimentAPI
import TrainingCore

/// STUB to be completed by the training-core work: the label-granularity experiment of SCIENCE.md
/// behind ExperimentFamily. Parameter names follow SCIENCE.md; defaults here are placeholders.
public struct HierarchyExperiment: ExperimentFamily {
    public init() {}

    public var name: String { "hierarchy" }
    public var summary: String { "hierarchical multi-view data; pretrain a two-layer conv ReLU net at a label granularity, fine-tune on coarse labels" }

    private static func int(_ name: String, _ range: ClosedRange<Int>, _ value: Int, _ help: String) -> ParameterSpec {
        ParameterSpec(name: name, domain: .integer(range), defaultValue: .integer(value), help: help)
    }
    private static func real(_ name: String, _ lo: Double, _ loIn: Bool, _ hi: Double, _ hiIn: Bool, _ value: Double, _ help: String) -> ParameterSpec {
        ParameterSpec(name: name, domain: .real(lower: lo, lowerInclusive: loIn, upper: hi, upperInclusive: hiIn), defaultValue: .real(value), help: help)
    }

    public var parameters: [ParameterSpec] {
        [
            Self.int("superclasses", 2...64, 2, "K: coarse classes"),
            Self.int("subclasses", 1...256, 8, "k: fine classes per superclass"),
            Self.int("granularity", 1...65_536, 8, "g: pretraining classes per superclass"),
            Self.real("rare_freq", 0, false, 1, true, 0.3, "probability that an easy sample carries its fine feature"),
            Self.real("noise", 0, true, .infinity, false, 0.5, "sigma: patch noise, E||noise||^2 = sigma^2"),
            Self.int("width", 1...4096, 16, "m: filters per pretraining class"),
            Self.int("dim", 2...4096, 64, "d: patch dimension"),
            Self.int("patches", 1...1024, 8, "P: patches per sample"),
            ParameterSpec(name: "alignment", domain: .choice(["aligned", "misaligned", "random"]), defaultValue: .text("aligned"), help: "how pretraining labels relate to the hierarchy"),
            ParameterSpec(name: "pretrain", domain: .choice(["supervised", "none"]), defaultValue: .text("supervised"), help: "none: the from-scratch baseline"),
            ParameterSpec(name: "finetune", domain: .choice(["probe", "full"]), defaultValue: .text("probe"), help: "probe freezes the filters"),
        ]
    }

    public var resultMetricNames: [String] { ["easy_acc", "hard_acc", "pretrain_acc", "common_align", "fine_align", "steps"] }
    public var curveMetricNames: [String] { ["loss", "train_acc", "easy_acc", "hard_acc", "common_align", "fine_align"] }

    public func crossCheck(_ parameters: ParameterSet) -> [ParameterProblem] {
        let k = parameters.integer("subclasses"), g = parameters.integer("granularity")
        if !(k % g == 0 || g % k == 0) {
            return [ParameterProblem(parameter: "granularity", found: String(g), expected: "a divisor of subclasses (\(k)) or a multiple of it")]
        }
        return []
    }

    public func estimatedSeconds(_ parameters: ParameterSet) -> Double { 1 }

    public func run(_ parameters: ParameterSet, threads: Int, onEpoch: (CurvePoint) -> Void) throws -> [Metric] {
        fatalError("stub: the training core is being written")
    }
}
