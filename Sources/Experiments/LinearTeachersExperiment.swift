import ExperimentAPI
import TrainingCore

extension LinearTeachersConfig.Spectrum: ChoiceParameter {}
extension LinearTeachersConfig.Relation: ChoiceParameter {}
extension LinearTeachersConfig.Placement: ChoiceParameter {}
extension LinearTeachersConfig.Model: ChoiceParameter {}
extension LinearTeachersConfig.Pretraining: ChoiceParameter {}

/// Fine-tuning with linear teachers (Shachaf, Brutzkus and Globerson, NeurIPS 2021, arXiv
/// 2107.01641) behind ``ExperimentFamily``: a linear, deep linear or shallow ReLU model starts at
/// a source solution and is fine-tuned by gradient descent on n samples of a related target
/// teacher; `pretrain: none` is the from-scratch baseline on the same samples.
///
/// Defaults make each claim of SCIENCE.md measurable in well under a second per task on one core:
/// d = 50 (the paper's figures use d in the hundreds; 50 keeps n = d/10 .. 2d small while the
/// eigenvalues of a power-law spectrum still span a factor 50), a power-law spectrum (exponent 1,
/// the paper's "realistic" decaying covariance) so that top and bottom eigen-directions differ,
/// the difference in the bottom 10 (d/5) of them, and n = 10 = d/5 samples, below d, where the
/// implicit bias of gradient descent decides the risk.
public struct LinearTeachersExperiment: ExperimentFamily {
    public init() {}

    public var name: String { "linear_teachers" }
    public var summary: String {
        "fine-tune a linear, deep linear or ReLU model from a source teacher's solution on n samples of a related target teacher"
    }

    /// The family's parameters, declared once and read through these keys.
    public enum Keys {
        public static let dim = ParameterKey<Int>("dim", 1...4096, default: 50, help: "d: input dimension")
        public static let targetSamples = ParameterKey<Int>(
            "target_samples", 1...10_000_000, default: 10, help: "n: target samples for fine-tuning (the main axis)")
        public static let sourceSamples = ParameterKey<Int>(
            "source_samples", 1...10_000_000, default: 200, help: "source samples for pretrain: source (inputs N(0, I))")
        public static let spectrum = ParameterKey<LinearTeachersConfig.Spectrum>(
            "spectrum", default: .powerLaw, help: "eigenvalues of the target covariance Sigma (normalised to trace d)")
        public static let exponent = ParameterKey<Double>(
            "exponent", lower: 0, default: 1, help: "power_law: lambda_i proportional to i^-exponent")
        public static let spikes = ParameterKey<Int>("spikes", 1...4096, default: 5, help: "spiked: the number of large eigenvalues")
        public static let spikeSize = ParameterKey<Double>(
            "spike_size", lower: 1, default: 10, help: "spiked: how many times larger the spikes are than the rest")
        public static let relation = ParameterKey<LinearTeachersConfig.Relation>(
            "relation", default: .perturbed, help: "how theta_T is made from theta_S: scaled by alpha, rotated by angle, or perturbed by epsilon")
        public static let alpha = ParameterKey<Double>("alpha", lower: -100, upper: 100, upperInclusive: true, default: 1, help: "scaled: theta_T = alpha theta_S")
        public static let angle = ParameterKey<Double>(
            "angle", lower: 0, upper: 180, upperInclusive: true, default: 0, help: "rotated: degrees between theta_S and theta_T")
        public static let epsilon = ParameterKey<Double>(
            "epsilon", lower: 0, default: 1, help: "a perturbation epsilon ||theta_S|| z added to theta_T, z a random unit vector of the chosen eigen-directions")
        public static let differenceIn = ParameterKey<LinearTeachersConfig.Placement>(
            "difference_in", default: .bottom, help: "eigen-directions of Sigma carrying the rotation and the perturbation: top, bottom or random")
        public static let differenceDims = ParameterKey<Int>(
            "difference_dims", 1...4096, default: 10, help: "how many eigen-directions carry the difference")
        public static let model = ParameterKey<LinearTeachersConfig.Model>("model", default: .linear, help: "linear, deep_linear or relu")
        public static let depth = ParameterKey<Int>("depth", 1...64, default: 1, help: "L: layers of deep_linear (1 for the other models)")
        public static let width = ParameterKey<Int>(
            "width", 1...65_536, default: 64, help: "m, the neurons of relu (even); the hidden width of deep_linear (its balanced start is rank one and stays so)")
        public static let frozenLayers = ParameterKey<Int>(
            "frozen_layers", 0...63, default: 0, help: "the first layers kept at their pretrained values during fine-tuning")
        public static let pretrain = ParameterKey<LinearTeachersConfig.Pretraining>(
            "pretrain", default: .exact,
            help: "exact: start at the source teacher (its factorisation); source: gradient descent on source samples; none: from scratch")
        public static let noise = ParameterKey<Double>("noise", lower: 0, default: 0, help: "standard deviation of the label noise")
        public static let learningRate = ParameterKey<Double>(
            "learning_rate", lower: 0, lowerInclusive: false, upper: 1.9, upperInclusive: true, default: 0.5,
            help: "step as a fraction of 1/curvature (stable below 2)")
        public static let maxSteps = ParameterKey<Int>("max_steps", 1...100_000_000, default: 20_000, help: "step cap of each phase")
        public static let epochSteps = ParameterKey<Int>(
            "epoch_steps", 1...100_000_000, default: 200, help: "full-batch steps per curve point (an epoch) and per convergence check")
        public static let tolerance = ParameterKey<Double>(
            "tolerance", lower: 0, default: 1e-8,
            help: "converged when train loss <= tolerance * its start, or an epoch lowers it by less than tolerance * itself")
        public static let initScale = ParameterKey<Double>(
            "init_scale", lower: 0, lowerInclusive: false, default: 0.1, help: "deep_linear from scratch: the norm of the initial end-to-end map (a random direction)")
        public static let testSamples = ParameterKey<Int>(
            "test_samples", 1...10_000_000, default: 2000, help: "relu: target test samples for the risk (linear maps use the exact risk)")
    }

    public var parameters: [ParameterSpec] {
        [
            Keys.dim.spec, Keys.targetSamples.spec, Keys.sourceSamples.spec, Keys.spectrum.spec, Keys.exponent.spec,
            Keys.spikes.spec, Keys.spikeSize.spec, Keys.relation.spec, Keys.alpha.spec, Keys.angle.spec, Keys.epsilon.spec,
            Keys.differenceIn.spec, Keys.differenceDims.spec, Keys.model.spec, Keys.depth.spec, Keys.width.spec,
            Keys.frozenLayers.spec, Keys.pretrain.spec, Keys.noise.spec, Keys.learningRate.spec, Keys.maxSteps.spec,
            Keys.epochSteps.spec, Keys.tolerance.spec, Keys.initScale.spec, Keys.testSamples.spec,
        ]
    }

    public var resultMetricNames: [String] {
        ["risk", "start_risk", "train_loss", "steps", "converged", "pretrain_steps", "distance", "sigma_distance", "angle"]
    }
    public var curveMetricNames: [String] { ["risk", "train_loss"] }

    /// The core configuration of a resolved parameter set: the one place that reads parameters.
    public func configuration(_ p: ParameterSet) -> LinearTeachersConfig {
        var c = LinearTeachersConfig()
        c.dim = p[Keys.dim]
        c.targetSamples = p[Keys.targetSamples]
        c.sourceSamples = p[Keys.sourceSamples]
        c.spectrum = p[Keys.spectrum]
        c.exponent = p[Keys.exponent]
        c.spikes = p[Keys.spikes]
        c.spikeSize = p[Keys.spikeSize]
        c.relation = p[Keys.relation]
        c.alpha = p[Keys.alpha]
        c.angle = p[Keys.angle]
        c.epsilon = p[Keys.epsilon]
        c.differenceIn = p[Keys.differenceIn]
        c.differenceDims = p[Keys.differenceDims]
        c.model = p[Keys.model]
        c.depth = p[Keys.depth]
        c.width = p[Keys.width]
        c.frozenLayers = p[Keys.frozenLayers]
        c.pretraining = p[Keys.pretrain]
        c.noise = p[Keys.noise]
        c.learningRate = p[Keys.learningRate]
        c.maxSteps = p[Keys.maxSteps]
        c.epochSteps = p[Keys.epochSteps]
        c.tolerance = p[Keys.tolerance]
        c.initScale = p[Keys.initScale]
        c.testSamples = p[Keys.testSamples]
        c.seed = UInt64(p[.seed])
        return c
    }

    public func crossCheck(_ parameters: ParameterSet) -> [ParameterProblem] {
        configuration(parameters).problems.map { ParameterProblem(parameter: $0.parameter, found: $0.found, expected: $0.expected) }
    }

    public func curveEpochs(_ parameters: ParameterSet) -> [String: Int] {
        let c = configuration(parameters)
        return ["pretrain": c.pretraining == .source ? c.finetuneEpochs : 0, "finetune": c.finetuneEpochs]
    }

    /// Flops per full-batch step (residuals and gradient: 4 n d; ReLU: 4 n m d) at 3 GFLOP/s (the
    /// preset's ReLU tasks ran at about that on one core) plus 5 microseconds of fixed cost a step,
    /// for the steps a phase typically takes: the step cap, but at most 2000 (the preset's median
    /// was 1200; the slowest tasks, near n = d, hit the cap), plus data generation (2 d^2 a sample).
    public func estimatedSeconds(_ parameters: ParameterSet) -> Double {
        let c = configuration(parameters)
        let d = Double(c.dim)
        let perSample = c.model == .relu ? 4 * Double(c.width) * d : 4 * d
        let steps = Double(min(c.maxSteps, 2000))
        var seconds = steps * (Double(c.targetSamples) * perSample / 3e9 + 5e-6)
        if c.pretraining == .source { seconds += steps * (Double(c.sourceSamples) * perSample / 3e9 + 5e-6) }
        let generated = Double(c.targetSamples + c.sourceSamples + (c.model == .relu ? c.testSamples : 0))
        return seconds + generated * d * d * 2 / 3e9
    }

    public func run(_ parameters: ParameterSet, context: TaskContext, onEpoch: (CurvePoint) -> Void) throws -> [Metric] {
        let problems = crossCheck(parameters)
        if !problems.isEmpty { throw ParameterProblems(problems) }
        let config = configuration(parameters)
        let cancellation = context.cancellation
        let r: LinearTeachersResult
        do {
            r = try runLinearTeachersTask(config, pool: context.pool, shouldStop: { cancellation.isCancelled }) { e in
                onEpoch(CurvePoint(phase: e.phase.rawValue, epoch: e.epoch, metrics: [Metric("risk", e.risk), Metric("train_loss", e.trainLoss)]))
            }
        } catch {
            throw TaskCancelled()
        }
        let problem = LinearTeachersProblem(config)
        return [
            Metric("risk", r.risk), Metric("start_risk", r.startRisk), Metric("train_loss", r.trainLoss),
            Metric("steps", Double(r.steps)), Metric("converged", r.converged ? 1 : 0), Metric("pretrain_steps", Double(r.pretrainSteps)),
            Metric("distance", problem.distance), Metric("sigma_distance", problem.sigmaDistance), Metric("angle", problem.angleDegrees),
        ]
    }

    /// The claims' figures: risk against n by where the difference lies, with the from-scratch
    /// baseline; risk against n by depth for a scaled target; frozen first layers; and curves.
    public var figures: [FigureDeclaration] {
        let scratch = FigureDeclaration.Reference(parameter: Keys.pretrain.name, value: "none", label: "from scratch (pretrain: none)")
        let n = FigureDeclaration.XAxis.parameter(Keys.targetSamples.name, log2: true)
        return [
            FigureDeclaration(
                name: "risk_vs_n_by_difference", title: "Target risk after fine-tuning vs. n, by where theta_T - theta_S lies",
                x: n, y: "risk", yLog: true, series: Keys.differenceIn.name, facets: [Keys.model.name, Keys.spectrum.name],
                only: [Keys.relation.name: ["perturbed"], Keys.frozenLayers.name: ["0"]],
                reference: scratch,
                caption: "Target = source + a perturbation in the top or bottom eigen-directions of Sigma. Solid: fine-tuned from the source solution; dashed: from scratch on the same samples. Claim 1 (linear) and 3 (ReLU): a difference in low-variance (bottom) directions costs little risk at n < d although the plain distance is the same."),
            FigureDeclaration(
                name: "risk_vs_n_by_depth", title: "Scaled target: risk after fine-tuning vs. n, by depth",
                x: n, y: "risk", yLog: true, series: Keys.depth.name,
                only: [Keys.relation.name: ["scaled"], Keys.frozenLayers.name: ["0"], Keys.pretrain.name: ["exact", "source"]],
                caption: "theta_T = alpha theta_S (+ a small perturbation); depth 1 is the linear model. Claim 2: with depth the scale is learned from few samples, the linear model pays for it until n reaches d."),
            FigureDeclaration(
                name: "risk_vs_n_frozen", title: "Deep linear: risk after fine-tuning vs. n, first layers frozen or not",
                x: n, y: "risk", yLog: true, series: Keys.frozenLayers.name, facets: [Keys.relation.name],
                only: [Keys.model.name: ["deep_linear"], Keys.pretrain.name: ["exact", "source"], Keys.depth.name: ["3"]],
                caption: "Freezing the first layer at its pretrained (rank-one) value confines the end-to-end map to the span of theta_S: a rotated target stays unlearnable however many samples, a scaled one does not."),
            FigureDeclaration(
                name: "curves_risk_finetune", title: "Learning curves: target risk per epoch of fine-tuning",
                x: .epoch(phase: "finetune"), y: "risk", yLog: true, series: Keys.differenceIn.name, facets: [Keys.targetSamples.name],
                only: [Keys.relation.name: ["perturbed"], Keys.model.name: ["linear"]], reference: scratch,
                caption: "Mean risk over seeds after each block of epoch_steps gradient steps; a task that converged early stops contributing."),
        ]
    }
}
