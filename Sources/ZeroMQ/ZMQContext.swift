import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A libzmq context: the I/O threads and the inproc namespace that sockets share.
///
/// Created with `zmq_ctx_new`, terminated with `zmq_ctx_term` when the last reference goes away.
/// Every ``ZMQSocket`` keeps its context alive, so the context is always terminated after its
/// last socket is closed (`zmq_ctx_term` would otherwise block until that happens), and since
/// every socket of ours sets `ZMQ_LINGER` (0 by default), termination does not wait for unsent
/// messages either.
///
/// Thread safety: a libzmq context is documented as thread-safe, so this class is Sendable and
/// sockets for different threads are made from one context.
public final class ZMQContext: @unchecked Sendable {
    // @unchecked Sendable: the only state is an immutable pointer to a libzmq context, and
    // libzmq's contexts are thread-safe (zmq_ctx_new(3): "safe to use from multiple threads").
    @usableFromInline
    let handle: UnsafeMutableRawPointer

    /// Creates a context (the corresponding C function is `zmq_ctx_new`).
    ///
    /// - Parameters:
    ///   - ioThreads: libzmq's I/O thread count (`ZMQ_IO_THREADS`, default 1; one thread
    ///     handles about a gigabyte per second).
    ///   - maxSockets: the most sockets the context may hold at once (`ZMQ_MAX_SOCKETS`; nil keeps
    ///     libzmq's default of 1,023). A process simulating thousands of workers, one socket
    ///     each, needs more; libzmq caps it at ``socketLimit``, and each socket also costs two file
    ///     descriptors (its mailbox and its connection), so `RLIMIT_NOFILE` must allow them too.
    /// - Throws: ``ZMQError`` if libzmq cannot create one (e.g. `EMFILE`), or `EINVAL` for an
    ///   option out of range.
    public init(ioThreads: Int = 1, maxSockets: Int? = nil) throws(ZMQError) {
        guard let h = zmq_ctx_new() else {
            throw ZMQError(code: zmq_errno(), operation: "zmq_ctx_new")
        }
        handle = h
        do {
            // Both must be set before the first socket is created (libzmq sizes its tables then).
            if ioThreads != 1 { try Self.set(h, ZMQ_IO_THREADS, "ZMQ_IO_THREADS", ioThreads, minimum: 0) }
            if let maxSockets { try Self.set(h, ZMQ_MAX_SOCKETS, "ZMQ_MAX_SOCKETS", maxSockets, minimum: 1) }
        } catch {
            _ = zmq_ctx_term(h)
            throw error
        }
    }

    private static func set(
        _ h: UnsafeMutableRawPointer, _ option: Int32, _ name: String, _ value: Int, minimum: Int32
    ) throws(ZMQError) {
        guard let n = Int32(exactly: value), n >= minimum else {
            throw ZMQError(code: EINVAL, operation: "zmq_ctx_set \(name)", detail: "\(value)")
        }
        _ = try zmqCall("zmq_ctx_set \(name)") { zmq_ctx_set(h, option, n) }
    }

    /// The most sockets this context may hold at once (`ZMQ_MAX_SOCKETS`, read with `zmq_ctx_get`).
    public var maxSockets: Int { Int(zmq_ctx_get(handle, ZMQ_MAX_SOCKETS)) }

    /// The largest ``maxSockets`` this libzmq accepts (`ZMQ_SOCKET_LIMIT`).
    public var socketLimit: Int { Int(zmq_ctx_get(handle, ZMQ_SOCKET_LIMIT)) }

    /// Calls `body` with the raw `void *` context, for code of this package that must reach libzmq
    /// directly (e.g. sockets watched through `ZMQ_FD` in an epoll set). `body` must not terminate
    /// the context, and sockets it creates must be closed before the last reference to `self` goes.
    package func withUnsafeHandle<R, E: Error>(_ body: (UnsafeMutableRawPointer) throws(E) -> R) throws(E) -> R {
        try body(handle)
    }

    /// Shuts the context down without waiting (the corresponding C function is `zmq_ctx_shutdown`):
    /// every blocking call on its sockets, on any thread, returns `ETERM` (a ``ZMQError`` with
    /// ``ZMQError/isContextTerminated``), and new operations fail the same way. The owners of the
    /// sockets must then close them; the context itself is terminated when the last reference
    /// goes. Idempotent.
    public func shutdown() {
        _ = zmq_ctx_shutdown(handle)
    }

    deinit {
        // zmq_ctx_term blocks until every socket is closed; ours are (they retain the context).
        while zmq_ctx_term(handle) == -1 && zmq_errno() == EINTR {}
    }
}
