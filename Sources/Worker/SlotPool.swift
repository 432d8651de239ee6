import ExperimentAPI
import Foundation
import Parallelism
import WireProtocol

/// A job for a slot thread: one lease of one task.
struct Job: @unchecked Sendable {
    // @unchecked: `family` is an immutable Sendable existential and the rest are values or a
    // Sendable flag; the struct is handed from the I/O thread to one slot thread.
    let lease: LeaseRef
    let family: any ExperimentFamily
    let parameters: ParameterSet
    /// Set by the I/O thread (cancel, shutdown); the task stops within one unit of work.
    let cancellation: TaskCancellation
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
/// Each slot owns one ``ComputePool`` for its whole life and lends it to every task it runs, so
/// the worker's thread count is fixed when it starts (slots × threads per slot, plus the I/O
/// thread) and cannot grow with the number of tasks. The pools are made up front: a host that
/// cannot give the threads fails here, before the worker connects and holds any lease.
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
    /// Slot threads still running (each shuts its pool down as it ends).
    private var liveSlots = 0

    /// - Throws: ``ComputePoolError`` when the threads cannot be created (none is left running).
    /// - Parameter devices: the GPUs of each slot (empty: none); lent to its tasks.
    init(slots: Int, threadsPerSlot: Int, devices: [[String]] = []) throws(ComputePoolError) {
        var pools: [ComputePool] = []
        for _ in 0..<slots {
            do {
                pools.append(try ComputePool(threads: threadsPerSlot))
            } catch {
                for pool in pools { pool.shutdown() }
                throw error
            }
        }
        var ends: [Int32] = [0, 0]
        precondition(pipe(&ends) == 0, "pipe failed")
        for fd in ends {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        wakeFD = ends[0]
        wakeWriteFD = ends[1]
        liveSlots = slots
        for (n, pool) in pools.enumerated() {
            let thread = Thread { [self] in
                slotLoop(TaskContext(pool: pool, devices: n < devices.count ? devices[n] : []))
                pool.shutdown()
                condition.lock()
                liveSlots -= 1
                condition.broadcast()
                condition.unlock()
            }
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

    /// Lets slot threads end after their current job (cancel it first to make that prompt) and,
    /// with `wait`, waits until they have ended and joined their pools' threads.
    func stop(wait: Bool = false) {
        condition.lock()
        stopping = true
        condition.broadcast()
        if wait { while liveSlots > 0 { condition.wait() } }
        condition.unlock()
    }

    private func post(_ event: SlotEvent) {
        condition.lock()
        outbox.append(event)
        condition.unlock()
        var one: UInt8 = 1
        _ = write(wakeWriteFD, &one, 1)  // a full pipe (EAGAIN) already means "wake up"
    }

    private func slotLoop(_ slot: TaskContext) {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping { condition.wait() }
            if stopping {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            let context = TaskContext(pool: slot.pool, cancellation: job.cancellation, devices: slot.devices)
            post(Self.execute(job, context: context) { [self] point in post(.metrics(job.lease, point)) })
        }
    }

    /// Runs one job on the calling thread and returns its outcome.
    static func execute(_ job: Job, context: TaskContext, onEpoch: (CurvePoint) -> Void) -> SlotEvent {
        let start = monotonicSeconds()
        if job.cancellation.isCancelled { return .failure(job.lease, TaskCancelled().description) }
        do {
            let metrics = try job.family.run(job.parameters, context: context, onEpoch: onEpoch)
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
