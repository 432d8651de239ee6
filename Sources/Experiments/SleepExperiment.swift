import ExperimentAPI
import Foundation

/// A task that does no science: it sleeps `sleep_ms` milliseconds (0: returns at once), can be told
/// to fail, and reports a value derived from its seed. For benchmarks of the coordinator and for
/// tests of the failure paths, where a real training task would only add time.
public struct SleepExperiment: ExperimentFamily {
    public init() {}

    public var name: String { "sleep" }
    public var summary: String { "sleeps sleep_ms milliseconds and reports a value derived from its seed (no-op when 0)" }

    public var parameters: [ParameterSpec] {
        [
            ParameterSpec(
                name: "sleep_ms", domain: .real(lower: 0, lowerInclusive: true, upper: 86_400_000, upperInclusive: true),
                defaultValue: .real(0), help: "milliseconds to sleep (0: no-op)"),
            ParameterSpec(
                name: "epochs", domain: .integer(0...10_000), defaultValue: .integer(0),
                help: "curve points to report, the sleep split evenly between them"),
            ParameterSpec(
                name: "fail", domain: .choice(["never", "always"]), defaultValue: .text("never"),
                help: "always: the task throws (a poison task, for tests of retries and quarantine)"),
        ]
    }

    public var resultMetricNames: [String] { ["value"] }
    public var curveMetricNames: [String] { ["value"] }

    public func curveEpochs(_ parameters: ParameterSet) -> [String: Int] { ["sleep": parameters.integer("epochs")] }

    public func isInstant(_ parameters: ParameterSet) -> Bool {
        parameters.real("sleep_ms") == 0 && parameters.integer("epochs") == 0
    }

    public func crossCheck(_ parameters: ParameterSet) -> [ParameterProblem] { [] }

    public func estimatedSeconds(_ parameters: ParameterSet) -> Double { parameters.real("sleep_ms") / 1000 }

    /// The failure a `fail: always` task throws.
    public struct PoisonError: Error, CustomStringConvertible {
        public var description: String { "poison task: fail=always" }
    }

    public func run(_ parameters: ParameterSet, context: TaskContext, onEpoch: (CurvePoint) -> Void) throws -> [Metric] {
        let seed = parameters.integer("seed")
        let epochs = parameters.integer("epochs")
        let sleepMs = parameters.real("sleep_ms")
        let value = Double(seed) * 0.5 + sleepMs
        let slices = max(epochs, 1)
        for epoch in 0..<slices {
            if sleepMs > 0 { try sleep(seconds: sleepMs / 1000 / Double(slices), context.cancellation) }
            if epoch < epochs {
                onEpoch(CurvePoint(phase: "sleep", epoch: epoch + 1, metrics: [Metric("value", value + Double(epoch))]))
            }
        }
        if parameters.text("fail") == "always" { throw PoisonError() }
        return [Metric("value", value)]
    }

    /// Sleeps in slices of at most 10 ms, so that a cancel stops the task within 10 ms.
    private func sleep(seconds: Double, _ cancellation: TaskCancellation) throws {
        let end = Date().addingTimeInterval(seconds)
        while true {
            if cancellation.isCancelled { throw TaskCancelled() }
            let left = end.timeIntervalSinceNow
            if left <= 0 { return }
            Thread.sleep(forTimeInterval: min(left, 0.01))
        }
    }
}
