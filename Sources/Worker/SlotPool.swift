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
/// through an eventfd (which it polls beside the ZeroMQ socket).
///
/// Slot threads never touch the socket (a ZeroMQ socket belongs to one thread), so the I/O
/// thread keeps heartbeating however busy training keeps the cores.
final class SlotPool: @unchecked Sendable {
    // @unchecked: every mutable field is guarded by `condition`; `wakeFD` is written to only.
    private let condition = NSCondition()
    private var jobs: [Job] = []
    private var outbox: [SlotEvent] = []
    private var stopping = false
    let wakeFD: Int32
    let threadsPerSlot: Int

    init(slots: Int, threadsPerSlot: Int) {
        self.threadsPerSlot = threadsPerSlot
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        precondition(wakeFD >= 0, "eventfd failed")
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

    /// Takes every event posted since the last call (and clears the eventfd).
    func drain() -> [SlotEvent] {
        var counter: UInt64 = 0
        _ = read(wakeFD, &counter, 8)
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
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
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
