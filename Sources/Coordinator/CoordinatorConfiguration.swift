import Foundation
import Leasing
import SweepModel

/// How a coordinator serves a sweep. Every field has a default that suits a sweep of real
/// training tasks on a cluster; tests shorten the timings.
public struct CoordinatorConfiguration: Sendable {
    /// The ZeroMQ endpoint the ROUTER binds (`tcp://0.0.0.0:5555`; port 0 picks a free port).
    public var bind: String = "tcp://0.0.0.0:5555"
    /// How often both sides send heartbeats.
    public var heartbeatIntervalMs: Int = 1000
    /// Intervals of silence after which a worker is dead and its leases go back to the queue.
    public var liveness: Int = 5
    /// Failures of its own a task may have before it is quarantined: errors it reports, time
    /// limits, and losses with its worker that repeat on another host (workers lost to a
    /// partition, an overloaded host or a mass disconnect do not count).
    public var maxAttempts: Int = 3
    /// How long one lease may run before it is cancelled and counted as a failure (the command
    /// line's `--time-limit`, else the spec's `time_limit`, else automatic).
    public var timeLimit: TimeLimit?
    /// Failures on one worker, of tasks that then succeeded on other hosts, after which the
    /// worker is drained (gets no new tasks).
    public var drainAfterFailures: Int = 3
    /// Longest time rows wait in memory before they are written and synced (group commit).
    public var commitIntervalMs: Int = 20
    /// Seconds between progress log lines when stderr is not a terminal.
    public var progressLogIntervalSeconds: Double = 10
    /// Whether to draw a progress bar (defaults to whether stderr is a terminal).
    public var progressBar: Bool = false
    /// Seconds running tasks get to finish after the first SIGINT/SIGTERM.
    public var gracePeriodSeconds: Double = 30
    /// Forget quarantined tasks of an earlier run and try them again.
    public var retryFailed: Bool = false
    /// Keep serving (idle) after the last task is done instead of exiting; used by nothing yet.
    public var exitWhenDone: Bool = true
    /// CURVE security; nil serves plain TCP (only allowed on loopback unless `insecure`).
    public var security: ServerSecurity?
    /// Allow plain TCP on a non-loopback address.
    public var insecure: Bool = false
    /// The software version announced in logs and the manifest.
    public var softwareVersion: String = "dev"
    /// Resume a results directory whose recorded bits version (core version) differs from the
    /// experiment's in this build (refused otherwise: the results would mix two computations).
    public var allowCoreChange: Bool = false

    public init() {}
}

/// The coordinator's CURVE keys and the workers it admits.
public struct ServerSecurity: Sendable {
    public var secretKey: String
    public var authorizedWorkerKeys: Set<String>
    public init(secretKey: String, authorizedWorkerKeys: Set<String>) {
        self.secretKey = secretKey
        self.authorizedWorkerKeys = authorizedWorkerKeys
    }
}

/// What a finished (or stopped) coordinator reports.
public struct CoordinatorSummary: Sendable, CustomStringConvertible {
    public var total: Int
    public var done: Int
    public var quarantined: Int
    public var ranThisSession: Int
    public var stoppedEarly: Bool
    public var counters: Counters
    public var elapsedSeconds: Double
    /// Seconds from the first task handed out to the end.
    public var servingSeconds: Double
    /// Median and 99th percentile of the time from handing a lease out to accepting its result.
    public var leaseLatencyP50: Double?
    public var leaseLatencyP99: Double?

    /// Tasks of this run per second of serving.
    public var tasksPerSecond: Double { servingSeconds > 0 ? Double(ranThisSession) / servingSeconds : 0 }

    /// The process's exit status for this outcome: 0 every task done; 3 finished with
    /// quarantined tasks; 128+N stopped early by signal N (`stopSignal`; SIGTERM when the stop
    /// came from elsewhere), so that `run && report` tells a finished sweep from an interrupted one.
    public func exitCode(stopSignal: Int32?) -> Int32 {
        if stoppedEarly { return 128 + (stopSignal ?? SIGTERM) }
        return quarantined > 0 ? 3 : 0
    }

    public var description: String {
        var s = "\(done)/\(total) tasks done (\(ranThisSession) this run) in \(String(format: "%.1f", elapsedSeconds)) s"
        if ranThisSession > 0, let p50 = leaseLatencyP50, let p99 = leaseLatencyP99 {
            let rate = tasksPerSecond >= 10 ? String(format: "%.0f tasks/s", tasksPerSecond) : String(format: "%.1f tasks/min", tasksPerSecond * 60)
            s += " (" + rate + String(format: "; lease round trip p50 %.3f ms, p99 %.3f ms)", p50 * 1000, p99 * 1000)
        }
        if quarantined > 0 { s += ", \(quarantined) quarantined (see failures.csv)" }
        if stoppedEarly { s += ", stopped before the end (run again to resume)" }
        let c = counters
        if c.malformed + c.unknownPeer + c.rejected > 0 {
            s += "; dropped messages: \(c.malformed) malformed, \(c.unknownPeer) from unknown peers, \(c.rejected) without a lease"
        }
        if c.stale > 0 { s += "; \(c.stale) repeated results of finished tasks ignored (harmless: re-sent after a restart or a lost acknowledgement)" }
        if c.unexpected + c.badResults > 0 { s += "; \(c.unexpected) unexpected, \(c.badResults) with wrong metric names" }
        if c.wrongVersion + c.refusedHellos + c.forgedClaims + c.badCurvePoints > 0 {
            s += "; \(c.wrongVersion) of another protocol version, \(c.refusedHellos) refused hellos, "
                + "\(c.forgedClaims) claims of leases never issued, \(c.badCurvePoints) curve points outside their task"
        }
        if c.adoptedLeases + c.timedOutLeases + c.massDeaths + c.stalls > 0 {
            s += "; leases: \(c.adoptedLeases) adopted, \(c.timedOutLeases) past their time limit; "
                + "\(c.massDeaths) workers lost in mass events (uncharged), \(c.stalls) coordinator stalls"
        }
        if c.deniedConnections > 0 { s += "; \(c.deniedConnections) connections denied by CURVE" }
        return s
    }
}

public typealias Counters = Leasing.Counters
