import Glibc
import Synchronization

/// A small pool of threads that run the chunks of one job: every thread, the caller included,
/// takes the next chunk index from a shared counter until none is left.
///
/// Ownership is explicit: whoever creates a pool owns its threads and must call ``shutdown()``
/// once, which joins them. A pool holds no job once ``run(count:_:then:_:)`` returns, so the
/// closures of a job (and whatever they capture, e.g. a network's buffers) are released as soon
/// as the job ends: nothing the pool runs can keep itself or its owner alive. A worker slot
/// creates one pool when it starts and lends it to every task it runs (issue 18: a pool per task
/// whose last job captured its engine leaked both, one thread per task).
///
/// Why not `DispatchQueue.concurrentPerform`: a pool whose threads may take any chunk and that
/// spins briefly before sleeping was about 1.3x faster on this step (SCIENCE.md). Why not a pure
/// spin barrier: it collapses when another process holds the other core, so idle workers spin
/// only for a bounded time and then sleep on a condition variable.
///
/// Which thread runs which chunk varies from run to run; callers make results independent of it
/// by writing each chunk's output to its own slot and reducing slots in a fixed order.
public final class ComputePool: @unchecked Sendable {
    // @unchecked Sendable: `job` is written only by the caller under `mutex` before the
    // generation is published and read by workers under `mutex` after they observe it; every
    // other shared field is an Atomic.

    /// One job of one or two phases: chunk counters and completion counts. A worker that wakes
    /// late may hold an old job; it then finds the counters exhausted and never calls a body.
    ///
    /// Waiting (for the first phase to end before the second, and for the whole job in `run`):
    /// spin on the completion count for up to ``spinLimit`` loads, then sleep on the pool's
    /// condition variable until the thread that completes the phase wakes the sleepers. A pure
    /// spin (or spin-and-yield) wait collapses when another process holds a core: the waiter
    /// burns its time slice while the thread it waits for is not running.
    private final class Job: @unchecked Sendable {
        // @unchecked Sendable: the bodies are immutable; the atomics are the only shared mutable
        // state; the mutex and condition are the pool's, valid while the pool is.
        let count: Int
        let body: @Sendable (_ chunk: Int, _ worker: Int) -> Void
        let next = Atomic<Int>(0)
        let finished = Atomic<Int>(0)
        /// The second phase: starts once every chunk of the first has finished.
        let count2: Int
        let body2: (@Sendable (_ chunk: Int, _ worker: Int) -> Void)?
        let next2 = Atomic<Int>(0)
        let finished2 = Atomic<Int>(0)
        /// Threads sleeping (or about to) on `condition` for this job.
        let sleepers = Atomic<Int>(0)
        let mutex: UnsafeMutablePointer<pthread_mutex_t>
        let condition: UnsafeMutablePointer<pthread_cond_t>

        init(count: Int, body: @escaping @Sendable (Int, Int) -> Void,
             count2: Int, body2: (@Sendable (Int, Int) -> Void)?,
             mutex: UnsafeMutablePointer<pthread_mutex_t>, condition: UnsafeMutablePointer<pthread_cond_t>) {
            self.count = count
            self.body = body
            self.count2 = count2
            self.body2 = body2
            self.mutex = mutex
            self.condition = condition
        }

        var firstPhaseDone: Bool { finished.load(ordering: .sequentiallyConsistent) >= count }
        var allDone: Bool { firstPhaseDone && finished2.load(ordering: .sequentiallyConsistent) >= count2 }

        /// Called by the thread that completed a phase (or the job): wakes the sleepers, if any.
        /// The sequentially consistent increment before and the load of `sleepers` here pair with
        /// the sleeper's increment of `sleepers` and its check of the counts under the mutex, so
        /// a wake-up is never lost.
        private func wakeSleepers() {
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(mutex)
                pthread_cond_broadcast(condition)
                pthread_mutex_unlock(mutex)
            }
        }

        /// Spins briefly, then yields for up to ``spinNanoseconds`` (a thread of ours descheduled
        /// on this core gets it at once), then sleeps until `done()` (the idle core can take a
        /// thread of ours queued behind another process on the other core).
        func wait(until done: () -> Bool) {
            var spins = 0
            while !done() {
                spins &+= 1
                if spins < 256 { continue }
                let deadline = monotonicNanoseconds() &+ ComputePool.spinNanoseconds
                while !done() {
                    sched_yield()
                    if monotonicNanoseconds() >= deadline {
                        sleepers.wrappingAdd(1, ordering: .sequentiallyConsistent)
                        pthread_mutex_lock(mutex)
                        while !done() { pthread_cond_wait(condition, mutex) }
                        pthread_mutex_unlock(mutex)
                        sleepers.wrappingSubtract(1, ordering: .sequentiallyConsistent)
                        return
                    }
                }
                return
            }
        }

        /// Runs chunks until none is left, then (after the last first-phase chunk has finished,
        /// whichever thread runs it) second-phase chunks until none is left.
        func work(worker: Int) {
            while true {
                let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                if i >= count { break }
                body(i, worker)
                if finished.wrappingAdd(1, ordering: .sequentiallyConsistent).newValue == count { wakeSleepers() }
            }
            guard let body2, count2 > 0 else { return }
            if next2.load(ordering: .relaxed) >= count2 { return }
            wait { firstPhaseDone }
            while true {
                let i = next2.wrappingAdd(1, ordering: .relaxed).oldValue
                if i >= count2 { return }
                body2(i, worker)
                if finished2.wrappingAdd(1, ordering: .sequentiallyConsistent).newValue == count2 { wakeSleepers() }
            }
        }
    }

    /// How long a waiting thread spins before it sleeps: longer than a step's usual imbalance
    /// between threads (a chunk takes tens of microseconds) and than a wake-up, far shorter than
    /// a time slice (milliseconds), which is what a spinning waiter loses when the thread it
    /// waits for has been descheduled.
    static let spinNanoseconds: UInt64 = 50_000
    /// The number of threads that run a job, the caller included.
    public let threads: Int
    private var workers: [pthread_t] = []
    private let generation = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Where threads sleep while they wait for a phase or a job to complete (see `Job`).
    private let doneMutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let doneCondition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var job: Job?
    private var isShutDown = false

    /// Starts `threads - 1` worker threads (none for 1).
    /// - Throws: ``ComputePoolError`` when the system refuses a thread; the threads already
    ///   started are stopped and joined first, so a failed pool leaves nothing behind.
    public init(threads: Int) throws(ComputePoolError) {
        self.threads = max(1, threads)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
        pthread_mutex_init(doneMutex, nil)
        pthread_cond_init(doneCondition, nil)
        for w in 1..<self.threads {
            let context = Unmanaged.passRetained(WorkerContext(pool: self, worker: w))
            var thread = pthread_t()
            let rc = pthread_create(&thread, nil, { raw in
                let context = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
                context.pool.workerLoop(worker: context.worker)
                return nil
            }, context.toOpaque())
            guard rc == 0 else {
                context.release()
                shutdown()
                throw ComputePoolError(threads: self.threads, started: w, code: rc)
            }
            workers.append(thread)
        }
    }

    /// The pool's threads run until ``shutdown()``; dropping the last reference without it is a
    /// programming error (the threads would outlive the pool), caught here in debug builds.
    deinit {
        assert(isShutDown, "ComputePool released without shutdown()")
    }

    private final class WorkerContext {
        unowned(unsafe) let pool: ComputePool
        let worker: Int
        init(pool: ComputePool, worker: Int) {
            self.pool = pool
            self.worker = worker
        }
    }

    /// Stops and joins the workers. Must be called once, by the owner, when no job runs.
    public func shutdown() {
        precondition(!isShutDown, "ComputePool.shutdown() called twice")
        isShutDown = true
        pthread_mutex_lock(mutex)
        stopping.store(true, ordering: .releasing)
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
        for t in workers { pthread_join(t, nil) }
        workers = []
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        condition.deallocate()
        pthread_cond_destroy(doneCondition)
        pthread_mutex_destroy(doneMutex)
        doneMutex.deallocate()
        doneCondition.deallocate()
    }

    /// Runs `body(chunk, worker)` for every chunk in 0..<count and returns when all are done.
    /// `worker` is in 0..<threads and no two concurrent calls share one (for scratch buffers).
    public func run(count: Int, _ body: @escaping @Sendable (_ chunk: Int, _ worker: Int) -> Void) {
        run(count: count, body, then: 0, nil)
    }

    /// Runs `body` for every chunk in 0..<count, then `body2` for every chunk in 0..<count2, and
    /// returns when all are done: two barrier-separated phases published to the workers once
    /// (one wake-up per job instead of two), e.g. a step's chunks, then its reduction.
    public func run(count: Int, _ body: @escaping @Sendable (_ chunk: Int, _ worker: Int) -> Void,
             then count2: Int, _ body2: (@Sendable (_ chunk: Int, _ worker: Int) -> Void)?) {
        if count == 0 && (count2 == 0 || body2 == nil) { return }
        if threads == 1 || (count <= 1 && count2 <= 1) {
            for i in 0..<count { body(i, 0) }
            if let body2 { for i in 0..<count2 { body2(i, 0) } }
            return
        }
        let job = Job(count: count, body: body, count2: body2 == nil ? 0 : count2, body2: body2,
                      mutex: doneMutex, condition: doneCondition)
        pthread_mutex_lock(mutex)
        self.job = job
        generation.wrappingAdd(1, ordering: .releasing)
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
        job.work(worker: 0)
        job.wait { job.allDone }
        // Forget the job: its closures capture the caller's state, which must not live on in the
        // pool (a worker that wakes late for this generation finds no job, or an exhausted one).
        pthread_mutex_lock(mutex)
        if self.job === job { self.job = nil }
        pthread_mutex_unlock(mutex)
    }

    private func workerLoop(worker: Int) {
        var seen = 0
        while true {
            // Spin briefly (a task's jobs follow each other within microseconds), then sleep.
            let deadline = monotonicNanoseconds() &+ Self.spinNanoseconds
            var spins = 0
            while generation.load(ordering: .acquiring) == seen && !stopping.load(ordering: .acquiring) {
                spins &+= 1
                if spins & 63 == 0 && monotonicNanoseconds() >= deadline { break }
            }
            pthread_mutex_lock(mutex)
            while generation.load(ordering: .acquiring) == seen && !stopping.load(ordering: .acquiring) {
                pthread_cond_wait(condition, mutex)
            }
            if stopping.load(ordering: .acquiring) {
                pthread_mutex_unlock(mutex)
                return
            }
            seen = generation.load(ordering: .acquiring)
            let current = job
            pthread_mutex_unlock(mutex)
            current?.work(worker: worker)
        }
    }
}

/// CLOCK_MONOTONIC in nanoseconds (a vDSO call, no system call).
@inline(__always)
private func monotonicNanoseconds() -> UInt64 {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return UInt64(t.tv_sec) &* 1_000_000_000 &+ UInt64(t.tv_nsec)
}

/// The system refused a pool's thread (e.g. the process or user reached its thread limit).
public struct ComputePoolError: Error, CustomStringConvertible {
    /// Threads asked for, the caller's included.
    public let threads: Int
    /// Threads that had started (the caller's included) when creation failed.
    public let started: Int
    /// pthread_create's error code (EAGAIN: a thread or memory limit).
    public let code: Int32
    public var description: String {
        "cannot start a pool of \(threads) threads: pthread_create failed with \(String(cString: strerror(code))) (code \(code)) after \(started); check `ulimit -u` and the memory limit"
    }
}
