import ExperimentAPI
import Experiments
import Foundation
import Lifecycle
import Logging
import Results
import SweepModel
import Testing
import Worker
@testable import Coordinator

func temporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "grainsweep-coordinator-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func plan(_ yaml: String) throws -> SweepPlan {
    try SweepLoader.load(text: yaml, path: "test.yaml", families: ExperimentCatalog.byName)
}

/// A coordinator and workers in this process, on real sockets over TCP loopback.
@Suite(.serialized) struct CoordinatorInProcessTests {
    @Test func servesEveryTaskOnceToInProcessWorkers() throws {
        let p = try plan("name: inproc\nexperiment: sleep\nbase: {sleep_ms: 2, epochs: 1}\nseeds: 30\n")
        var configuration = CoordinatorConfiguration()
        configuration.bind = "tcp://127.0.0.1:0"
        configuration.heartbeatIntervalMs = 100
        let out = temporaryDirectory()
        let coordinator = try Coordinator(plan: p, outDirectory: out, configuration: configuration, logger: Logger(label: "test"))
        #expect(coordinator.endpoint.hasPrefix("tcp://127.0.0.1:") && !coordinator.endpoint.hasSuffix(":0"))
        let stopWorkers = ShutdownRequest()
        var threads: [Thread] = []
        for n in 0..<2 {
            var wc = WorkerConfiguration(connect: coordinator.endpoint, slots: 2, threadsPerSlot: 1, host: "t\(n)")
            wc.giveUpAfterSeconds = 10
            let settings = wc
            let thread = Thread {
                // The worker (and its socket) lives on this thread only.
                let worker = try? Worker(configuration: settings, families: ExperimentCatalog.all, logger: Logger(label: "w"))
                _ = try? worker?.run(shutdown: stopWorkers)
            }
            thread.start()
            threads.append(thread)
        }
        let summary = try coordinator.run(shutdown: ShutdownRequest())
        stopWorkers.request()
        #expect(summary.done == 30 && summary.ranThisSession == 30 && summary.quarantined == 0 && !summary.stoppedEarly)
        #expect(summary.exitCode(stopSignal: nil) == 0)
        #expect(summary.counters.dropped == 0)
        #expect(coordinator.directory.finished.count == 30)
        #expect(try coordinator.directory.curves.readRows().count == 30)
        #expect(summary.leaseLatencyP50 != nil)
    }

    @Test func aSecondStopRequestLeavesAtOnceAndConsistent() throws {
        let p = try plan("name: stop\nexperiment: sleep\nbase: {sleep_ms: 1}\nseeds: 5\n")
        var configuration = CoordinatorConfiguration()
        configuration.bind = "tcp://127.0.0.1:0"
        let coordinator = try Coordinator(plan: p, outDirectory: temporaryDirectory(), configuration: configuration, logger: Logger(label: "test"))
        let stop = ShutdownRequest()
        stop.request()
        stop.request()
        let summary = try coordinator.run(shutdown: stop)
        #expect(summary.stoppedEarly && summary.done == 0 && summary.exitCode(stopSignal: SIGINT) == 130)
    }
}

@Suite struct CoordinatorUnitTests {
    @Test(arguments: [
        ("tcp://127.0.0.1:5555", true), ("tcp://127.1.2.3:0", true), ("tcp://localhost:1", true),
        ("tcp://[::1]:5555", true), ("ipc:///tmp/x", true), ("tcp://0.0.0.0:5555", false),
        ("tcp://*:5555", false), ("tcp://10.1.2.3:5555", false), ("tcp://eth0:5555", false),
    ])
    func localEndpoints(endpoint: String, local: Bool) {
        #expect(Coordinator.isLocal(endpoint) == local)
    }

    @Test func progressLineShowsRateAndETA() {
        var meter = ProgressMeter(total: 100)
        for i in 0..<30 { meter.completed(at: 100 + Double(i)) }
        let line = meter.line(now: 130, done: 30, running: 2, failed: 1, workers: 3, dropped: 4, denied: 0)
        #expect(line.contains("30/100 done") && line.contains("2 running") && line.contains("1 failed"))
        #expect(line.contains("3 workers") && line.contains("60.0 tasks/min") && line.contains("ETA 1m09s"))
        #expect(line.contains("4 dropped"))
        #expect(ProgressMeter.duration(7300) == "2h01m")
    }

    /// Tasks waiting for another attempt after failures of their own show beside "failed"
    /// (quarantined), so "0 failed" never hides retries.
    @Test func progressLineShowsTasksBeingRetried() {
        var meter = ProgressMeter(total: 100)
        let line = meter.line(now: 10, done: 5, running: 2, failed: 0, retrying: 12, workers: 2, dropped: 0, denied: 0)
        #expect(line.contains("0 failed (12 being retried)"), "\(line)")
        let quiet = meter.line(now: 10, done: 5, running: 2, failed: 0, retrying: 0, workers: 2, dropped: 0, denied: 0)
        #expect(!quiet.contains("retried"))
        #expect(meter.etaSeconds(now: 10, left: 0) == 0 && meter.etaSeconds(now: 10, left: 5) == nil)
    }

    @Test func prometheusTextEscapesLabelsAndListsEveryHost() {
        let status = SweepStatus(
            sweep: "a\"b\\c", experiment: "sleep", state: .running, startedAt: "s", updatedAt: "u", pid: 1, total: 10,
            done: 3, quarantined: 1, running: 2, retrying: 1, ranThisSession: 3, tasksPerMinute: 1.5, etaSeconds: nil,
            workers: 3, hosts: [.init(host: "h1", workers: 2, slots: 4, running: 2), .init(host: "h\n2", workers: 1, slots: 1, running: 0)],
            droppedMessages: 7, deniedConnections: 0)
        let text = StatusFiles.prometheusText(status)
        #expect(text.contains("grainsweep_tasks{sweep=\"a\\\"b\\\\c\",state=\"planned\"} 10"), "\(text)")
        #expect(text.contains("grainsweep_slots{sweep=\"a\\\"b\\\\c\",host=\"h1\"} 4"))
        #expect(text.contains("host=\"h\\n2\"} 1"))
        #expect(text.contains("grainsweep_tasks_per_minute{sweep=\"a\\\"b\\\\c\"} 1.5"))
        #expect(!text.contains("grainsweep_eta_seconds"), "no ETA is known yet")
        #expect(text.contains("grainsweep_finished{sweep=\"a\\\"b\\\\c\"} 0"))
    }
}
