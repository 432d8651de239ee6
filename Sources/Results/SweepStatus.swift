import Foundation

/// The live state of a sweep, as its coordinator last saw it: written atomically as
/// `status.json` in the results directory when the coordinator starts, every
/// ``SweepStatus/writeIntervalSeconds`` while it serves, and when it stops.
///
/// It is what `report --watch` needs beyond the CSV files (the plan's size, what is running, who
/// is connected), and a machine-readable status for scripts and dashboards. Everything durable
/// (finished tasks, wall times, hosts) stays in the CSV files; this file is a snapshot that a
/// crash may leave stale, which is why it carries the writer's pid and `updated_at`.
public struct SweepStatus: Codable, Sendable, Equatable {
    /// What the coordinator is doing.
    public enum State: String, Codable, Sendable {
        /// Serving tasks.
        case running
        /// Asked to stop: hands out nothing new, waits for running tasks.
        case stopping
        /// Every task is finished or quarantined.
        case finished
        /// Stopped before the end (Ctrl-C, SIGTERM, SIGHUP); run again to resume.
        case stopped
    }

    /// How often a serving coordinator rewrites the file.
    public static let writeIntervalSeconds = 2.0
    /// The file's name in the results directory.
    public static let fileName = "status.json"

    /// Layout version of this file (1).
    public var schema: Int
    public var sweep: String
    public var experiment: String
    public var state: State
    /// When this coordinator session started and when the file was written (UTC, ISO 8601).
    public var startedAt: String
    public var updatedAt: String
    /// The writing coordinator's process id.
    public var pid: Int32
    /// Tasks in the plan; finished (results.csv), quarantined (failures.csv), leased now, and
    /// unfinished tasks that failed at least once and wait for another attempt.
    public var total: Int
    public var done: Int
    public var quarantined: Int
    public var running: Int
    public var retrying: Int
    /// Tasks finished in this coordinator session.
    public var ranThisSession: Int
    /// Finished tasks per minute over the last minute, and the time left at that rate (nil
    /// before the first result of this session).
    public var tasksPerMinute: Double
    public var etaSeconds: Double?
    /// Connected workers, and their slots and leases grouped by host.
    public var workers: Int
    public var hosts: [Host]
    /// Network messages dropped (malformed, hostile, stale) and connections refused by CURVE.
    public var droppedMessages: Int
    public var deniedConnections: Int

    /// One host's connected workers.
    public struct Host: Codable, Sendable, Equatable {
        public var host: String
        public var workers: Int
        public var slots: Int
        public var running: Int
        public init(host: String, workers: Int, slots: Int, running: Int) {
            self.host = host
            self.workers = workers
            self.slots = slots
            self.running = running
        }
    }

    public init(
        sweep: String, experiment: String, state: State, startedAt: String, updatedAt: String, pid: Int32,
        total: Int, done: Int, quarantined: Int, running: Int, retrying: Int, ranThisSession: Int,
        tasksPerMinute: Double, etaSeconds: Double?, workers: Int, hosts: [Host], droppedMessages: Int,
        deniedConnections: Int
    ) {
        schema = 1
        self.sweep = sweep
        self.experiment = experiment
        self.state = state
        self.startedAt = startedAt
        self.updatedAt = updatedAt
        self.pid = pid
        self.total = total
        self.done = done
        self.quarantined = quarantined
        self.running = running
        self.retrying = retrying
        self.ranThisSession = ranThisSession
        self.tasksPerMinute = tasksPerMinute
        self.etaSeconds = etaSeconds
        self.workers = workers
        self.hosts = hosts
        self.droppedMessages = droppedMessages
        self.deniedConnections = deniedConnections
    }

    enum CodingKeys: String, CodingKey {
        case schema, sweep, experiment, state, pid, total, done, quarantined, running, retrying, workers, hosts
        case startedAt = "started_at", updatedAt = "updated_at", ranThisSession = "ran_this_session"
        case tasksPerMinute = "tasks_per_minute", etaSeconds = "eta_seconds"
        case droppedMessages = "dropped_messages", deniedConnections = "denied_connections"
    }

    /// The JSON text (keys sorted, pretty-printed).
    public func encoded() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        // Encoding a struct of strings and numbers cannot fail.
        return (try? encoder.encode(self)) ?? Data("{}".utf8)
    }

    /// Reads `status.json` from a results directory: nil when there is none (a directory from
    /// an older grainsweep, or one no coordinator has served yet) or it cannot be parsed.
    public static func load(directory: String) -> SweepStatus? {
        guard let data = FileManager.default.contents(atPath: directory + "/" + fileName) else { return nil }
        return try? JSONDecoder().decode(SweepStatus.self, from: data)
    }

    /// Writes the file atomically (a reader sees the old or the new status, never half of one).
    public func write(directory: String) throws(ResultsError) {
        try writeSnapshot(path: directory + "/" + Self.fileName, Array(encoded()))
    }
}

/// Replaces a file that is a snapshot (status.json, metrics.prom) by `bytes`: written beside it
/// and renamed over it, so that readers see the old or the new text, never a mix. Not synced:
/// a snapshot is rewritten every few seconds, and a crash may leave the previous one.
public func writeSnapshot(path: String, _ bytes: [UInt8]) throws(ResultsError) {
    let temporary = path + ".tmp"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw ResultsError(path: temporary, message: "cannot create: \(String(cString: strerror(errno)))") }
    let failure = AppendOnlyCSV.writeAll(fd, bytes)
    close(fd)
    if let failure {
        unlink(temporary)
        throw ResultsError(path: temporary, message: "cannot write: \(String(cString: strerror(failure)))")
    }
    guard rename(temporary, path) == 0 else {
        let code = errno
        unlink(temporary)
        throw ResultsError(path: path, message: "cannot replace: \(String(cString: strerror(code)))")
    }
}
