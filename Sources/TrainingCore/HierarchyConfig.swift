/// Every constant of one task of the label-granularity experiment (SCIENCE.md): the data
/// distribution, the labels, the network and the training schedule, plus the seed.
///
/// The result of ``runHierarchyTask(_:threads:onEpoch:)`` is a pure function of this value.
/// Defaults are the experiment's defaults; `HierarchyExperiment` documents why each was chosen.
/// Validation of combinations lives in the experiment adapter; ``problems`` is the minimal check
/// that the core needs to run at all.
public struct HierarchyConfig: Sendable, Hashable {
    /// How pretraining labels relate to the hierarchy.
    public enum Alignment: String, Sendable, Hashable, CaseIterable {
        /// Classes are subclasses or groups of sibling subclasses (the true hierarchy).
        case aligned
        /// Every class straddles superclasses, at every granularity: for g < k, classes group
        /// subclasses of different superclasses (interleaved order); for g >= k, each class is half
        /// of one leaf-part and half of a leaf-part of the next superclass (see `LabelMap`).
        case misaligned
        /// Labels drawn at random per sample, independent of the sample.
        case random
    }

    /// Whether the network is pretrained before fine-tuning.
    public enum Pretraining: String, Sendable, Hashable, CaseIterable {
        case supervised
        /// From-scratch baseline: fine-tune from the random initialisation.
        case none
    }

    /// What fine-tuning trains.
    public enum Finetuning: String, Sendable, Hashable, CaseIterable {
        /// The new head only; filters frozen.
        case probe
        /// The new head and the filters.
        case full
    }

    // Data
    public var superclasses = 2
    public var subclasses = 8
    public var dim = 64
    public var patches = 8
    public var commonPatches = 2
    public var finePatches = 2
    public var rareFrequency = 0.3
    public var noise = 0.5
    public var alphaLow = 0.8
    public var alphaHigh = 1.2
    public var featureNoise = 0.0
    public var trainHardFraction = 0.0
    // Labels
    public var granularity = 8
    public var alignment = Alignment.aligned
    /// What the fine-tuned head predicts, and so what the fine-tuning accuracies measure.
    public enum FinetuneLabels: String, Sendable, Hashable, CaseIterable {
        /// The K superclasses (the papers' fine-grained-to-coarse transfer).
        case coarse
        /// The K*k leaves (coarse-to-fine transfer when pretrained at a small granularity).
        case fine
    }

    /// How the fine-tuning head starts.
    public enum FinetuneHead: String, Sendable, Hashable, CaseIterable {
        /// Zero weights on standardised filter outputs.
        case new
        /// The pretrained network mapped to superclasses: superclass y's weight on a filter of
        /// pretraining class j is s/m (in unstandardised units) when j maps to y, else 0.
        case inherited
    }

    // Network and training
    public var pretraining = Pretraining.supervised
    public var finetuning = Finetuning.probe
    public var width = 16
    /// The network's total filter count; 0: superclasses * granularity * width when pretrained,
    /// superclasses * subclasses * width for the from-scratch baseline (granularity-free).
    public var filterCount = 0
    public var trainSamples = 4096
    public var finetuneSamples = 512
    public var testSamples = 1000
    public var epochs = 20
    /// The most fine-tuning epochs; fewer when ``finetuneTolerance`` judges it converged.
    public var finetuneEpochs = 1000
    public var batchSize = 128
    public var finetuneBatchSize = 16
    public var learningRate = 1.0
    /// The head's step size (its inputs are standardised).
    public var finetuneLearningRate = 0.1
    /// The filters' step size during `full` fine-tuning.
    public var finetuneFilterLearningRate = 10.0
    /// Fine-tuning stops once ``finetunePatience`` epochs in a row have not lowered the mean
    /// training loss below (1 - this) times the lowest loss before them; 0 runs every epoch.
    public var finetuneTolerance = 0.01
    public var finetuneLabels = FinetuneLabels.coarse
    public var finetuneHead = FinetuneHead.new
    /// sigma0 * sqrt(d): the expected norm of an initial filter.
    public var initScale = 0.01
    /// s: logits are F_j = (s / m) * sum_r sum_p ReLU(<w_jr, x_p> + b).
    public var outputScale = 1.0
    /// b, the ReLU bias.
    public var bias = 0.0
    public var seed: UInt64 = 0

    public init() {}

    /// Epochs over which fine-tuning must improve by ``finetuneTolerance`` to go on.
    public static let finetunePatience = 5

    /// The granularity the core uses: 1 for the from-scratch baseline, whose labels are never
    /// trained on (so its result does not depend on `granularity`).
    public var effectiveGranularity: Int { pretraining == .none ? 1 : granularity }
    /// K * g: the number of pretraining classes (K for the baseline).
    public var pretrainClasses: Int { superclasses * effectiveGranularity }
    /// C * m: the number of filters (see ``filterCount``).
    public var filters: Int {
        if filterCount > 0 { return filterCount }
        return superclasses * (pretraining == .none ? subclasses : granularity) * width
    }
    /// m: filters per pretraining class.
    public var filtersPerClass: Int { filters / pretrainClasses }
    /// Outputs of the fine-tuning head: K superclasses or K * k leaves.
    public var finetuneClasses: Int { finetuneLabels == .coarse ? superclasses : superclasses * subclasses }

    /// What makes the core unable to run this configuration (empty when it can).
    public var problems: [String] {
        var p: [String] = []
        if superclasses < 2 { p.append("superclasses must be >= 2") }
        if subclasses < 1 { p.append("subclasses must be >= 1") }
        if granularity < 1 || !(subclasses % granularity == 0 || granularity % subclasses == 0) {
            p.append("granularity must divide subclasses or be a multiple of it")
        }
        if dim < superclasses * (1 + subclasses) { p.append("dim must be >= superclasses * (1 + subclasses)") }
        if patches < 1 || commonPatches < 0 || finePatches < 1 || commonPatches + finePatches > patches {
            p.append("need 0 <= common_patches, 1 <= fine_patches, common_patches + fine_patches <= patches")
        }
        if !(alphaLow <= alphaHigh) { p.append("alpha_lo must be <= alpha_hi") }
        if width < 1 || batchSize < 1 || finetuneBatchSize < 1 || trainSamples < 1 || finetuneSamples < 1 || testSamples < 1 {
            p.append("width, batch sizes and sample counts must be >= 1")
        }
        if filterCount < 0 || (filterCount > 0 && filterCount % max(1, pretrainClasses) != 0) {
            p.append("filters must be 0 or a multiple of superclasses * granularity")
        }
        if finetuneHead == .inherited && (pretraining == .none || finetuneLabels == .fine) {
            p.append("an inherited head needs pretraining and coarse fine-tuning labels")
        }
        return p
    }
}
