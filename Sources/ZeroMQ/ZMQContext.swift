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
    /// - Parameter ioThreads: libzmq's I/O thread count (`ZMQ_IO_THREADS`, default 1; one thread
    ///   handles about a gigabyte per second).
    /// - Throws: ``ZMQError`` if libzmq cannot create one (e.g. `EMFILE`).
    public init(ioThreads: Int = 1) throws(ZMQError) {
        guard let h = zmq_ctx_new() else {
            throw ZMQError(code: zmq_errno(), operation: "zmq_ctx_new")
        }
        handle = h
        if ioThreads != 1 {
            guard let n = Int32(exactly: ioThreads), n >= 0 else {
                _ = zmq_ctx_term(h)
                throw ZMQError(code: EINVAL, operation: "zmq_ctx_set ZMQ_IO_THREADS", detail: "\(ioThreads)")
            }
            do {
                _ = try zmqCall("zmq_ctx_set ZMQ_IO_THREADS") { zmq_ctx_set(h, ZMQ_IO_THREADS, n) }
            } catch {
                _ = zmq_ctx_term(h)
                throw error
            }
        }
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
