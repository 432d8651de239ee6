import CEpoll
import CZeroMQ
import ExperimentAPI
import Synchronization
import WireProtocol
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// How long a simulated worker "runs" a task before answering.
enum TaskDelay: Sendable, CustomStringConvertible {
    /// A fixed time (0: answer at once).
    case fixed(seconds: Double)
    /// The task's own real parameter, in milliseconds (the sleep family's `sleep_ms`); 0 when absent.
    case parameter(name: String)

    var description: String {
        switch self {
        case .fixed(let s): return "\(s * 1000)"
        case .parameter(let name): return name
        }
    }
}

/// Everything the shards share: read-only after start.
struct LoadConfiguration: Sendable {
    var connect: String
    var workers: Int
    var slots: Int
    var threads: Int
    var ioThreads: Int
    var processIndex: Int
    /// Stop after this many seconds (sending goodbyes); nil: run until every worker got a final goodbye.
    var durationSeconds: Double?
    var delay: TaskDelay
    /// Names of the result metrics the family expects (the sleep family: `value`).
    var metricNames: [String]
    /// New connections per second for the whole process (a ROUTER's accept backlog is finite).
    var connectRate: Double
    var softwareVersion: String
    var rttOut: String?
    var progressSeconds: Double
}

/// Counters the main thread reads while the shards run.
final class LiveCounters: Sendable {
    // Sendable: only atomics.
    let joined = Atomic<Int>(0)
    let finished = Atomic<Int>(0)
    let completed = Atomic<Int>(0)
    let resets = Atomic<Int>(0)
    let stop = Atomic<Bool>(false)
}

/// What one shard saw, merged by the main thread at the end.
struct ShardReport: Sendable {
    var joined = 0
    var welcomes = 0
    var goodbyes = 0
    var finalGoodbyes = 0
    var cancels = 0
    var resets = 0
    /// Workers that heard nothing from the coordinator for liveness intervals (the real worker
    /// would reconnect; this one says hello again).
    var silences = 0
    var completed = 0
    var failuresSent = 0
    var duplicateTasks = 0
    var dropped = 0
    var unexpected = 0
    /// Sends refused because the socket's queue was full.
    var sendsRefused = 0
    /// Seconds from a 1-slot worker's result to its next task.
    var roundTrips: [Double] = []
    /// Monotonic time of the last first welcome in this shard.
    var lastJoinAt = 0.0
    var error: String?
}

/// A pending answer: the result of `lease` for worker `worker`, due at `due`.
private struct Pending {
    var due: Double
    var worker: Int32
    var wall: Double
    var lease: LeaseRef
}

/// One thread's share of the simulated workers: their sockets, an epoll set over them, and their
/// state. Everything here is owned by that thread.
final class Shard {
    private let configuration: LoadConfiguration
    private let counters: LiveCounters
    private let context: ZMQContext
    /// Global index of this shard's first worker, and how many it has.
    private let first: Int
    private let count: Int
    private let connectRate: Double

    private var sockets: [EdgeDealer] = []
    private var interval: [Double]
    private var liveness: [Int]
    private var nextHeartbeat: [Double]
    private var lastHeard: [Double]
    private var held: [[LeaseRef]]
    private var resultSentAt: [Double]
    private var joined: [Bool]
    private var finished: [Bool]
    private var pending: [Pending] = []
    private var report = ShardReport()
    /// The worker whose socket ``drain(_:at:)`` is reading, or -1.
    private var draining = -1
    private let message: UnsafeMutablePointer<zmq_msg_t>
    private let epoll: Int32
    private let pid = Int(getpid())

    init(configuration: LoadConfiguration, counters: LiveCounters, context: ZMQContext, first: Int, count: Int) {
        self.configuration = configuration
        self.counters = counters
        self.context = context
        self.first = first
        self.count = count
        connectRate = configuration.connectRate * Double(count) / Double(configuration.workers)
        interval = Array(repeating: 1, count: count)
        liveness = Array(repeating: 5, count: count)
        nextHeartbeat = Array(repeating: .infinity, count: count)
        lastHeard = Array(repeating: .infinity, count: count)
        held = Array(repeating: [], count: count)
        resultSentAt = Array(repeating: .nan, count: count)
        joined = Array(repeating: false, count: count)
        finished = Array(repeating: false, count: count)
        message = .allocate(capacity: 1)
        zmq_msg_init(message)
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        sockets.reserveCapacity(count)
    }

    deinit {
        for socket in sockets { socket.close() }
        zmq_msg_close(message)
        message.deallocate()
        if epoll >= 0 { _ = Glibc.close(epoll) }
    }

    /// Runs until every worker of the shard got a final goodbye, or a stop is requested (then each
    /// says goodbye, as a real worker stopping on a signal does). Returns what it saw.
    func run() -> ShardReport {
        do {
            try loop()
        } catch {
            report.error = "\(error)"
            counters.stop.store(true, ordering: .releasing)
        }
        return report
    }

    private func loop() throws {
        guard epoll >= 0 else { throw ZMQError(code: errno, operation: "epoll_create1") }
        let started = now()
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        var nextScan = started
        while true {
            var t = now()
            if counters.stop.load(ordering: .acquiring) { break }
            if report.finalGoodbyes == count { break }

            // Connect at the shard's share of the rate (a burst of thousands of SYNs overflows the
            // coordinator's accept backlog and costs seconds of TCP retransmission).
            let due = min(count, Int((t - started) * connectRate) + 1)
            while sockets.count < due { try open(at: t) }

            let wait = min(nextScan, pending.first?.due ?? .infinity, sockets.count < count ? t + 0.01 : .infinity) - t
            let timeout = Int32(max(0, min(wait, 0.1)) * 1000) + (wait > 0 ? 1 : 0)
            let n = events.withUnsafeMutableBufferPointer { epoll_wait(epoll, $0.baseAddress, Int32($0.count), timeout) }
            if n < 0 && errno != EINTR { throw ZMQError(code: errno, operation: "epoll_wait") }
            t = now()
            for e in 0..<max(0, Int(n)) { try drain(Int(events[e].data.u32), at: t) }

            // Results whose (simulated) task time is over.
            while let top = pending.first, top.due <= t {
                popPending()
                try finish(top.lease, worker: Int(top.worker), wall: top.wall, at: t)
            }

            // Heartbeats and the coordinator's liveness, per worker (a pass over plain arrays).
            if t >= nextScan {
                nextScan = t + 0.1
                for i in 0..<sockets.count where !finished[i] {
                    if t >= nextHeartbeat[i] {
                        nextHeartbeat[i] = t + interval[i]
                        try send(.heartbeat(Heartbeat(held: held[i])), from: i)
                    }
                    if t - lastHeard[i] > interval[i] * Double(liveness[i]) {
                        report.silences += 1
                        lastHeard[i] = t
                        try send(hello(i), from: i)
                    }
                    nextScan = min(nextScan, nextHeartbeat[i])
                }
            }
        }
        // Leaving: hand the leases back, as the real worker does on a signal.
        let bye = WireCodec.encode(.goodbye(Goodbye(final: false, reason: "load tool stopping")))
        for i in 0..<sockets.count where !finished[i] { _ = try? sockets[i].send(bye) }
    }

    private func open(at t: Double) throws {
        let i = sockets.count
        let socket = try context.withUnsafeHandle { h throws(ZMQError) in
            try EdgeDealer(
                context: h, routingID: "load-\(configuration.processIndex)-\(first + i)", lingerMilliseconds: 2000)
        }
        sockets.append(socket)
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u32 = UInt32(i)
        guard epoll_ctl(epoll, EPOLL_CTL_ADD, try socket.fileDescriptor(), &event) == 0 else {
            throw ZMQError(code: errno, operation: "epoll_ctl")
        }
        try socket.connect(configuration.connect)
        lastHeard[i] = t
        nextHeartbeat[i] = t + interval[i]
        try send(hello(i), from: i)
    }

    private func hello(_ i: Int) -> Message {
        .hello(Hello(
            host: "load\(configuration.processIndex)-\(first + i)", pid: pid, cores: 1, slots: configuration.slots,
            threadsPerSlot: 1, softwareVersion: configuration.softwareVersion, held: held[i]))
    }

    /// Sends, then reads whatever the socket has (a send may consume the `ZMQ_FD` signal); inside
    /// ``drain(_:at:)`` of the same socket, its loop reads them.
    private func send(_ message: Message, from i: Int) throws {
        if try !sockets[i].send(WireCodec.encode(message)) { report.sendsRefused += 1 }
        if draining != i { try drain(i, at: now()) }
    }

    /// Reads every message the socket has, until `ZMQ_EVENTS` shows no more.
    private func drain(_ i: Int, at t: Double) throws {
        let socket = sockets[i]
        draining = i
        defer { draining = -1 }
        while try socket.isReadable() {
            var more = false
            while try socket.receive(into: message, more: &more) {
                if more {
                    // A multipart message: drop it whole, as the real worker does.
                    report.dropped += 1
                    while more, try socket.receive(into: message, more: &more) {}
                    continue
                }
                let decoded: Message
                do {
                    decoded = try WireCodec.decode(UnsafeRawBufferPointer(start: zmq_msg_data(message), count: zmq_msg_size(message)))
                } catch {
                    report.dropped += 1
                    continue
                }
                try handle(decoded, worker: i, at: t)
            }
        }
    }

    private func handle(_ message: Message, worker i: Int, at t: Double) throws {
        lastHeard[i] = t
        switch message {
        case .welcome(let welcome):
            report.welcomes += 1
            if !joined[i] {
                joined[i] = true
                report.joined += 1
                report.lastJoinAt = t
                counters.joined.add(1, ordering: .relaxed)
            }
            interval[i] = Double(max(10, welcome.heartbeatIntervalMs)) / 1000
            liveness[i] = max(2, welcome.liveness)
            nextHeartbeat[i] = min(nextHeartbeat[i], t + interval[i])
        case .task(let assignment):
            try accept(assignment, worker: i, at: t)
        case .heartbeat:
            break
        case .cancel(let ref):
            report.cancels += 1
            held[i].removeAll { $0 == ref }
        case .reset:
            report.resets += 1
            counters.resets.add(1, ordering: .relaxed)
            try send(hello(i), from: i)
        case .goodbye(let goodbye):
            report.goodbyes += 1
            if goodbye.final && !finished[i] {
                finished[i] = true
                report.finalGoodbyes += 1
                counters.finished.add(1, ordering: .relaxed)
            }
        case .hello, .metrics, .result, .failure:
            report.unexpected += 1
        }
    }

    /// As the real worker accepts a task, minus running it: a duplicate is ignored, a task beyond
    /// the slots is refused; otherwise the result goes out now or after the simulated task time.
    private func accept(_ assignment: TaskAssignment, worker i: Int, at t: Double) throws {
        let ref = assignment.lease
        if held[i].contains(where: { $0.taskID == ref.taskID }) {
            report.duplicateTasks += 1
            return
        }
        if configuration.slots == 1 && !resultSentAt[i].isNaN {
            if report.roundTrips.count < 2_000_000 { report.roundTrips.append(t - resultSentAt[i]) }
            resultSentAt[i] = .nan
        }
        guard held[i].count < configuration.slots else {
            report.failuresSent += 1
            try send(.failure(TaskFailure(lease: ref, error: "worker has no free slot (\(configuration.slots) in use)")), from: i)
            return
        }
        held[i].append(ref)
        let seconds: Double
        switch configuration.delay {
        case .fixed(let s): seconds = s
        case .parameter(let name):
            let value = assignment.parameters.first { $0.name == name }?.value
            if case .real(let ms) = value { seconds = ms / 1000 } else if case .integer(let ms) = value { seconds = Double(ms) / 1000 } else { seconds = 0 }
        }
        if seconds <= 0 {
            try finish(ref, worker: i, wall: 0, at: t)
        } else {
            pushPending(Pending(due: t + seconds, worker: Int32(i), wall: seconds, lease: ref))
        }
    }

    /// Sends the result of a lease the worker still holds (a cancelled one sends nothing).
    private func finish(_ ref: LeaseRef, worker i: Int, wall: Double, at t: Double) throws {
        guard let k = held[i].firstIndex(of: ref), !finished[i] else { return }
        held[i].remove(at: k)
        report.completed += 1
        counters.completed.add(1, ordering: .relaxed)
        resultSentAt[i] = t
        try send(.result(TaskResult(lease: ref, wallSeconds: wall, metrics: configuration.metricNames.map { Metric($0, 0) })), from: i)
    }

    // MARK: - A binary min-heap of pending results, by due time.

    private func pushPending(_ p: Pending) {
        pending.append(p)
        var c = pending.count - 1
        while c > 0 {
            let parent = (c - 1) / 2
            guard pending[c].due < pending[parent].due else { break }
            pending.swapAt(c, parent)
            c = parent
        }
    }

    private func popPending() {
        let last = pending.removeLast()
        guard !pending.isEmpty else { return }
        pending[0] = last
        var p = 0
        while true {
            let l = 2 * p + 1, r = l + 1
            var m = p
            if l < pending.count && pending[l].due < pending[m].due { m = l }
            if r < pending.count && pending[r].due < pending[m].due { m = r }
            if m == p { break }
            pending.swapAt(p, m)
            p = m
        }
    }
}

/// Seconds on the monotonic clock.
func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
