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
        /// Classes group subclasses of different superclasses (interleaved order); at g >= k,
        /// where classes keep leaves whole, this equals `aligned` up to a relabelling.
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
    // Network and training
    public var pretraining = Pretraining.supervised
    public var finetuning = Finetuning.probe
    public var width = 16
    public var trainSamples = 4096
    public var finetuneSamples = 512
    public var testSamples = 1000
    public var epochs = 20
    public var finetuneEpochs = 20
    public var batchSize = 128
    public var learningRate = 1.0
    public var finetuneLearningRate = 0.1
    /// sigma0 * sqrt(d): the expected norm of an initial filter.
    public var initScale = 0.01
    /// s: logits are F_j = (s / m) * sum_r sum_p ReLU(<w_jr, x_p> + b).
    public var outputScale = 1.0
    /// b, the ReLU bias.
    public var bias = 0.0
    public var seed: UInt64 = 0

    public init() {}

    /// K * g: the number of pretraining classes.
    public var pretrainClasses: Int { superclasses * granularity }
    /// C * m: the number of filters.
    public var filters: Int { pretrainClasses * width }

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
        if width < 1 || batchSize < 1 || trainSamples < 1 || finetuneSamples < 1 || testSamples < 1 {
            p.append("width, batch_size and sample counts must be >= 1")
        }
        return p
    }
}
