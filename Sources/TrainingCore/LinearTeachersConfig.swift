/// The settings of one task of the linear-teachers experiment (Shachaf, Brutzkus and Globerson,
/// "A Theoretical Analysis of Fine-tuning with Linear Teachers", NeurIPS 2021): a model starts
/// from a solution of a *source* regression task and is fine-tuned by gradient descent on n
/// samples of a *target* task whose teacher is related to the source teacher.
///
/// Defaults are the family's defaults (Experiments/LinearTeachersExperiment.swift says why);
/// ``problems`` is the one place where a combination is judged.
public struct LinearTeachersConfig: Sendable, Hashable {
    /// The eigenvalues of the target covariance Sigma, largest first, normalised to trace d.
    public enum Spectrum: String, Sendable, Hashable, CaseIterable {
        /// Every eigenvalue 1.
        case isotropic
        /// lambda_i proportional to i^-exponent.
        case powerLaw = "power_law"
        /// `spikes` eigenvalues `spike_size` times larger than the rest.
        case spiked
    }
    /// How the target teacher is made from the source teacher.
    public enum Relation: String, Sendable, Hashable, CaseIterable {
        /// theta_T = alpha * theta_S (+ the epsilon perturbation).
        case scaled
        /// theta_S rotated by `angle` degrees towards a direction of the chosen eigen-directions.
        case rotated
        /// theta_T = theta_S + epsilon * ||theta_S|| * z, z a unit vector in the chosen eigen-directions.
        case perturbed
    }
    /// Which eigen-directions of Sigma carry the difference theta_T - theta_S (rotation and perturbation).
    public enum Placement: String, Sendable, Hashable, CaseIterable {
        case top, bottom, random
    }
    public enum Model: String, Sendable, Hashable, CaseIterable {
        /// f(x) = <theta, x>.
        case linear
        /// f(x) = w_L W_{L-1} ... W_1 x, hidden width `width`.
        case deepLinear = "deep_linear"
        /// f(x) = (1/sqrt m) sum_j a_j ReLU(<w_j, x>), m = `width`, both layers trained.
        case relu
    }
    /// Where fine-tuning starts.
    public enum Pretraining: String, Sendable, Hashable, CaseIterable {
        /// At the source teacher itself (linear: theta_S; deep linear: its balanced rank-one
        /// factorisation), the limit of pretraining on infinitely many noiseless source samples.
        case exact
        /// Gradient descent on `source_samples` source samples from the initialisation.
        case source
        /// No pretraining: the from-scratch baseline on the same target samples.
        case none
    }

    public var dim = 50
    public var targetSamples = 10
    public var sourceSamples = 200
    public var spectrum = Spectrum.powerLaw
    public var exponent = 1.0
    public var spikes = 5
    public var spikeSize = 10.0
    public var relation = Relation.perturbed
    public var alpha = 1.0
    /// Degrees.
    public var angle = 0.0
    public var epsilon = 1.0
    public var differenceIn = Placement.bottom
    public var differenceDims = 10
    public var model = Model.linear
    public var depth = 1
    public var width = 64
    public var frozenLayers = 0
    public var pretraining = Pretraining.exact
    /// Standard deviation of the label noise (source and target).
    public var noise = 0.0
    /// The step as a fraction of the stable step 1/curvature (see ``runLinearTeachersTask(_:pool:shouldStop:onEpoch:)``).
    public var learningRate = 0.5
    public var maxSteps = 20_000
    public var epochSteps = 200
    public var tolerance = 1e-8
    public var initScale = 0.1
    public var testSamples = 2000
    public var seed: UInt64 = 0

    public init() {}

    /// The layers a model has: 1 for linear (depth 1), `depth` for deep linear, 2 for ReLU.
    public var layerCount: Int {
        switch model {
        case .linear: 1
        case .deepLinear: depth
        case .relu: 2
        }
    }

    /// Curve epochs (blocks of `epochSteps` steps) of fine-tuning, at most.
    public var finetuneEpochs: Int { (maxSteps + epochSteps - 1) / epochSteps }

    /// Whether the model's end-to-end map is a vector theta (its risk then has a closed form).
    public var hasLinearMap: Bool { model != .relu }

    /// A combination that does not make sense, as (parameter, found, expected).
    public struct Problem: Sendable, Hashable {
        public let parameter: String, found: String, expected: String
    }

    /// Every combination of values that does not make sense (each value is assumed to be in its
    /// own domain). The only place where combinations are judged.
    public var problems: [Problem] {
        var p: [Problem] = []
        if differenceDims > dim {
            p.append(Problem(parameter: "difference_dims", found: String(differenceDims), expected: "at most dim (\(dim))"))
        }
        if spectrum == .spiked, spikes >= dim {
            p.append(Problem(parameter: "spikes", found: String(spikes), expected: "fewer than dim (\(dim)) with spectrum spiked"))
        }
        if relation != .scaled, alpha != 1 {
            p.append(Problem(parameter: "alpha", found: alpha.description, expected: "1 unless relation is scaled (relation is \(relation.rawValue))"))
        }
        if relation != .rotated, angle != 0 {
            p.append(Problem(parameter: "angle", found: angle.description, expected: "0 unless relation is rotated (relation is \(relation.rawValue))"))
        }
        if relation == .perturbed, epsilon == 0 {
            p.append(Problem(parameter: "epsilon", found: "0", expected: "a number > 0 with relation perturbed"))
        }
        if model != .deepLinear, depth != 1 {
            p.append(Problem(parameter: "depth", found: String(depth), expected: "1 unless model is deep_linear (model is \(model.rawValue))"))
        }
        if model == .deepLinear, depth < 2 {
            p.append(Problem(parameter: "depth", found: String(depth), expected: ">= 2 with model deep_linear (depth 1 is model linear)"))
        }
        if frozenLayers >= layerCount {
            p.append(Problem(parameter: "frozen_layers", found: String(frozenLayers),
                             expected: "fewer than the model's \(layerCount) layer(s) (something must train)"))
        }
        if pretraining == .exact, model == .relu {
            p.append(Problem(parameter: "pretrain", found: "exact", expected: "source or none with model relu (a ReLU network has no exact factorisation of a linear teacher)"))
        }
        if pretraining == .none, frozenLayers > 0 {
            p.append(Problem(parameter: "frozen_layers", found: String(frozenLayers), expected: "0 with pretrain none (freezing random layers is not the baseline)"))
        }
        if model == .relu, width % 2 != 0 {
            p.append(Problem(parameter: "width", found: String(width), expected: "an even number with model relu (neurons come in pairs so that f = 0 at initialisation)"))
        }
        if epochSteps > maxSteps {
            p.append(Problem(parameter: "epoch_steps", found: String(epochSteps), expected: "at most max_steps (\(maxSteps))"))
        }
        let floats = max(targetSamples, sourceSamples, model == .relu ? testSamples : 0) * dim
        if floats > Self.maximumSampleFloats {
            p.append(Problem(parameter: "target_samples", found: "\(floats) numbers in one sample set",
                             expected: "samples * dim <= \(Self.maximumSampleFloats)"))
        }
        return p
    }

    /// Largest sample set (doubles) a task may hold: 1 GiB.
    public static let maximumSampleFloats = 1 << 27
}
