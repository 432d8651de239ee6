import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed libzmq call: the `errno` it left, which operation failed, and libzmq's text for it.
///
/// Built by ``zmqCall(_:retryOnInterrupt:_:)`` from `zmq_errno()` read right after the call, and
/// described with `zmq_strerror` (which also knows libzmq's own codes such as `ETERM`).
public struct ZMQError: Error, CustomStringConvertible, Sendable, Hashable {
    /// The `errno` value (`zmq_errno()`), e.g. `EINVAL`, `ETERM`, `EHOSTUNREACH`.
    public let code: Int32
    /// The C function that failed and, where useful, its argument: `zmq_bind tcp://x:1`.
    public let operation: String
    /// Extra context from the Swift layer (which option value was wrong, ...), if any.
    public let detail: String?

    public init(code: Int32, operation: String, detail: String? = nil) {
        self.code = code
        self.operation = operation
        self.detail = detail
    }

    /// libzmq's text for ``code`` (the corresponding C function is `zmq_strerror`).
    public var message: String { String(cString: zmq_strerror(code)) }

    /// True when the context was terminated or shut down (`ETERM`): the socket must be closed.
    public var isContextTerminated: Bool { code == ETERM }

    public var description: String {
        var s = "\(operation) failed: \(message) (errno \(code))"
        if let detail { s += ": \(detail)" }
        return s
    }
}

/// The one choke point for libzmq calls that return an `int` status or count.
///
/// Modelled on NIOPosix's `syscall(blocking:)`: runs `body`, and on `-1` reads `zmq_errno()` at
/// once (before anything else can overwrite `errno`; libzmq's header notes that on some platforms
/// the library and the caller do not even share one `errno`), then
/// - `EINTR`: retries (or, with `retryOnInterrupt: false`, returns `nil`),
/// - `EAGAIN`: returns `nil`, the "would block" value,
/// - `EFAULT`: traps, since libzmq reports it only for invalid context/socket pointers, a bug here,
/// - anything else: throws ``ZMQError``.
///
/// - Parameters:
///   - operation: the C function's name (and argument), used only when building an error.
///   - retryOnInterrupt: whether `EINTR` repeats the call.
///   - body: the libzmq call.
/// - Returns: the call's non-negative result, or `nil` for `EAGAIN` (or `EINTR` without retry).
/// - Throws: ``ZMQError`` for any other failure.
@inline(__always)
package func zmqCall(
    _ operation: @autoclosure () -> String, retryOnInterrupt: Bool = true, _ body: () -> Int32
) throws(ZMQError) -> Int32? {
    while true {
        let rc = body()
        if rc != -1 { return rc }
        let err = zmq_errno()
        switch err {
        case EINTR:
            if retryOnInterrupt { continue }
            return nil
        case EAGAIN:
            return nil
        case EFAULT:
            preconditionFailure("\(operation()) failed with EFAULT: invalid context or socket handle (a bug)")
        default:
            throw ZMQError(code: err, operation: operation())
        }
    }
}
