// LoadWorkers: N simulated grainsweep workers over real ZeroMQ, from one process (issue 12).
//
// Each simulated worker is one DEALER socket (one TCP connection) that says hello, follows the
// coordinator's welcome (heartbeat interval, liveness), heartbeats listing the leases it holds,
// answers each task with a result (at once or after a simulated task time), and handles cancel,
// reset and goodbye as the real worker (Sources/Worker/Worker.swift) does. Messages are built
// and read with WireCodec only. A few threads each own a share of the sockets and wait on an
// epoll set over them (see EdgeDealer.swift for why not zmq_poll).
//
// Prints progress on stderr and a one-line JSON summary on stdout. See run-load.sh.

import ExperimentAPI
import Foundation
import Lifecycle
import Synchronization
import WireProtocol
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

let usage = """
    usage: LoadWorkers --connect tcp://HOST:PORT [options]
      --workers N            simulated workers (default 1000)
      --slots S              slots per worker (default 1; round trips are measured with 1)
      --threads T            threads sharing the sockets (default: 1 per 2,500 workers, 1...4)
      --io-threads K         libzmq I/O threads (default: 1 per 5,000 workers)
      --process P            this process's number, for routing ids load-P-k (default 0)
      --duration SECONDS     stop after this long, handing leases back (default: until the final goodbye)
      --delay-ms MS          simulated task time (default 0: answer at once)
      --delay-param NAME     simulated task time from the task's parameter NAME, in ms (e.g. sleep_ms)
      --metrics A,B          result metric names the family expects (default: value, the sleep family's)
      --connect-rate R       new connections per second (default 2000)
      --software-version V   reported in hello (default load-1)
      --rtt-out FILE         write every lease round trip (ms), one a line
      --progress SECONDS     progress line interval on stderr (default 5; 0: none)
    """

func fail(_ text: String) -> Never {
    log(text)
    exit(2)
}

/// A line on stderr.
func log(_ text: String) {
    FileHandle.standardError.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
}

/// User + system CPU seconds of this process.
func cpuSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6
}

/// The shards' reports, as they finish.
final class Reports: Sendable {
    private let reports = Mutex<[ShardReport]>([])
    func add(_ report: ShardReport) { reports.withLock { $0.append(report) } }
    var all: [ShardReport] { reports.withLock { $0 } }
}

@main
enum LoadWorkers {
    static func main() {
        // MARK: - Options

        var configuration = LoadConfiguration(
            connect: "", workers: 1000, slots: 1, threads: 0, ioThreads: 0, processIndex: 0, durationSeconds: nil,
            delay: .fixed(seconds: 0), metricNames: ["value"], connectRate: 2000, softwareVersion: "load-1", rttOut: nil,
            progressSeconds: 5)
        do {
            var args = CommandLine.arguments.dropFirst()
            func value(_ flag: String) -> String {
                guard let v = args.popFirst() else { fail("\(flag) needs a value\n\(usage)") }
                return v
            }
            func number(_ flag: String, _ range: ClosedRange<Double>) -> Double {
                let text = value(flag)
                guard let v = Double(text), range.contains(v) else { fail("\(flag) \(text): expected a number in \(range)") }
                return v
            }
            while let flag = args.popFirst() {
                switch flag {
                case "--connect": configuration.connect = value(flag)
                case "--workers": configuration.workers = Int(number(flag, 1...1_000_000))
                case "--slots": configuration.slots = Int(number(flag, 1...Double(WireLimits.maxHeldLeases)))
                case "--threads": configuration.threads = Int(number(flag, 1...64))
                case "--io-threads": configuration.ioThreads = Int(number(flag, 1...64))
                case "--process": configuration.processIndex = Int(number(flag, 0...1_000_000))
                case "--duration": configuration.durationSeconds = number(flag, 0.1...1e7)
                case "--delay-ms": configuration.delay = .fixed(seconds: number(flag, 0...1e9) / 1000)
                case "--delay-param": configuration.delay = .parameter(name: value(flag))
                case "--metrics": configuration.metricNames = value(flag).split(separator: ",").map(String.init)
                case "--connect-rate": configuration.connectRate = number(flag, 1...1e7)
                case "--software-version": configuration.softwareVersion = value(flag)
                case "--rtt-out": configuration.rttOut = value(flag)
                case "--progress": configuration.progressSeconds = number(flag, 0...1e6)
                case "-h", "--help":
                    print(usage)
                    exit(0)
                default: fail("unknown option \(flag)\n\(usage)")
                }
            }
            guard !configuration.connect.isEmpty else { fail("--connect is required\n\(usage)") }
            let n = configuration.workers
            if configuration.threads == 0 { configuration.threads = min(4, max(1, (n + 2499) / 2500)) }
            configuration.threads = min(configuration.threads, n)
            if configuration.ioThreads == 0 { configuration.ioThreads = max(1, (n + 4999) / 5000) }
        }

        // MARK: - Limits

        // Descriptors: each simulated worker has its socket's mailbox (an eventfd) and its TCP
        // connection; the context, its I/O threads, the epoll sets and stdio need a few dozen more.
        let workers = configuration.workers
        let neededFiles = UInt64(2 * workers + 8 * configuration.ioThreads + 4 * configuration.threads + 64)
        let limit = raiseOpenFileLimit()
        guard limit.soft >= neededFiles else {
            let perProcess = max(1, (Int(min(limit.soft, limit.hard)) - 64 - 8 * configuration.ioThreads - 16) / 2)
            fail("""
                RLIMIT_NOFILE is too low for \(workers) simulated workers: they need about \(neededFiles) open files \
                (2 per worker: its socket's mailbox and its TCP connection), and this process may open \(limit.soft) \
                (\(limit); the soft limit was raised to the hard limit, which only root can raise: `ulimit -Hn`, \
                /etc/security/limits.conf, or LimitNOFILE= in a systemd unit). Run at most \(perProcess) workers per \
                process (several processes with --process 0, 1, ...), or raise the hard limit.
                """)
        }

        // Optional so that it is terminated (zmq_ctx_term, which waits out each socket's linger so
        // the workers' goodbyes go out) before the process exits.
        var context: ZMQContext?
        do {
            context = try ZMQContext(ioThreads: configuration.ioThreads, maxSockets: workers + 16)
        } catch {
            fail("cannot create a ZeroMQ context for \(workers) sockets: \(error)")
        }
        if let c = context, c.maxSockets < workers {
            fail("libzmq allows at most \(c.socketLimit) sockets per context (ZMQ_SOCKET_LIMIT), \(workers) asked: run several processes")
        }

        // MARK: - Run

        let counters = LiveCounters()
        let shutdown = ShutdownRequest()
        shutdown.installSignalHandlers()
        let collected = Reports()
        let started = now()
        let cpuStart = cpuSeconds()
        log(
            "load: \(workers) workers × \(configuration.slots) slot(s) -> \(configuration.connect); \(configuration.threads) thread(s), \(configuration.ioThreads) I/O thread(s), \(limit); task time \(configuration.delay) ms\n")

        var threads: [JoinableThread] = []
        var firstWorker = 0
        for t in 0..<configuration.threads {
            let share = workers / configuration.threads + (t < workers % configuration.threads ? 1 : 0)
            let first = firstWorker
            firstWorker += share
            let shardConfiguration = configuration
            let sharedContext = context!
            let body: @Sendable () -> Void = {
                let shard = Shard(configuration: shardConfiguration, counters: counters, context: sharedContext, first: first, count: share)
                let report = shard.run()
                collected.add(report)
            }
            do {
                threads.append(try JoinableThread(body))
            } catch {
                fail("cannot start a thread: \(error)")
            }
        }

        var nextProgress = started + configuration.progressSeconds
        var allJoinedAfter: Double?
        while true {
            usleep(50_000)
            let t = now()
            let joined = counters.joined.load(ordering: .relaxed)
            if joined == workers && allJoinedAfter == nil {
                allJoinedAfter = t - started
                log("load: all \(workers) joined after \(String(format: "%.1f", t - started)) s\n")
            }
            if configuration.progressSeconds > 0 && t >= nextProgress {
                nextProgress = t + configuration.progressSeconds
                log(
                    "load: \(String(format: "%.0f", t - started)) s joined=\(joined) completed=\(counters.completed.load(ordering: .relaxed)) resets=\(counters.resets.load(ordering: .relaxed)) cpu=\(String(format: "%.0f", (cpuSeconds() - cpuStart) / (t - started) * 100))%\n")
            }
            if counters.stop.load(ordering: .acquiring) { break }  // a shard failed
            if counters.finished.load(ordering: .relaxed) == workers { break }
            if shutdown.requests > 0 { break }
            if let d = configuration.durationSeconds, t - started >= d { break }
        }
        let stoppedAt = now()
        counters.stop.store(true, ordering: .releasing)
        for thread in threads { thread.join() }
        context = nil

        // MARK: - Summary

        var total = ShardReport()
        var roundTrips: [Double] = []
        for r in collected.all {
            total.joined += r.joined
            total.welcomes += r.welcomes
            total.goodbyes += r.goodbyes
            total.finalGoodbyes += r.finalGoodbyes
            total.cancels += r.cancels
            total.resets += r.resets
            total.silences += r.silences
            total.completed += r.completed
            total.failuresSent += r.failuresSent
            total.duplicateTasks += r.duplicateTasks
            total.dropped += r.dropped
            total.unexpected += r.unexpected
            total.sendsRefused += r.sendsRefused
            total.lastJoinAt = max(total.lastJoinAt, r.lastJoinAt)
            roundTrips += r.roundTrips
            if let e = r.error { total.error = e }
        }
        roundTrips.sort()
        func quantileMs(_ q: Double) -> String {
            roundTrips.isEmpty ? "null" : String(format: "%.3f", roundTrips[min(roundTrips.count - 1, Int(Double(roundTrips.count) * q))] * 1000)
        }
        if let path = configuration.rttOut {
            var text = ""
            text.reserveCapacity(roundTrips.count * 8)
            for s in roundTrips { text += String(format: "%.3f\n", s * 1000) }
            guard let file = fopen(path, "w") else { fail("cannot write \(path): \(String(cString: strerror(errno)))") }
            fputs(text, file)
            fclose(file)
        }
        let elapsed = stoppedAt - started
        var usage_ = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage_)
        let summary = [
            "\"workers\":\(workers)", "\"process\":\(configuration.processIndex)", "\"slots\":\(configuration.slots)",
            "\"threads\":\(configuration.threads)", "\"ioThreads\":\(configuration.ioThreads)",
            "\"joined\":\(total.joined)", "\"allJoinedSeconds\":\(allJoinedAfter.map { String(format: "%.2f", $0) } ?? "null")",
            "\"welcomes\":\(total.welcomes)", "\"goodbyes\":\(total.goodbyes)", "\"finalGoodbyes\":\(total.finalGoodbyes)",
            "\"cancels\":\(total.cancels)", "\"resets\":\(total.resets)", "\"silences\":\(total.silences)",
            "\"tasksCompleted\":\(total.completed)", "\"failuresSent\":\(total.failuresSent)",
            "\"duplicateTasks\":\(total.duplicateTasks)", "\"dropped\":\(total.dropped)", "\"unexpected\":\(total.unexpected)",
            "\"sendsRefused\":\(total.sendsRefused)", "\"roundTrips\":\(roundTrips.count)",
            "\"roundTripP50Ms\":\(quantileMs(0.5))", "\"roundTripP99Ms\":\(quantileMs(0.99))",
            "\"seconds\":\(String(format: "%.2f", elapsed))",
            "\"cpuPercent\":\(String(format: "%.1f", (cpuSeconds() - cpuStart) / max(elapsed, 1e-9) * 100))",
            "\"maxRSSMB\":\(String(format: "%.1f", Double(usage_.ru_maxrss) / 1024))",
            "\"error\":\(total.error.map { "\"\($0.replacingOccurrences(of: "\"", with: "'"))\"" } ?? "null")",
        ]
        print("{" + summary.joined(separator: ",") + "}")
        exit(total.error == nil ? 0 : 1)
    }
}
