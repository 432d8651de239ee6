import Glibc
import TrainingCore

// core-bench step  --shape small|default --threads N --runs R --seconds S
//   times the pretraining step; one line per run, then the median.
// core-bench reference  (same options)
//   times an independent SIMD8 kernel of the same step (Reference.swift) the same way.
// core-bench task  --threads N [--quiet] [name=value ...]
//   runs one whole task (defaults of HierarchyConfig, overridden by name=value) and times it.

func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

/// CPU seconds used by this process (all threads).
func cpuTime() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

func option(_ name: String, _ args: [String]) -> String? {
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
    return args[i + 1]
}

func apply(_ assignment: String, to c: inout HierarchyConfig) {
    let parts = assignment.split(separator: "=", maxSplits: 1).map(String.init)
    guard parts.count == 2 else { fatalError("expected name=value, got \(assignment)") }
    let v = parts[1]
    func i() -> Int { Int(v)! }
    func r() -> Double { Double(v)! }
    switch parts[0] {
    case "superclasses": c.superclasses = i()
    case "subclasses": c.subclasses = i()
    case "dim": c.dim = i()
    case "patches": c.patches = i()
    case "common_patches": c.commonPatches = i()
    case "fine_patches": c.finePatches = i()
    case "rare_freq": c.rareFrequency = r()
    case "noise": c.noise = r()
    case "alpha_lo": c.alphaLow = r()
    case "alpha_hi": c.alphaHigh = r()
    case "feature_noise": c.featureNoise = r()
    case "train_hard_frac": c.trainHardFraction = r()
    case "granularity": c.granularity = i()
    case "alignment": c.alignment = .init(rawValue: v)!
    case "pretrain": c.pretraining = .init(rawValue: v)!
    case "finetune": c.finetuning = .init(rawValue: v)!
    case "width": c.width = i()
    case "train_samples": c.trainSamples = i()
    case "finetune_samples": c.finetuneSamples = i()
    case "test_samples": c.testSamples = i()
    case "epochs": c.epochs = i()
    case "finetune_epochs": c.finetuneEpochs = i()
    case "finetune_tol": c.finetuneTolerance = r()
    case "batch_size": c.batchSize = i()
    case "finetune_batch_size": c.finetuneBatchSize = i()
    case "learning_rate": c.learningRate = r()
    case "finetune_lr": c.finetuneLearningRate = r()
    case "finetune_filter_lr": c.finetuneFilterLearningRate = r()
    case "filters": c.filterCount = i()
    case "finetune_labels": c.finetuneLabels = .init(rawValue: v)!
    case "finetune_head": c.finetuneHead = .init(rawValue: v)!
    case "init_scale": c.initScale = r()
    case "output_scale": c.outputScale = r()
    case "bias": c.bias = r()
    case "seed": c.seed = UInt64(v)!
    default: fatalError("unknown parameter \(parts[0])")
    }
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

let args = Array(CommandLine.arguments.dropFirst())
let threads = Int(option("--threads", args) ?? "1")!
switch args.first {
case "step", "reference":
    // step: TrainingCore's pretraining step; reference: the independent kernel (Reference.swift)
    // of the same shape, timed the same way.
    let kind = args.first!
    let label = kind == "step" ? "swift" : "reference"
    let shape = option("--shape", args) ?? "small"
    let runs = Int(option("--runs", args) ?? "5")!
    let seconds = Double(option("--seconds", args) ?? "1")!
    var c = HierarchyConfig()
    if shape == "small" {
        // The reference shape: K=2, k=8, g=8 (16 classes), d=64, P=8, m=16 (256 filters), batch 128.
        c.superclasses = 2; c.subclasses = 8; c.granularity = 8; c.dim = 64; c.patches = 8
        c.width = 16; c.batchSize = 128
    }
    let runSteps: (Int) -> Void
    let flopsPerSample: Double
    if kind == "step" {
        let step = try PretrainStep(config: c, threads: threads)
        runSteps = { step.run(steps: $0) }
        flopsPerSample = step.flopsPerSample
    } else {
        let reference = try ReferenceStep(samples: 4096, patches: c.patches, dim: c.dim, classes: c.pretrainClasses,
                                          width: c.width, batch: c.batchSize, threads: threads)
        runSteps = { reference.run(steps: $0) }
        flopsPerSample = reference.flopsPerSample
    }
    runSteps(20)  // warm-up
    var rates: [Double] = []
    for run in 1...runs {
        // Calibrate the step count to about `seconds` per run.
        var steps = 10
        var elapsed = 0.0, cpu = 0.0
        while true {
            let t0 = now(), c0 = cpuTime()
            runSteps(steps)
            elapsed = now() - t0
            cpu = cpuTime() - c0
            if elapsed > seconds * 0.5 { break }
            steps *= 2
        }
        let rate = Double(steps * c.batchSize) / elapsed
        rates.append(rate)
        // cpu_per_wall: CPU seconds this process got per wall second (at most `threads`; well
        // below it means other processes held the cores; spinning counts as CPU).
        // samples_per_cpu_s: samples per CPU second of this process times `threads` (per busy
        // thread-second): less sensitive to other processes than the wall rate at 1 thread.
        let perCPU = Double(steps * c.batchSize) / cpu * Double(threads)
        print("\(label) run=\(run) shape=\(shape) threads=\(threads) samples_per_s=\(Int(rate)) gflops=\(rate * flopsPerSample / 1e9) cpu_per_wall=\((cpu / elapsed * 100).rounded() / 100) samples_per_cpu_s=\(Int(perCPU))")
    }
    let m = median(rates)
    print("\(label) median shape=\(shape) threads=\(threads) filters=\(c.filters) batch=\(c.batchSize) samples_per_s=\(Int(m)) gflops=\(m * flopsPerSample / 1e9)")
case "task":
    var c = HierarchyConfig()
    for a in args.dropFirst() where a.contains("=") { apply(a, to: &c) }
    let quiet = args.contains("--quiet")
    let t0 = now(), c0 = cpuTime()
    let r = try runHierarchyTask(c, threads: threads) { e in
        if !quiet {
            print("\(e.phase.rawValue) \(e.epoch) loss=\(e.loss) train=\(e.trainAccuracy) easy=\(e.easyAccuracy) hard=\(e.hardAccuracy) calign=\(e.commonAlignment) falign=\(e.fineAlignment)")
        }
    }
    let wall = now() - t0
    let cpu = cpuTime() - c0
    print("result easy=\(r.easyAccuracy) hard=\(r.hardAccuracy) pretrain_acc=\(r.pretrainAccuracy) pretrain_hard=\(r.pretrainHardAccuracy) calign=\(r.commonAlignment) falign=\(r.fineAlignment) steps=\(r.steps) wall_s=\(wall) threads=\(threads) cpu_per_wall=\((cpu / wall * 100).rounded() / 100)")
case "pool":
    // The pool alone on a step-shaped job (8 chunks of fixed arithmetic, then 8 short ones).
    for run in 1...Int(option("--runs", args) ?? "5")! {
        let t0 = now(), c0 = cpuTime()
        let us = try measurePoolJob(threads: threads) * 1e6
        print("pool run=\(run) threads=\(threads) us_per_job=\(us) cpu_per_wall=\(((cpuTime() - c0) / (now() - t0) * 100).rounded() / 100)")
    }
default:
    print("usage: core-bench step|reference|task|pool ...")
}
