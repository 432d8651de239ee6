import ExperimentAPI
import WireProtocol

/// What the lease state machine needs to know of a sweep's tasks, by index: their ids, what to
/// send, which curve points they may report and how long they may run. The coordinator adapts
/// its sweep plan; the simulator makes millions of synthetic tasks without building a plan.
public protocol LeasePlan {
    /// Number of tasks, indexed 0..<count.
    var count: Int { get }
    func taskID(at index: Int) -> TaskID
    func index(of id: TaskID) -> Int?
    /// The experiment name and sorted parameters of a task (the body of its `task` message).
    func assignment(at index: Int, lease: LeaseRef) -> TaskAssignment
    /// The curve phases a task reports, each with its last epoch (epochs run 1...last).
    func curveEpochs(at index: Int) -> [String: Int]
    /// Seconds a lease of this task may run before it is cancelled and counted as a failure; nil
    /// for no limit.
    func timeLimit(at index: Int) -> Double?
    /// The family's final and per-epoch metric names, which results and curve points must carry.
    var resultMetricNames: [String] { get }
    var curveMetricNames: [String] { get }
}

/// The timing and retry rules a coordinator serves by.
public struct LeaseRules: Sendable, Hashable {
    /// Seconds between heartbeats (both ways).
    public var heartbeatInterval: Double = 1
    /// Intervals of silence after which a worker is dead.
    public var liveness: Int = 5
    /// Failures of its own (errors, time limits, crashes that repeat on other hosts) a task may
    /// have before it is quarantined.
    public var maxAttempts: Int = 3
    /// Failures on one worker, of tasks that then succeeded on another host, after which the
    /// worker is drained (gets no new tasks).
    public var drainAfterFailures: Int = 3
    /// Deaths within one liveness window, as a fraction of the workers, at or above which they
    /// are a mass event (partition, overloaded host, coordinator-side trouble) that says nothing
    /// about the tasks; at least 2 deaths.
    public var massDeathFraction: Double = 0.1
    /// This coordinator's software version: a worker announcing another one is admitted (the
    /// protocol version alone decides compatibility) but logged once per version, because a
    /// task's bits may differ between grainsweep versions.
    public var softwareVersion: String?

    public init() {}

    /// Silence after which a worker is dead, and a lease never confirmed is presumed lost.
    public var leaseTimeout: Double { heartbeatInterval * Double(liveness) }
}

/// Messages and events dropped or noted, by reason. Visible in the progress line and the summary.
public struct Counters: Sendable, Hashable {
    /// Frames that did not decode (bad magic, type, length, encoding) or had a bad envelope.
    public var malformed = 0
    /// Frames of another protocol version (answered with a goodbye naming both versions).
    public var wrongVersion = 0
    /// Well-formed messages of a type a worker may not send.
    public var unexpected = 0
    /// Messages from a peer that never said hello (answered with reset).
    public var unknownPeer = 0
    /// Metrics, results or failures for a lease the sender does not hold.
    public var rejected = 0
    /// Results and metrics for tasks already finished: late results of expired leases, and
    /// results re-sent after a coordinator restart or a lost acknowledgement. Expected and
    /// harmless (nothing is counted twice), so not part of ``dropped``.
    public var stale = 0
    /// Results whose metric names do not match the family's.
    public var badResults = 0
    /// Curve points with a phase the task does not have, or an epoch outside its range.
    public var badCurvePoints = 0
    /// Hellos refused (0 slots or 0 threads).
    public var refusedHellos = 0
    /// Leases claimed in a hello or heartbeat that this coordinator never issued (bad token, attempt
    /// 0, or beyond the claimant's slots).
    public var forgedClaims = 0
    /// Running leases adopted from a worker after a reconnect or a coordinator restart.
    public var adoptedLeases = 0
    /// Leases whose worker died, went silent, or lost them.
    public var expiredLeases = 0
    /// Leases cancelled because they ran past their task's time limit.
    public var timedOutLeases = 0
    /// Workers declared dead in mass events (no attempt charged).
    public var massDeaths = 0
    /// Times the coordinator found it had been stalled (stopped, starved) and renewed every worker's liveness.
    public var stalls = 0
    /// Workers drained for failing tasks that succeeded elsewhere.
    public var drainedWorkers = 0
    /// Connections refused by the CURVE authenticator (unknown keys, no keys).
    public var deniedConnections = 0

    /// Messages dropped because they were malformed, hostile or out of place: what deserves a
    /// look. Duplicates of finished work (``stale``) are not counted here.
    public var dropped: Int {
        malformed + wrongVersion + unexpected + unknownPeer + rejected + badResults + badCurvePoints + forgedClaims
    }
    public init() {}
}

/// One host's connected workers: how many, their slots, and the leases they hold.
public struct HostLoad: Sendable, Equatable {
    public var host: String
    public var workers = 0
    public var slots = 0
    public var running = 0
    public init(host: String) { self.host = host }
}

/// A ZeroMQ routing id: who sent a message to the ROUTER.
public struct PeerID: Hashable, Sendable {
    public let bytes: [UInt8]
    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// The bytes in one call (an array's own hashing feeds the hasher a byte at a time; peer ids
    /// are looked up on every message).
    public func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}

/// What the state machine asks its shell to do.
public enum LeaseAction: Sendable {
    /// Send a message to a peer (best effort; a failed send is left to the liveness rule).
    case send(PeerID, Message)
    /// Send a task; if it cannot be delivered, call ``LeaseStateMachine/undeliverable(_:to:now:)``.
    case assign(PeerID, TaskAssignment)
    /// Append a row to results.csv.
    case recordResult(index: Int, lease: LeaseRef, host: String, threads: Int, wallSeconds: Double,
                      metrics: [Metric], leaseSeconds: Double)
    /// Append a row to curves.csv.
    case recordCurve(taskID: TaskID, attempt: Int, point: CurvePoint)
    /// Append a row to charges.csv: a failure of the task's own, counted toward its attempts
    /// (a restarted coordinator reads them back).
    /// `delta` is 1 for a charge and -1 for a refund.
    case recordCharge(index: Int, attempt: Int, delta: Int, host: String, reason: String)
    /// Append a row to failures.csv: the task is quarantined.
    case quarantine(index: Int, attempts: Int, hosts: [String], lastError: String)
    /// Write a log line.
    case log(LeaseLogLevel, String, [String: String])
}

/// Levels of the state machine's log lines (mapped to swift-log by the shell).
public enum LeaseLogLevel: Sendable {
    case debug, info, notice, warning, error
}
