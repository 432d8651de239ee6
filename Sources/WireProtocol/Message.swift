import ExperimentAPI

/// The version of the wire protocol this build speaks. A message with another version is
/// dropped and counted by its receiver.
///
/// Version 2 added the lease token (a coordinator's proof that it issued a lease).
public let protocolVersion: UInt8 = 2

/// Every message exchanged between coordinator and workers.
///
/// The coordinator binds a ZeroMQ ROUTER, workers connect a DEALER; each message is exactly one
/// ZeroMQ frame (after the ROUTER's routing-id frame on the coordinator side). The byte layout
/// is documented in `Codec.swift` (and docs/PROTOCOL.md).
public enum Message: Sendable, Hashable {
    /// Worker -> coordinator, first message after (re)connecting. `held` lists tasks the worker is
    /// still running from before a reconnect, so a restarted coordinator can adopt their leases.
    case hello(Hello)
    /// Coordinator -> worker, answer to hello: timing the worker must follow.
    case welcome(Welcome)
    /// Coordinator -> worker: run this task (a lease).
    case task(TaskAssignment)
    /// Worker -> coordinator: one epoch's metrics of a running task.
    case metrics(MetricsReport)
    /// Worker -> coordinator: a task finished.
    case result(TaskResult)
    /// Worker -> coordinator: a task threw.
    case failure(TaskFailure)
    /// Both ways, at the agreed interval, busy or idle. From a worker it lists the leases it holds.
    case heartbeat(Heartbeat)
    /// Both ways: the sender is leaving (worker: shutting down; coordinator: sweep finished or
    /// stopping; a worker receiving it exits when `final` is true, otherwise reconnects later).
    case goodbye(Goodbye)
    /// Coordinator -> worker: "I do not know you" (e.g. after a coordinator restart); the worker
    /// answers with a fresh hello.
    case reset
    /// Coordinator -> worker: drop this lease (the task was done elsewhere or the lease expired).
    case cancel(LeaseRef)
}

/// A task id and attempt number: the identity of one lease, with the token that proves the
/// coordinator issued it.
///
/// The token is opaque to workers (they echo it). The reference coordinator makes it a keyed hash
/// of the task id and attempt under a secret kept in its results directory, so a peer can report
/// (and be adopted for) only leases it was handed, also after a coordinator restart.
public struct LeaseRef: Sendable, Hashable {
    public var taskID: TaskID
    public var attempt: Int
    public var token: UInt64
    public init(taskID: TaskID, attempt: Int, token: UInt64) {
        self.taskID = taskID
        self.attempt = attempt
        self.token = token
    }
}

public struct Hello: Sendable, Hashable {
    public var host: String
    public var pid: Int
    public var cores: Int
    public var slots: Int
    public var threadsPerSlot: Int
    public var softwareVersion: String
    public var held: [LeaseRef]
    public init(host: String, pid: Int, cores: Int, slots: Int, threadsPerSlot: Int, softwareVersion: String, held: [LeaseRef]) {
        self.host = host
        self.pid = pid
        self.cores = cores
        self.slots = slots
        self.threadsPerSlot = threadsPerSlot
        self.softwareVersion = softwareVersion
        self.held = held
    }
}

public struct Welcome: Sendable, Hashable {
    /// How often each side sends heartbeats, in milliseconds.
    public var heartbeatIntervalMs: Int
    /// How many intervals of silence make the peer dead.
    public var liveness: Int
    public var sweepName: String
    public init(heartbeatIntervalMs: Int, liveness: Int, sweepName: String) {
        self.heartbeatIntervalMs = heartbeatIntervalMs
        self.liveness = liveness
        self.sweepName = sweepName
    }
}

public struct TaskAssignment: Sendable, Hashable {
    public var lease: LeaseRef
    public var experiment: String
    /// Fully resolved parameters, sorted by name; includes `seed`.
    public var parameters: [(name: String, value: ParameterValue)]
    public init(lease: LeaseRef, experiment: String, parameters: [(name: String, value: ParameterValue)]) {
        self.lease = lease
        self.experiment = experiment
        self.parameters = parameters
    }
    public static func == (a: Self, b: Self) -> Bool {
        a.lease == b.lease && a.experiment == b.experiment && a.parameters.elementsEqual(b.parameters, by: { $0.name == $1.name && $0.value == $1.value })
    }
    public func hash(into h: inout Hasher) {
        h.combine(lease)
        h.combine(experiment)
        for p in parameters { h.combine(p.name); h.combine(p.value) }
    }
}

public struct MetricsReport: Sendable, Hashable {
    public var lease: LeaseRef
    public var point: CurvePoint
    public init(lease: LeaseRef, point: CurvePoint) {
        self.lease = lease
        self.point = point
    }
}

public struct TaskResult: Sendable, Hashable {
    public var lease: LeaseRef
    public var wallSeconds: Double
    public var metrics: [Metric]
    public init(lease: LeaseRef, wallSeconds: Double, metrics: [Metric]) {
        self.lease = lease
        self.wallSeconds = wallSeconds
        self.metrics = metrics
    }
}

public struct TaskFailure: Sendable, Hashable {
    public var lease: LeaseRef
    public var error: String
    public init(lease: LeaseRef, error: String) {
        self.lease = lease
        self.error = error
    }
}

public struct Heartbeat: Sendable, Hashable {
    /// From a worker: the leases it holds now. From the coordinator: empty.
    public var held: [LeaseRef]
    public init(held: [LeaseRef]) { self.held = held }
}

public struct Goodbye: Sendable, Hashable {
    /// True when the receiver should not come back (the sweep is finished).
    public var final: Bool
    public var reason: String
    public init(final: Bool, reason: String) {
        self.final = final
        self.reason = reason
    }
}
