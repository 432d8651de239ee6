import ExperimentAPI
import Experiments
import Foundation
import Parallelism
import Testing
import TrainingCore

// Issue 18: a worker with 2 threads per slot leaked a pool thread and the network's buffers on
// every task (the pool kept its last job, whose closure held the engine, which held the pool).
// These tests run hundreds of tiny tasks in this process and check that threads and networks
// do not accumulate. Other tests run in parallel in the same process and make threads and
// networks of their own, so the checks allow a margin far below the hundreds a leak adds.

/// The tiny shape: train 64, fine-tune 32, test 64, 2 epochs, d = 32, width 4.
private func tinyConfig(seed: UInt64) -> HierarchyConfig {
    var c = HierarchyConfig()
    c.trainSamples = 64; c.finetuneSamples = 32; c.testSamples = 64
    c.epochs = 2; c.finetuneEpochs = 2; c.dim = 32; c.width = 4
    c.seed = seed
    return c
}

/// The process's thread count, from /proc/self/status.
private func processThreads() throws -> Int {
    let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
    let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("Threads:") })
    return try #require(Int(line.dropFirst("Threads:".count).trimmingCharacters(in: .whitespaces)))
}

private let tasks = 300
/// Far below `tasks`, far above what concurrently running tests add.
private let margin = 40

@Test func aPoolPerTaskLeavesNoThreadOrNetworkBehind() throws {
    #expect(tinyConfig(seed: 0).problems.isEmpty)
    _ = try runHierarchyTask(tinyConfig(seed: 0), threads: 2)
    let threads = try processThreads(), engines = liveConvEngines
    for seed in 1...UInt64(tasks) { _ = try runHierarchyTask(tinyConfig(seed: seed), threads: 2) }
    #expect(try processThreads() - threads < margin, "threads grew over \(tasks) tasks")
    #expect(liveConvEngines - engines < margin, "networks still alive after their tasks")
}

@Test func aSlotsLentPoolServesEveryTaskWithItsOwnThreads() throws {
    let family = HierarchyExperiment()
    let pool = try ComputePool(threads: 2)
    defer { pool.shutdown() }
    let threads = try processThreads(), engines = liveConvEngines
    for seed in 0..<tasks {
        let set = try family.resolve([
            "train_samples": .integer(64), "finetune_samples": .integer(32), "test_samples": .integer(64),
            "epochs": .integer(2), "finetune_epochs": .integer(2), "dim": .integer(32), "width": .integer(4),
            "seed": .integer(seed),
        ]).get()
        let metrics = try family.run(set, context: TaskContext(pool: pool)) { _ in }
        #expect(metrics.count == family.resultMetricNames.count)
    }
    #expect(try processThreads() - threads < margin, "threads grew over \(tasks) tasks on one pool")
    #expect(liveConvEngines - engines < margin, "networks still alive after their tasks")
}

@Test func aCancelledTaskStopsWithinAnEpochAndFreesItsNetwork() throws {
    let family = HierarchyExperiment()
    let set = try family.resolve([
        "train_samples": .integer(512), "epochs": .integer(1000), "dim": .integer(32), "width": .integer(4),
    ]).get()
    let cancellation = TaskCancellation()
    var epochs = 0
    try TaskContext.withPool(threads: 2) { pool in
        let context = TaskContext(pool: pool.pool, cancellation: cancellation)
        #expect(throws: TaskCancelled.self) {
            _ = try family.run(set, context: context) { _ in
                epochs += 1
                if epochs == 3 { cancellation.cancel() }
            }
        }
    }
    // Cancelled after the third epoch: it stops before the end of the fourth (1,000 asked).
    #expect(epochs == 3)
}
