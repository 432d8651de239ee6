import ExperimentAPI
import Experiments
import Foundation
import SweepModel
import Testing

/// The presets in sweeps/ load with the catalog's families.
@Suite struct PresetTests {
    static let sweeps = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("sweeps")

    static func load(_ file: String) throws(SpecErrors) -> SweepPlan {
        try SweepLoader.load(
            path: sweeps.appendingPathComponent(file).path, families: ExperimentCatalog.byName,
            defaultExperiment: ExperimentCatalog.defaultFamily.name)
    }

    @Test(arguments: [
        ("quickstart.yaml", 96), ("paper.yaml", 2_565), ("smoke.yaml", 4), ("sleep-smoke.yaml", 20),
        ("noop-100k.yaml", 100_000), ("paper-lite.yaml", 1_026), ("sample-example.yaml", 32),
        ("linear-teachers.yaml", 800),
    ])
    func presetLoads(file: String, tasks: Int) throws {
        let plan = try Self.load(file)
        #expect(plan.count == tasks)
        #expect(plan.name + ".yaml" == file)
    }

    @Test func quickstartContrastsCoarseAndFineOnTheDefaultFamily() throws {
        let plan = try Self.load("quickstart.yaml")
        #expect(plan.family.name == "hierarchy")
        let subclasses = plan.fixedParameters.integer("subclasses")
        #expect(plan.axes.map(\.name) == ["granularity", "rare_freq", "pretrain"])
        // Coarse, the leaf level and finer than the features, with the from-scratch baseline.
        #expect(plan.axes[0].values.contains(.integer(1)) && plan.axes[0].values.contains(.integer(subclasses)))
        #expect(plan.axes[0].values.contains { ($0.numericValue ?? 0) > Double(subclasses) })
        #expect(plan.axes[2].values == [.text("supervised"), .text("none")])
    }

    @Test func smokeIsTiny() throws {
        let plan = try Self.load("smoke.yaml")
        #expect(plan.family.name == "hierarchy")
        #expect(plan.fixedParameters.integer("train_samples") <= 256)
        #expect(plan.estimatedSeconds < 10)
    }

    @Test func paperSweepsTheFourAxesAndTheVariants() throws {
        let plan = try Self.load("paper.yaml")
        #expect(Set(plan.axes.map(\.name)) == ["granularity", "rare_freq", "noise", "width"])
        let variants = plan.zipGroups[0]
        #expect(variants.map(\.name) == ["pretrain", "alignment"])
        #expect(variants[0].values.contains(.text("none")))
        #expect(Set(variants[1].values) == [.text("aligned"), .text("misaligned"), .text("random")])
        // The baseline runs once per (rare_freq, noise, width, seed), at granularity 1.
        let baseline = plan.tasks.filter { $0.parameters["pretrain"] == .text("none") }
        #expect(baseline.count == 3 * 3 * 3 * 5)
        #expect(baseline.allSatisfy { $0.parameters["granularity"] == .integer(1) })
    }

    @Test func sampleExampleIsASmallGrowableSobolSample() throws {
        let plan = try Self.load("sample-example.yaml")
        let sample = try #require(plan.sample)
        #expect(plan.family.name == "hierarchy")
        #expect(sample.method == .sobol && sample.method.keepsPointsWhenGrown && sample.count == 16)
        #expect(sample.space.map(\.name) == ["learning_rate", "noise", "width", "alignment"])
        #expect(sample.points.count == 16)  // no repeats
        #expect(plan.axes.map(\.name) == ["granularity"])
        #expect(plan.estimatedSeconds < 60)
    }

    @Test func linearTeachersPresetTestsTheThreeClaims() throws {
        let plan = try Self.load("linear-teachers.yaml")
        #expect(plan.family.name == "linear_teachers")
        let tasks = plan.tasks.map(\.parameters)
        func values(_ name: String, where filter: (ParameterSet) -> Bool) -> Set<ParameterValue> {
            Set(tasks.filter(filter).compactMap { $0[name] })
        }
        let d = plan.fixedParameters.integer("dim")
        // n from below d/5 to 2d.
        let ns = values("target_samples") { _ in true }.compactMap(\.numericValue)
        #expect(ns.min()! <= Double(d) / 5 && ns.max()! >= 2 * Double(d))
        // Claim 1: top vs bottom, fine-tuned and from scratch, linear model.
        let perturbedLinear = { (p: ParameterSet) in p["relation"] == .text("perturbed") && p["model"] == .text("linear") }
        #expect(values("difference_in", where: perturbedLinear) == [.text("top"), .text("bottom")])
        #expect(values("pretrain", where: perturbedLinear) == [.text("exact"), .text("none")])
        // Claim 2: a scaled target at several depths, linear included.
        let scaled = { (p: ParameterSet) in p["relation"] == .text("scaled") && p["frozen_layers"] == .integer(0) }
        #expect(values("depth", where: scaled).count >= 4 && values("depth", where: scaled).contains(.integer(1)))
        // Frozen first layers, rotated and scaled targets.
        let frozen = { (p: ParameterSet) in p["frozen_layers"] == .integer(1) }
        #expect(values("relation", where: frozen) == [.text("rotated"), .text("scaled")])
        #expect(plan.tasks.count / 10 * 10 == plan.tasks.count)
    }

    @Test func sleepPresetsUseTheSleepFamily() throws {
        let smoke = try Self.load("sleep-smoke.yaml")
        #expect(smoke.family.name == "sleep")
        let sleeps = smoke.tasks.map { $0.parameters.real("sleep_ms") }
        #expect(sleeps.min() == 0 && sleeps.max() == 50)
        let noop = try Self.load("noop-100k.yaml")
        #expect(noop.fixedParameters["sleep_ms"] == .real(0))
        #expect(noop.estimatedSeconds == 0)
    }
}
