import ExperimentAPI
import TrainingCore

/// The label-granularity experiment of SCIENCE.md behind ``ExperimentFamily``: hierarchical
/// multi-view data, a two-layer conv ReLU network pretrained at a label granularity, then
/// fine-tuned with a new coarse head and evaluated on easy and hard test sets.
///
/// Defaults (each `help` says what, the comments here say why) make a task informative and quick:
/// at the defaults a task takes about 1 s on one core of this machine class, and fine
/// pretraining (g = k = 8) reaches about 0.94 hard accuracy where coarse pretraining (g = 1)
/// stays near 0.63 and training from scratch near 0.74 (Benchmarks/README-core.md).
public struct HierarchyExperiment: ExperimentFamily {
    public init() {}

    public var name: String { "hierarchy" }
    /// The training core's version (see `TrainingCore.coreVersion`).
    public var bitsVersion: Int { TrainingCore.coreVersion }
    public var summary: String { "hierarchical multi-view data; pretrain a two-layer conv ReLU net at a label granularity, fine-tune on coarse labels" }

    private static func int(_ name: String, _ range: ClosedRange<Int>, _ value: Int, _ help: String) -> ParameterSpec {
        ParameterSpec(name: name, domain: .integer(range), defaultValue: .integer(value), help: help)
    }
    private static func real(_ name: String, _ lo: Double, _ loIn: Bool, _ hi: Double, _ hiIn: Bool, _ value: Double, _ help: String) -> ParameterSpec {
        ParameterSpec(name: name, domain: .real(lower: lo, lowerInclusive: loIn, upper: hi, upperInclusive: hiIn), defaultValue: .real(value), help: help)
    }
    private static func choice(_ name: String, _ words: [String], _ help: String) -> ParameterSpec {
        ParameterSpec(name: name, domain: .choice(words), defaultValue: .text(words[0]), help: help)
    }

    /// Largest filter count (C*m) and training-set size (floats) a task may ask for: beyond
    /// these a task needs more memory than a worker of this class has.
    static let maximumFilters = 262_144
    static let maximumTrainFloats = 1 << 30

    public var parameters: [ParameterSpec] {
        [
            // Data. K=2, k=8 is the smallest hierarchy with a U-shaped granularity axis
            // (g in 1, 2, 4, 8, 16, ...) and 16 leaves.
            Self.int("superclasses", 2...64, 2, "K: coarse classes (the fine-tuning task's classes)"),
            Self.int("subclasses", 1...256, 8, "k: fine classes per superclass"),
            // d=64 >= K(1+k)=18 leaves room for noise directions; a vector of 64 floats is 4 panels' rows.
            Self.int("dim", 2...4096, 64, "d: patch dimension (>= superclasses * (1 + subclasses))"),
            // P=8: 2 common + 2 fine patches leave 4 noise-only patches (feature-noise slots).
            Self.int("patches", 1...1024, 8, "P: patches per sample"),
            Self.int("common_patches", 0...1024, 2, "patches carrying the common feature in an easy sample"),
            Self.int("fine_patches", 1...1024, 2, "patches carrying the fine feature when present"),
            // 0.3: rare enough that coarse pretraining stops learning fine features once the common
            // ones fit the labels, frequent enough that fine pretraining learns all 16 of them.
            Self.real("rare_freq", 0, false, 1, true, 0.3, "probability that an easy sample carries its fine feature"),
            // sigma=0.5 against alpha~1: features clearly above the noise per patch, so the effect
            // measured is the one of the labels, not of the signal-to-noise ratio (sweep it).
            Self.real("noise", 0, true, .infinity, false, 0.5, "sigma: patch noise, E||noise||^2 = sigma^2"),
            Self.real("alpha_lo", 0, true, .infinity, false, 0.8, "lowest feature coefficient alpha (drawn per patch)"),
            Self.real("alpha_hi", 0, true, .infinity, false, 1.2, "highest feature coefficient alpha"),
            // Off by default: one more axis to sweep, not part of the core claim.
            Self.real("feature_noise", 0, true, .infinity, false, 0, "beta: each free patch carries, with probability 1/2, beta times a random other feature"),
            // 0: the papers' setting (hard samples only at test time).
            Self.real("train_hard_frac", 0, true, 1, true, 0, "fraction of hard samples in the pretraining and fine-tuning sets"),
            // Labels. g=8=k (leaf labels): the claim's "fine" end.
            Self.int("granularity", 1...65_536, 8, "g: pretraining classes per superclass (divides subclasses, or a multiple of it)"),
            Self.choice("alignment", ["aligned", "misaligned", "random"], "how pretraining labels relate to the hierarchy: misaligned groups subclasses across superclasses, random ignores the sample"),
            Self.choice("pretrain", ["supervised", "none"], "none: the from-scratch baseline (fine-tune from the random initialisation)"),
            // m=16: 256 filters at g=8, enough filters per class to pick up every feature of it.
            Self.int("width", 1...4096, 16, "m: filters per pretraining class"),
            Self.choice("finetune", ["probe", "full"], "probe trains a new coarse head on frozen filters; full also trains the filters"),
            // 4096 samples: every leaf has ~77 samples carrying its fine feature.
            Self.int("train_samples", 1...10_000_000, 4096, "pretraining samples"),
            // 512: a small labelled target set, as in transfer learning.
            Self.int("finetune_samples", 1...10_000_000, 512, "coarse-labelled fine-tuning samples"),
            // 1000 each: accuracy resolution 0.1%, binomial standard error <= 1.6%.
            Self.int("test_samples", 1...10_000_000, 1000, "samples in each of the easy and the hard test set"),
            // 20 epochs (640 steps): pretraining loss has flattened at the defaults.
            Self.int("epochs", 0...1_000_000, 20, "pretraining epochs"),
            Self.int("finetune_epochs", 0...1_000_000, 20, "fine-tuning epochs"),
            // 128: 8 fixed chunks of 16 samples, enough to feed every core of a worker.
            Self.int("batch_size", 1...65_536, 128, "mini-batch size (pretraining and fine-tuning)"),
            // 1.0: with s/m = 1/16 scaling of the logits, the largest rate that trains stably.
            Self.real("learning_rate", 0, false, .infinity, false, 1.0, "pretraining SGD step size"),
            // 0.1 on standardised features: converges in 20 epochs without oscillating (1.0 does).
            Self.real("finetune_lr", 0, false, .infinity, false, 0.1, "fine-tuning SGD step size (head inputs are standardised)"),
            // 0.01: small initialisation, features are learned rather than found at random.
            Self.real("init_scale", 0, false, .infinity, false, 0.01, "sigma0 * sqrt(dim): expected norm of an initial filter"),
            Self.real("output_scale", 0, false, .infinity, false, 1.0, "s: logits are F_j = (s / m) * sum_r sum_p ReLU(<w_jr, x_p> + b)"),
            // b=0: the plain ReLU of the papers' analysis.
            Self.real("bias", -10, true, 10, true, 0, "b: the ReLU bias"),
        ]
    }

    public var resultMetricNames: [String] {
        ["easy_acc", "hard_acc", "pretrain_acc", "common_align", "fine_align", "steps",
         "pretrain_hard_acc", "pretrain_loss", "finetune_loss"]
    }
    public var curveMetricNames: [String] { ["loss", "train_acc", "easy_acc", "hard_acc", "common_align", "fine_align"] }

    public func crossCheck(_ parameters: ParameterSet) -> [ParameterProblem] {
        var problems: [ParameterProblem] = []
        let K = parameters.integer("superclasses"), k = parameters.integer("subclasses")
        let g = parameters.integer("granularity"), d = parameters.integer("dim")
        let P = parameters.integer("patches")
        let common = parameters.integer("common_patches"), fine = parameters.integer("fine_patches")
        if !(k % g == 0 || g % k == 0) {
            problems.append(ParameterProblem(parameter: "granularity", found: String(g),
                                             expected: "a divisor of subclasses (\(k)) or a multiple of it"))
        }
        if d < K * (1 + k) {
            problems.append(ParameterProblem(parameter: "dim", found: String(d),
                                             expected: "an integer >= superclasses * (1 + subclasses) = \(K * (1 + k))"))
        }
        if common + fine > P {
            problems.append(ParameterProblem(parameter: "common_patches", found: "\(common) (+ fine_patches \(fine))",
                                             expected: "common_patches + fine_patches <= patches (\(P))"))
        }
        let lo = parameters.real("alpha_lo"), hi = parameters.real("alpha_hi")
        if lo > hi {
            problems.append(ParameterProblem(parameter: "alpha_lo", found: lo.description,
                                             expected: "a number <= alpha_hi (\(hi))"))
        }
        let filters = K * g * parameters.integer("width")
        if filters > Self.maximumFilters {
            problems.append(ParameterProblem(parameter: "width", found: "\(parameters.integer("width")) (superclasses * granularity * width = \(filters) filters)",
                                             expected: "superclasses * granularity * width <= \(Self.maximumFilters)"))
        }
        let floats = max(parameters.integer("train_samples"), parameters.integer("finetune_samples"), parameters.integer("test_samples")) * P * d
        if floats > Self.maximumTrainFloats {
            problems.append(ParameterProblem(parameter: "train_samples", found: "\(floats) floats in one sample set",
                                             expected: "samples * patches * dim <= \(Self.maximumTrainFloats)"))
        }
        return problems
    }

    /// Sustained rate of the kernels on one core, flops per second: the step benchmark measured
    /// about 80 GFLOP/s at the reference shape on one Zen4 core (haswell build); 50 allows for
    /// evaluation's smaller chunks, other shapes and older cores.
    static let flopsPerSecond = 50e9
    /// Data generation, seconds per generated float (Box-Muller noise dominates).
    static let secondsPerGeneratedFloat = 15e-9

    /// Flops of pretraining (4*P*d*F per sample per epoch), fine-tuning and the per-epoch
    /// evaluation of both test sets (2*P*d*F per sample) at ``flopsPerSecond``, plus data
    /// generation. With `probe` fine-tuning the filters are frozen, so the pooled activations of the
    /// fine-tuning and test sets are computed once (2*P*d*F per sample) and the fine-tuning epochs
    /// cost only the linear head (negligible); `full` fine-tuning costs 4*P*d*F per sample per epoch
    /// plus an evaluation of both test sets per epoch.
    public func estimatedSeconds(_ parameters: ParameterSet) -> Double {
        let P = Double(parameters.integer("patches")), d = Double(parameters.integer("dim"))
        let F = Double(parameters.integer("superclasses") * parameters.integer("granularity") * parameters.integer("width"))
        let perSample = P * d * F
        let supervised = parameters.text("pretrain") == "supervised"
        let epochs = supervised ? Double(parameters.integer("epochs")) : 0
        let finetuneEpochs = Double(parameters.integer("finetune_epochs"))
        let train = supervised ? Double(parameters.integer("train_samples")) : 0
        let finetune = Double(parameters.integer("finetune_samples"))
        let test = Double(parameters.integer("test_samples"))
        let full = parameters.text("finetune") == "full"
        // Forward passes over both test sets: per pretraining epoch, once after pretraining, and
        // (full) per fine-tuning epoch and once more for the head's standardisation pass.
        let testPasses = epochs + 1 + (full ? finetuneEpochs : 0)
        let finetuneFlops = full ? (finetuneEpochs * 4 + 2) * finetune * perSample : 2 * finetune * perSample
        let flops = epochs * train * 4 * perSample + finetuneFlops + testPasses * 2 * test * 2 * perSample
        let generated = (train + finetune + 2 * test) * P * d
        return flops / Self.flopsPerSecond + generated * Self.secondsPerGeneratedFloat
    }

    /// The core configuration of a resolved parameter set.
    public func configuration(_ p: ParameterSet) -> HierarchyConfig {
        var c = HierarchyConfig()
        c.superclasses = p.integer("superclasses")
        c.subclasses = p.integer("subclasses")
        c.dim = p.integer("dim")
        c.patches = p.integer("patches")
        c.commonPatches = p.integer("common_patches")
        c.finePatches = p.integer("fine_patches")
        c.rareFrequency = p.real("rare_freq")
        c.noise = p.real("noise")
        c.alphaLow = p.real("alpha_lo")
        c.alphaHigh = p.real("alpha_hi")
        c.featureNoise = p.real("feature_noise")
        c.trainHardFraction = p.real("train_hard_frac")
        c.granularity = p.integer("granularity")
        c.alignment = HierarchyConfig.Alignment(rawValue: p.text("alignment")) ?? .aligned
        c.pretraining = HierarchyConfig.Pretraining(rawValue: p.text("pretrain")) ?? .supervised
        c.finetuning = HierarchyConfig.Finetuning(rawValue: p.text("finetune")) ?? .probe
        c.width = p.integer("width")
        c.trainSamples = p.integer("train_samples")
        c.finetuneSamples = p.integer("finetune_samples")
        c.testSamples = p.integer("test_samples")
        c.epochs = p.integer("epochs")
        c.finetuneEpochs = p.integer("finetune_epochs")
        c.batchSize = p.integer("batch_size")
        c.learningRate = p.real("learning_rate")
        c.finetuneLearningRate = p.real("finetune_lr")
        c.initScale = p.real("init_scale")
        c.outputScale = p.real("output_scale")
        c.bias = p.real("bias")
        c.seed = UInt64(p.integer("seed"))
        return c
    }

    public func curveEpochs(_ parameters: ParameterSet) -> [String: Int] {
        let config = configuration(parameters)
        return ["pretrain": config.pretraining == .supervised ? config.epochs : 0, "finetune": config.finetuneEpochs]
    }

    public func run(_ parameters: ParameterSet, context: TaskContext, onEpoch: (CurvePoint) -> Void) throws -> [Metric] {
        let problems = crossCheck(parameters)
        if !problems.isEmpty { throw ParameterProblems(problems) }
        let config = configuration(parameters)
        let cancellation = context.cancellation
        let r: HierarchyResult
        do {
            r = try runHierarchyTask(config, pool: context.pool, shouldStop: { cancellation.isCancelled }) { e in
            onEpoch(CurvePoint(phase: e.phase.rawValue, epoch: e.epoch, metrics: [
                Metric("loss", e.loss), Metric("train_acc", e.trainAccuracy),
                Metric("easy_acc", e.easyAccuracy), Metric("hard_acc", e.hardAccuracy),
                Metric("common_align", e.commonAlignment), Metric("fine_align", e.fineAlignment),
            ]))
            }
        } catch {
            throw TaskCancelled()
        }
        return [
            Metric("easy_acc", r.easyAccuracy), Metric("hard_acc", r.hardAccuracy),
            Metric("pretrain_acc", r.pretrainAccuracy), Metric("common_align", r.commonAlignment),
            Metric("fine_align", r.fineAlignment), Metric("steps", Double(r.steps)),
            Metric("pretrain_hard_acc", r.pretrainHardAccuracy), Metric("pretrain_loss", r.pretrainLoss),
            Metric("finetune_loss", r.finetuneLoss),
        ]
    }
}
