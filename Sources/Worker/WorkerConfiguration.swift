/// How a worker connects and how much it runs at once.
public struct WorkerConfiguration: Sendable {
    /// The coordinator's endpoint, `tcp://HOST:PORT`.
    public var connect: String
    /// Tasks run at once (the credit the coordinator may use).
    public var slots: Int
    /// Threads each task's training core uses.
    public var threadsPerSlot: Int
    /// The host name reported to the coordinator (and written to results.csv).
    public var host: String
    /// Heartbeat timing until the coordinator's welcome says otherwise.
    public var heartbeatIntervalMs: Int = 1000
    public var liveness: Int = 5
    /// Reconnect backoff: first wait and ceiling, doubled after each silent attempt.
    public var reconnectInitialMs: Int = 250
    public var reconnectMaxMs: Int = 30_000
    /// Give up after this many seconds without hearing from any coordinator (nil: never).
    public var giveUpAfterSeconds: Double?
    /// CURVE keys; nil connects in plain TCP.
    public var security: ClientSecurity?
    public var softwareVersion: String = "dev"
    /// Fault injection: fail every task without running it, as a broken node would (for tests of
    /// draining and retries on other hosts). Off in normal use.
    public var failEveryTask: Bool = false
    /// Stop (handing running tasks back) when this process's parent is no longer this pid: the
    /// local workers of `grainsweep run` leave with it, even after a kill -9.
    public var parentProcess: Int32?
    /// GPU ids (as CUDA_VISIBLE_DEVICES takes them) shared out among the slots: slot i of s gets
    /// the i-th of s contiguous, as-equal-as-possible runs of the list (4 GPUs, 2 slots: "0,1"
    /// and "2,3"). Empty: no GPUs are assigned and the variable is left as inherited.
    public var gpus: [String] = []

    /// ``gpus`` split among the slots (empty lists when there are none).
    public var devicesBySlot: [[String]] {
        guard !gpus.isEmpty, slots > 0 else { return [] }
        return (0..<slots).map { i in
            let start = i * gpus.count / slots
            let end = (i + 1) * gpus.count / slots
            return Array(gpus[start..<end])
        }
    }

    public init(connect: String, slots: Int, threadsPerSlot: Int, host: String) {
        self.connect = connect
        self.slots = slots
        self.threadsPerSlot = threadsPerSlot
        self.host = host
    }
}

/// A worker's CURVE identity and the coordinator it trusts.
public struct ClientSecurity: Sendable {
    public var serverPublicKey: String
    public var publicKey: String
    public var secretKey: String
    public init(serverPublicKey: String, publicKey: String, secretKey: String) {
        self.serverPublicKey = serverPublicKey
        self.publicKey = publicKey
        self.secretKey = secretKey
    }
}

/// Why a worker's run ended.
public enum WorkerExit: Sendable, Equatable {
    /// The coordinator said the sweep is finished.
    case sweepFinished
    /// SIGTERM/SIGINT (or the caller) asked it to stop; running tasks were handed back.
    case stopped
    /// No coordinator answered for `giveUpAfterSeconds`.
    case gaveUp
}
