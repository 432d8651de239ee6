import ExperimentAPI
import Foundation
import WireProtocol

/// A job for a slot thread: one lease of one task.
struct Job: @unchecked Sendable {
    // @unchecked: `family` is an immutable Sendable existential and the rest are values; the
    // struct is handed from the I/O thread to one slot thread and never shared afterwards.
    let lease: LeaseRef
    let family: any ExperimentFamily
    let parameters: ParameterSet
}

/// What slot threads tell the I/O thread.
enum SlotEvent: Sendable {
    case metrics(LeaseRef, CurvePoint)
    case result(LeaseRef, wallSeconds: Double, [Metric])
    case failure(LeaseRef, String)
}

/// The slot threads of a worker: each takes one job at a time from a shared queue and runs it on
/// the training core; outcomes go to an outbox that the I/O thread drains after being woken
/// through a non-blocking pipe (which it polls beside the ZeroMQ socket).
///
/// Slot threads never touch the socket (a ZeroMQ socket belongs to one thread), so the I/O
/// thread keeps heartbeating however busy training keeps the cores.
final class SlotPool: @unchecked Sendable {
    // @unchecked: every mutable field is guarded by `condition`; the pipe's ends are only read
    // (by the I/O thread) and written (by slot threads), which the kernel makes safe.
    private let condition = NSCondition()
    private var jobs: [Job] = []
    private var outbox: [SlotEvent] = []
    private var stopping = false
    /// The read end of the wake-up pipe, for the I/O thread's poll.
    let wakeFD: Int32
    private let wakeWriteFD: Int32
    let threadsPerSlot: Int

    init(slots: Int, threadsPerSlot: Int) {
        self.threadsPerSlot = threadsPerSlot
        var ends: [Int32] = [0, 0]
        precondition(pipe(&ends) == 0, "pipe failed")
        for fd in ends {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        wakeFD = ends[0]
        wakeWriteFD = ends[1]
        for n in 0..<slots {
            let thread = Thread { [self] in slotLoop() }
            thread.name = "grainsweep-slot-\(n)"
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    func submit(_ job: Job) {
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Takes every event posted since the last call (and empties the wake-up pipe).
    func drain() -> [SlotEvent] {
        var sink = [UInt8](repeating: 0, count: 256)
        while read(wakeFD, &sink, sink.count) > 0 {}
        condition.lock()
        defer { condition.unlock() }
        let events = outbox
        outbox.removeAll(keepingCapacity: true)
        return events
    }

    /// Lets slot threads end after their current job (the process usually exits first).
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    private func post(_ event: SlotEvent) {
        condition.lock()
        outbox.append(event)
        condition.unlock()
        var one: UInt8 = 1
        _ = write(wakeWriteFD, &one, 1)  // a full pipe (EAGAIN) already means "wake up"
    }

    private func slotLoop() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping { condition.wait() }
            if stopping {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            post(Self.execute(job, threads: threadsPerSlot) { [self] point in post(.metrics(job.lease, point)) })
        }
    }

    /// Runs one job on the calling thread and returns its outcome.
    static func execute(_ job: Job, threads: Int, onEpoch: (CurvePoint) -> Void) -> SlotEvent {
        let start = monotonicSeconds()
        do {
            let metrics = try job.family.run(job.parameters, threads: threads, onEpoch: onEpoch)
            return .result(job.lease, wallSeconds: monotonicSeconds() - start, metrics)
        } catch {
            return .failure(job.lease, String(describing: error))
        }
    }
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
