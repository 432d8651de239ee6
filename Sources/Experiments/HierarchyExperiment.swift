import ExperimentAPI
import TrainingCore

extension HierarchyConfig.Alignment: ChoiceParameter {}
extension HierarchyConfig.Pretraining: ChoiceParameter {}
extension HierarchyConfig.Finetuning: ChoiceParameter {}
extension HierarchyConfig.FinetuneLabels: ChoiceParameter {}
extension HierarchyConfig.FinetuneHead: ChoiceParameter {}

/// The label-granularity experiment of SCIENCE.md behind ``ExperimentFamily``: hierarchical
/// multi-view data, a two-layer conv ReLU network pretrained at a label granularity, then
/// fine-tuned with a new coarse head and evaluated on easy and hard test sets.
///
/// Defaults (each `help` says what, the comments here say why) make a task informative and quick:
/// at the defaults a task takes about 0.6 s on two cores of this machine class, and fine
/// pretraining (g = k = 8) reaches 0.93 hard accuracy where coarse pretraining (g = 1) stays at
/// 0.61 and training from scratch (256 filters) at 0.65 (`sweeps/quickstart.yaml`, 8 seeds,
/// core version 2; the README's findings).
public struct HierarchyExperiment: ExperimentFamily {
    public init() {}

    public var name: String { "hierarchy" }
    /// The training core's version (see `TrainingCore.coreVersion`).
    public var bitsVersion: Int { TrainingCore.coreVersion }
    public var summary: String { "hierarchical multi-view data; pretrain a two-layer conv ReLU net at a label granularity, fine-tune on coarse labels" }

    /// Largest filter count (C*m) and training-set size (floats) a task may ask for: beyond
    /// these a task needs more memory than a worker of this class has.
    static let maximumFilters = 262_144
    static let maximumTrainFloats = 1 << 30

    /// The family's parameters in CSV column order, declared once and read through these keys.
    public enum Keys {
        // Data. K=2, k=8 is the smallest hierarchy with a U-shaped granularity axis
        // (g in 1, 2, 4, 8, 16, ...) and 16 leaves.
        public static let superclasses = ParameterKey<Int>("superclasses", 2...64, default: 2, help: "K: coarse classes (the fine-tuning task's classes)")
        public static let subclasses = ParameterKey<Int>("subclasses", 1...256, default: 8, help: "k: fine classes per superclass")
        // d=64 >= K(1+k)=18 leaves room for noise directions; a vector of 64 floats is 4 panels' rows.
        public static let dim = ParameterKey<Int>("dim", 2...4096, default: 64, help: "d: patch dimension (>= superclasses * (1 + subclasses))")
        // P=8: 2 common + 2 fine patches leave 4 noise-only patches (feature-noise slots).
        public static let patches = ParameterKey<Int>("patches", 1...1024, default: 8, help: "P: patches per sample")
        public static let commonPatches = ParameterKey<Int>("common_patches", 0...1024, default: 2, help: "patches carrying the common feature in an easy sample")
        public static let finePatches = ParameterKey<Int>("fine_patches", 1...1024, default: 2, help: "patches carrying the fine feature when present")
        // 0.3: rare enough that coarse pretraining stops learning fine features once the common
        // ones fit the labels, frequent enough that fine pretraining learns all 16 of them.
        public static let rareFreq = ParameterKey<Double>(
            "rare_freq", lower: 0, lowerInclusive: false, upper: 1, upperInclusive: true, default: 0.3, help: "probability that an easy sample carries its fine feature")
        // sigma=0.5 against alpha~1: features clearly above the noise per patch, so the effect
        // measured is the one of the labels, not of the signal-to-noise ratio (sweep it).
        public static let noise = ParameterKey<Double>(
            "noise", lower: 0, lowerInclusive: true, upper: .infinity, upperInclusive: false, default: 0.5, help: "sigma: patch noise, E||noise||^2 = sigma^2")
        public static let alphaLo = ParameterKey<Double>(
            "alpha_lo", lower: 0, lowerInclusive: true, upper: .infinity, upperInclusive: false, default: 0.8, help: "lowest feature coefficient alpha (drawn per patch)")
        public static let alphaHi = ParameterKey<Double>(
            "alpha_hi", lower: 0, lowerInclusive: true, upper: .infinity, upperInclusive: false, default: 1.2, help: "highest feature coefficient alpha")
        // Off by default: one more axis to sweep, not part of the core claim.
        public static let featureNoise = ParameterKey<Double>(
            "feature_noise", lower: 0, lowerInclusive: true, upper: .infinity, upperInclusive: false, default: 0, help: "beta: each free patch carries, with probability 1/2, beta times a random other feature")
        // 0: the papers' setting (hard samples only at test time).
        public static let trainHardFrac = ParameterKey<Double>(
            "train_hard_frac", lower: 0, lowerInclusive: true, upper: 1, upperInclusive: true, default: 0, help: "fraction of hard samples in the pretraining and fine-tuning sets")
        // Labels. g=8=k (leaf labels): the claim's "fine" end.
        public static let granularity = ParameterKey<Int>("granularity", 1...65_536, default: 8, help: "g: pretraining classes per superclass (divides subclasses, or a multiple of it)")
        public static let alignment = ParameterKey<HierarchyConfig.Alignment>("alignment", default: .aligned, help: "how pretraining labels relate to the hierarchy: misaligned groups subclasses across superclasses, random ignores the sample")
        public static let pretrain = ParameterKey<HierarchyConfig.Pretraining>("pretrain", default: .supervised, help: "none: the from-scratch baseline (fine-tune from the random initialisation)")
        // m=16: 256 filters at g=8, enough filters per class to pick up every feature of it.
        public static let width = ParameterKey<Int>("width", 1...4096, default: 16, help: "m: filters per pretraining class")
        // 0: the papers' network, m filters per pretraining class. Set it to hold the network's
        // size fixed across granularities, or to size the from-scratch baseline.
        public static let filters = ParameterKey<Int>("filters", 0...262_144, default: 0, help: "total filters, a multiple of superclasses * granularity; 0: superclasses * granularity * width (baseline: superclasses * subclasses * width)")
        public static let finetune = ParameterKey<HierarchyConfig.Finetuning>("finetune", default: .probe, help: "probe trains a new head on frozen filters; full also trains the filters")
        // coarse: the papers' transfer (fine-grained pretraining, coarse target).
        public static let finetuneLabels = ParameterKey<HierarchyConfig.FinetuneLabels>("finetune_labels", default: .coarse, help: "what fine-tuning predicts and is evaluated on: coarse (superclasses) or fine (leaves)")
        // new: the papers' protocol; inherited starts from the pretrained network mapped to superclasses.
        public static let finetuneHead = ParameterKey<HierarchyConfig.FinetuneHead>("finetune_head", default: .new, help: "new: a zero head; inherited: the pretrained classes' outputs summed per superclass")
        // 4096 samples: every leaf has ~77 samples carrying its fine feature.
        public static let trainSamples = ParameterKey<Int>("train_samples", 1...10_000_000, default: 4096, help: "pretraining samples")
        // 0: train_samples fixed across granularities. Set it to hold each class's sample count fixed.
        public static let samplesPerClass = ParameterKey<Int>("samples_per_class", 0...1_000_000, default: 0, help: "when > 0, pretraining samples = superclasses * granularity * samples_per_class (replaces train_samples)")
        // 512: a small labelled target set, as in transfer learning.
        public static let finetuneSamples = ParameterKey<Int>("finetune_samples", 1...10_000_000, default: 512, help: "fine-tuning samples (labelled by finetune_labels)")
        // 1000 each: accuracy resolution 0.1%, binomial standard error <= 1.6%.
        public static let testSamples = ParameterKey<Int>("test_samples", 1...10_000_000, default: 1000, help: "samples in each of the easy and the hard test set")
        // 20 epochs (640 steps): pretraining loss has flattened at the defaults.
        public static let epochs = ParameterKey<Int>("epochs", 0...1_000_000, default: 20, help: "pretraining epochs")
        // 1000: a cap; the convergence rule (finetune_tol) normally stops fine-tuning before it.
        public static let finetuneEpochs = ParameterKey<Int>("finetune_epochs", 0...1_000_000, default: 1000, help: "most fine-tuning epochs (fewer once converged, see finetune_tol)")
        // 1%: on separable data the loss falls like 1/t, so this stops after a few hundred epochs,
        // where the hard accuracy has settled to within about 0.01 (README, "Fine-tuning").
        public static let finetuneTol = ParameterKey<Double>(
            "finetune_tol", lower: 0, lowerInclusive: true, upper: 1, upperInclusive: false, default: 0.01, help: "fine-tuning stops when 5 epochs in a row do not lower the training loss below (1 - finetune_tol) times its lowest before them; 0: run every epoch")
        // 128: 8 fixed chunks of 16 samples, enough to feed every core of a worker.
        public static let batchSize = ParameterKey<Int>("batch_size", 1...65_536, default: 128, help: "pretraining mini-batch size")
        // 16: 32 steps an epoch on 512 samples (one chunk of the kernels).
        public static let finetuneBatchSize = ParameterKey<Int>("finetune_batch_size", 1...65_536, default: 16, help: "fine-tuning mini-batch size")
        // 1.0: with s/m = 1/16 scaling of the logits, the largest rate that trains stably.
        public static let learningRate = ParameterKey<Double>(
            "learning_rate", lower: 0, lowerInclusive: false, upper: .infinity, upperInclusive: false, default: 1.0, help: "pretraining SGD step size")
        // 0.1 on standardised features: converges in 20 epochs without oscillating (1.0 does).
        public static let finetuneLr = ParameterKey<Double>(
            "finetune_lr", lower: 0, lowerInclusive: false, upper: .infinity, upperInclusive: false, default: 0.1, help: "fine-tuning SGD step size of the head (its inputs are standardised)")
        // 10: each filter's step is scaled to its own size (ConvEngine.filterStepScale); at the
        // defaults 1 moved the filters by about 2% (filter_change), 10 by about 14% (24% for the
        // baseline), and hard accuracy changed by under 0.03 (README, "Fine-tuning").
        public static let finetuneFilterLr = ParameterKey<Double>(
            "finetune_filter_lr", lower: 0, lowerInclusive: false, upper: .infinity, upperInclusive: false, default: 10, help: "fine-tuning SGD step size of the filters (finetune: full); each filter's step is also scaled by its squared RMS output, so it moves in proportion to its size")
        // 0.01: small initialisation, features are learned rather than found at random.
        public static let initScale = ParameterKey<Double>(
            "init_scale", lower: 0, lowerInclusive: false, upper: .infinity, upperInclusive: false, default: 0.01, help: "sigma0 * sqrt(dim): expected norm of an initial filter")
        public static let outputScale = ParameterKey<Double>(
            "output_scale", lower: 0, lowerInclusive: false, upper: .infinity, upperInclusive: false, default: 1.0, help: "s: logits are F_j = (s / m) * sum_r sum_p ReLU(<w_jr, x_p> + b)")
        // b=0: the plain ReLU of the papers' analysis.
        public static let bias = ParameterKey<Double>(
            "bias", lower: -10, lowerInclusive: true, upper: 10, upperInclusive: true, default: 0, help: "b: the ReLU bias")
    }

    public var parameters: [ParameterSpec] {
        [
            Keys.superclasses.spec,
            Keys.subclasses.spec,
            Keys.dim.spec,
            Keys.patches.spec,
            Keys.commonPatches.spec,
            Keys.finePatches.spec,
            Keys.rareFreq.spec,
            Keys.noise.spec,
            Keys.alphaLo.spec,
            Keys.alphaHi.spec,
            Keys.featureNoise.spec,
            Keys.trainHardFrac.spec,
            Keys.granularity.spec,
            Keys.alignment.spec,
            Keys.pretrain.spec,
            Keys.width.spec,
            Keys.filters.spec,
            Keys.finetune.spec,
            Keys.finetuneLabels.spec,
            Keys.finetuneHead.spec,
            Keys.trainSamples.spec,
            Keys.samplesPerClass.spec,
            Keys.finetuneSamples.spec,
            Keys.testSamples.spec,
            Keys.epochs.spec,
            Keys.finetuneEpochs.spec,
            Keys.finetuneTol.spec,
            Keys.batchSize.spec,
            Keys.finetuneBatchSize.spec,
            Keys.learningRate.spec,
            Keys.finetuneLr.spec,
            Keys.finetuneFilterLr.spec,
            Keys.initScale.spec,
            Keys.outputScale.spec,
            Keys.bias.spec,
        ]
    }

    public var resultMetricNames: [String] {
        ["easy_acc", "hard_acc", "pretrain_acc", "common_align", "fine_align", "steps",
         "pretrain_hard_acc", "pretrain_loss", "finetune_loss",
         "finetune_epochs_run", "finetune_converged", "filter_change", "head_fine_weight"]
    }
    public var curveMetricNames: [String] { ["loss", "train_acc", "easy_acc", "hard_acc", "common_align", "fine_align"] }

    /// Every combination that makes no sense, judged on the typed configuration (the one place
    /// where combinations are checked; `run` calls it too).
    public func crossCheck(_ parameters: ParameterSet) -> [ParameterProblem] {
        let c = configuration(parameters)
        var problems: [ParameterProblem] = []
        let (K, k, g, d, P) = (c.superclasses, c.subclasses, c.granularity, c.dim, c.patches)
        if !(k % g == 0 || g % k == 0) {
            problems.append(ParameterProblem(parameter: Keys.granularity.name, found: String(g),
                                             expected: "a divisor of subclasses (\(k)) or a multiple of it"))
        }
        if d < K * (1 + k) {
            problems.append(ParameterProblem(parameter: Keys.dim.name, found: String(d),
                                             expected: "an integer >= superclasses * (1 + subclasses) = \(K * (1 + k))"))
        }
        if c.commonPatches + c.finePatches > P {
            problems.append(ParameterProblem(parameter: Keys.commonPatches.name, found: "\(c.commonPatches) (+ fine_patches \(c.finePatches))",
                                             expected: "common_patches + fine_patches <= patches (\(P))"))
        }
        if c.alphaLow > c.alphaHigh {
            problems.append(ParameterProblem(parameter: Keys.alphaLo.name, found: c.alphaLow.description,
                                             expected: "a number <= alpha_hi (\(c.alphaHigh))"))
        }
        if c.filterCount > 0 {
            if c.pretraining == .supervised && c.filterCount % (K * g) != 0 {
                problems.append(ParameterProblem(parameter: Keys.filters.name, found: String(c.filterCount),
                                                 expected: "0 or a multiple of superclasses * granularity (\(K * g)), so that every class has as many filters"))
            } else if c.pretraining == .none && c.filterCount % K != 0 {
                problems.append(ParameterProblem(parameter: Keys.filters.name, found: String(c.filterCount),
                                                 expected: "0 or a multiple of superclasses (\(K))"))
            }
        } else if c.filters > Self.maximumFilters {
            problems.append(ParameterProblem(parameter: Keys.width.name, found: "\(c.width) (\(c.filters) filters)",
                                             expected: "superclasses * granularity * width <= \(Self.maximumFilters)"))
        }
        if c.finetuneHead == .inherited && c.pretraining == .none {
            problems.append(ParameterProblem(parameter: Keys.finetuneHead.name, found: "inherited (pretrain is none)",
                                             expected: "new: there is no pretrained network to inherit from"))
        }
        if c.finetuneHead == .inherited && c.finetuneLabels == .fine {
            problems.append(ParameterProblem(parameter: Keys.finetuneHead.name, found: "inherited (finetune_labels is fine)",
                                             expected: "new, or finetune_labels: coarse (classes map to superclasses, not leaves)"))
        }
        if c.trainSamples > 10_000_000 {
            problems.append(ParameterProblem(parameter: Keys.samplesPerClass.name, found: "\(c.trainSamples) pretraining samples",
                                             expected: "superclasses * granularity * samples_per_class <= 10000000"))
        }
        let floats = max(c.trainSamples, c.finetuneSamples, c.testSamples) * P * d
        if floats > Self.maximumTrainFloats {
            problems.append(ParameterProblem(parameter: Keys.trainSamples.name, found: "\(floats) floats in one sample set",
                                             expected: "samples * patches * dim <= \(Self.maximumTrainFloats)"))
        }
        return problems
    }

    /// The report's figures: accuracy after fine-tuning against granularity (hard and easy test
    /// sets) with the from-scratch baseline, the pretrained network's own hard accuracy, the
    /// fine-tuned head's weight on fine features, fine- against common-feature alignment, and the
    /// learning curves (hard accuracy and loss per phase).
    public var figures: [FigureDeclaration] {
        let scratch = FigureDeclaration.Reference(
            parameter: Keys.pretrain.name, value: "none", label: "from scratch (pretrain: none)", lineLabel: "from scratch",
            ignoring: [Keys.alignment.name, Keys.granularity.name], color: "#888888")
        // The curves keep the baseline to the panels of its own values (alignment included).
        let scratchCurves = FigureDeclaration.Reference(
            parameter: Keys.pretrain.name, value: "none", label: "from scratch (pretrain: none)", lineLabel: "from scratch",
            color: "#888888", matchesEveryFacet: true)
        let granularity = FigureDeclaration.XAxis.parameter(Keys.granularity.name, log2: true)
        let granularityLabel = "label granularity g (classes per superclass, log2)"
        func accuracyCaption(_ axis: String) -> String {
            "Mean over seeds with 95% t-intervals (error bars) of the \(axis) after fine-tuning on coarse labels, "
                + "against the number of pretraining classes per superclass g (g = 1: coarse; g = subclasses: leaf level; larger: "
                + "finer than the features). One line per rare-feature frequency"
        }
        func accuracy(_ metric: String, what: String, axis: String) -> FigureDeclaration {
            FigureDeclaration(
                name: "\(metric)_vs_granularity", title: "\(what) accuracy after fine-tuning vs. pretraining label granularity",
                x: granularity, y: metric, series: Keys.rareFreq.name, otherFacets: true, reference: scratch,
                caption: "The \(axis) after fine-tuning, against the number of pretraining classes per superclass g (g = 1: coarse; "
                    + "g = subclasses: leaf level; larger: finer than the features). One line per rare-feature frequency; the "
                    + "from-scratch baseline (pretrain: none) at that frequency is the line of the same color.",
                presentation: .init(xLabel: granularityLabel, yLabel: "\(axis) (fraction)", yLimits: 0...1,
                                    legendTitle: "rare-feature frequency",
                                    flatSentence: "\(what) accuracy against granularity is not drawn: %metric is %value in all %tasks tasks.",
                                    xName: "g", panelWidth: 340,
                                    captionTemplate: accuracyCaption(axis) + "; dashed lines in the same color are the from-scratch baseline "
                                        + "(pretrain: none) at that frequency, the mean over its seeds (%refn per line), shaded by its 95% "
                                        + "t-interval where it has two seeds or more.%panels",
                                    captionWithoutReference: accuracyCaption(axis) + ".%panels"))
        }
        var figures = [
            accuracy("hard_acc", what: "Hard-sample", axis: "hard-sample test accuracy"),
            accuracy("easy_acc", what: "Easy-sample", axis: "easy-sample test accuracy"),
            FigureDeclaration(
                name: "alignment_scatter", title: "Fine-feature vs. common-feature alignment of the learned filters",
                x: .metric("common_align"), y: "fine_align", series: Keys.granularity.name, reference: scratch,
                caption: "Alignment is the mean over features v of the largest cosine <w, v>/‖w‖ over the filters w: near 1, "
                    + "some filter points at the feature. Colors run from coarse (dark) to fine (light) labels.",
                presentation: .init(xLabel: "common-feature alignment (cosine)", yLabel: "fine-feature alignment (cosine)",
                                    legendTitle: "granularity g", seriesName: "g", palette: .sequential,
                                    xName: "common", yName: "fine", panelWidth: 340,
                                    captionTemplate: "One point per finished task (every seed and setting). Alignment is the mean over "
                                        + "features v of the largest cosine <w, v>/‖w‖ over the pretrained filters w: near 1, some filter "
                                        + "points at the feature. Colors run from coarse (dark) to fine (light) labels.")),
        ]
        for metric in ["hard_acc", "loss"] {
            for phase in ["pretrain", "finetune"] {
                let phaseText = phase == "pretrain" ? "pretraining" : "fine-tuning"
                let what = metric == "loss" ? "training loss" : "hard-sample accuracy"
                figures.append(FigureDeclaration(
                    name: "curves_\(metric)_\(phase)", title: "Learning curves (\(phaseText)): \(what) per epoch",
                    x: .epoch(phase: phase), y: metric, series: Keys.granularity.name, facets: [Keys.rareFreq.name], otherFacets: true,
                    reference: scratchCurves,
                    caption: "The \(metric == "loss" ? "training loss" : "hard-sample test accuracy") after each \(phaseText) epoch, "
                        + "one line per label granularity, the from-scratch baseline dashed.",
                    presentation: .init(
                        xLabel: "\(phaseText) epoch",
                        yLabel: metric == "loss" ? "mean training loss of the epoch" : "hard-sample test accuracy (fraction)",
                        yLimits: metric == "loss" ? 0...Double.greatestFiniteMagnitude : 0...1, legendTitle: "granularity g (%n seeds)", seriesName: "g",
                        flatSentence: "Learning curves (\(phaseText)) of \(what) are not drawn: %metric is %value at every epoch of all %tasks tasks.",
                        palette: .sequential, panelWidth: 340,
                        captionTemplate: "Mean over tasks (seeds) of the \(metric == "loss" ? "training loss" : "hard-sample test accuracy") "
                            + "after each \(phaseText) epoch, one line per label granularity; the shaded band is the 95% t-interval over "
                            + "seeds at each epoch (%n seeds per point; each point's tooltip gives its own).%panels")))
            }
        }
        figures += [
            FigureDeclaration(
                name: "pretrain_hard_acc_vs_granularity",
                title: "Hard-sample accuracy of the pretrained network itself vs. granularity",
                x: granularity, y: "pretrain_hard_acc", series: Keys.rareFreq.name, otherFacets: true,
                only: [Keys.pretrain.name: ["supervised"]],
                caption: "The pretrained network before fine-tuning, each pretraining class mapped to the superclass most of its "
                    + "samples belong to. Against the hard-sample accuracy after fine-tuning (first figure), the gap is what "
                    + "fine-tuning a new head loses of what pretraining learned.",
                presentation: .init(xLabel: granularityLabel, yLabel: "hard-sample accuracy, pretrained (fraction)", yLimits: 0...1,
                                    legendTitle: "rare-feature frequency", xName: "g", panelWidth: 340)),
            FigureDeclaration(
                name: "head_fine_weight_vs_granularity",
                title: "The fine-tuned head's weight on fine-feature filters vs. granularity",
                x: granularity, y: "head_fine_weight", series: Keys.rareFreq.name, otherFacets: true, reference: scratch,
                caption: "The share of the head's weight (|V| on standardised filter outputs) on filters whose closest feature is a "
                    + "fine one. Hard samples carry no common feature: a head that weighs only common-feature filters cannot "
                    + "classify them, whatever the filters learned.",
                presentation: .init(xLabel: granularityLabel, yLabel: "head weight on fine-feature filters (share)", yLimits: 0...1,
                                    legendTitle: "rare-feature frequency", xName: "g", panelWidth: 340)),
        ]
        return figures
    }

    /// Sustained rate of the kernels on one core, flops per second: the step benchmark measured
    /// about 80 GFLOP/s at the reference shape on one Zen4 core (haswell build); 50 allows for
    /// evaluation's smaller chunks, other shapes and older cores.
    static let flopsPerSecond = 50e9
    /// Data generation, seconds per generated float (Box-Muller noise dominates).
    static let secondsPerGeneratedFloat = 15e-9
    /// Fine-tuning epochs run before the convergence rule stops them, for time estimates.
    static let typicalFinetuneEpochs = 60

    /// Flops of pretraining (4*P*d*F per sample per epoch), fine-tuning and the per-epoch
    /// evaluation of both test sets (2*P*d*F per sample) at ``flopsPerSecond``, plus data
    /// generation. With `probe` fine-tuning the filters are frozen, so the pooled activations of the
    /// fine-tuning and test sets are computed once (2*P*d*F per sample) and the fine-tuning epochs
    /// cost only the linear head (negligible); `full` fine-tuning costs 4*P*d*F per sample per epoch
    /// plus an evaluation of both test sets per epoch.
    public func estimatedSeconds(_ parameters: ParameterSet) -> Double {
        let c = configuration(parameters)
        let P = Double(c.patches), d = Double(c.dim)
        let F = Double(c.filters)
        let perSample = P * d * F
        let supervised = c.pretraining == .supervised
        let epochs = supervised ? Double(c.epochs) : 0
        // Fine-tuning usually converges well before its cap (finetune_tol).
        let finetuneEpochs = Double(c.finetuneTolerance > 0 ? min(c.finetuneEpochs, Self.typicalFinetuneEpochs) : c.finetuneEpochs)
        let train = supervised ? Double(c.trainSamples) : 0
        let finetune = Double(c.finetuneSamples)
        let test = Double(c.testSamples)
        let full = c.finetuning == .full
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
        c.superclasses = p[Keys.superclasses]
        c.subclasses = p[Keys.subclasses]
        c.dim = p[Keys.dim]
        c.patches = p[Keys.patches]
        c.commonPatches = p[Keys.commonPatches]
        c.finePatches = p[Keys.finePatches]
        c.rareFrequency = p[Keys.rareFreq]
        c.noise = p[Keys.noise]
        c.alphaLow = p[Keys.alphaLo]
        c.alphaHigh = p[Keys.alphaHi]
        c.featureNoise = p[Keys.featureNoise]
        c.trainHardFraction = p[Keys.trainHardFrac]
        c.granularity = p[Keys.granularity]
        c.alignment = p[Keys.alignment]
        c.pretraining = p[Keys.pretrain]
        c.finetuning = p[Keys.finetune]
        c.width = p[Keys.width]
        c.filterCount = p[Keys.filters]
        c.finetuneLabels = p[Keys.finetuneLabels]
        c.finetuneHead = p[Keys.finetuneHead]
        c.trainSamples = p[Keys.trainSamples]
        let perClass = p[Keys.samplesPerClass]
        if perClass > 0 && c.pretraining == .supervised { c.trainSamples = c.superclasses * c.granularity * perClass }
        c.finetuneSamples = p[Keys.finetuneSamples]
        c.testSamples = p[Keys.testSamples]
        c.epochs = p[Keys.epochs]
        c.finetuneEpochs = p[Keys.finetuneEpochs]
        c.finetuneTolerance = p[Keys.finetuneTol]
        c.batchSize = p[Keys.batchSize]
        c.finetuneBatchSize = p[Keys.finetuneBatchSize]
        c.learningRate = p[Keys.learningRate]
        c.finetuneLearningRate = p[Keys.finetuneLr]
        c.finetuneFilterLearningRate = p[Keys.finetuneFilterLr]
        c.initScale = p[Keys.initScale]
        c.outputScale = p[Keys.outputScale]
        c.bias = p[Keys.bias]
        c.seed = UInt64(p[.seed])
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
            Metric("finetune_epochs_run", Double(r.finetuneEpochsRun)), Metric("finetune_converged", r.finetuneConverged ? 1 : 0),
            Metric("filter_change", r.filterChange), Metric("head_fine_weight", r.headFineWeight),
        ]
    }
}
