import Parallelism
import Synchronization

/// What a running task is lent by whoever runs it: the compute threads it may use and the flag
/// that asks it to stop.
///
/// A worker slot owns one ``ComputePool`` for its whole life and lends it to each task in turn, so
/// a task never creates or leaks threads; the result of a task must not depend on
/// `pool.threads`. Families check ``cancellation`` between units of work (an SGD step, an epoch,
/// a slice of a sleep) and throw ``TaskCancelled`` when it is set.
public struct TaskContext: Sendable {
    public let pool: ComputePool
    public let cancellation: TaskCancellation
    /// The GPUs of the worker slot running the task (ids as CUDA_VISIBLE_DEVICES takes them;
    /// empty: none assigned). Only families that start programs use them.
    public let devices: [String]
    /// Threads the task may use, the calling thread included.
    public var threads: Int { pool.threads }

    public init(pool: ComputePool, cancellation: TaskCancellation = TaskCancellation(), devices: [String] = []) {
        self.pool = pool
        self.cancellation = cancellation
        self.devices = devices
    }

    /// Runs `body` with a context on a pool of `threads` threads made for it and shut down
    /// afterwards (for one-off runs such as `grainsweep train`; workers reuse one pool per slot).
    public static func withPool<R>(
        threads: Int, _ body: (TaskContext) throws -> R
    ) throws -> R {
        let pool = try ComputePool(threads: threads)
        defer { pool.shutdown() }
        return try body(TaskContext(pool: pool))
    }
}

/// A request to stop one running task, set from another thread (the worker's I/O thread on a
/// `cancel` from the coordinator, a time limit, or shutdown) and polled by the task.
public final class TaskCancellation: Sendable {
    private let flag = Atomic<Bool>(false)
    public init() {}
    public func cancel() { flag.store(true, ordering: .releasing) }
    public var isCancelled: Bool { flag.load(ordering: .acquiring) }
}

/// Thrown by a task that stopped because its ``TaskCancellation`` was set.
public struct TaskCancelled: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "task cancelled" }
}
