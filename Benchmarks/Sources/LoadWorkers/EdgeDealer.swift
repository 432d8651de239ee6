import CZeroMQ
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// A DEALER socket driven through its `ZMQ_FD` from an epoll set: the one part of this tool that
/// calls libzmq directly.
///
/// Why not ``ZMQSocket`` and ``zmqPoll(_:timeoutMilliseconds:)``: `zmq_poll` over k sockets costs
/// O(k) *system calls* per wake-up (one `poll` of each socket's mailbox, through `ZMQ_EVENTS`, on
/// every call), so a thread owning thousands of mostly idle sockets spends its time asking each of
/// them whether anything happened. An epoll set over the sockets' `ZMQ_FD`s costs O(active
/// sockets) instead. ``ZMQSocket`` does not expose `ZMQ_FD` / `ZMQ_EVENTS`; when it does, this
/// type can go.
///
/// The `ZMQ_FD` contract (zmq_getsockopt(3)): the descriptor signals that the socket's *state may
/// have changed*, not that a message is waiting, and any operation on the socket (a send
/// included) may consume that signal. So after each wake-up and after each send, the owner calls
/// ``drain(_:)``, which reads until `ZMQ_EVENTS` no longer shows `ZMQ_POLLIN`.
///
/// Not Sendable (a libzmq socket belongs to one thread); closed exactly once by ``close()``.
struct EdgeDealer {
    let handle: UnsafeMutableRawPointer

    /// Creates a DEALER on `context` with the options of the real worker (Sources/Worker):
    /// message size limit, reconnect backoff, linger; plus a routing id.
    init(context: UnsafeMutableRawPointer, routingID: String, lingerMilliseconds: Int32) throws(ZMQError) {
        guard let h = zmq_socket(context, ZMQ_DEALER) else {
            throw ZMQError(code: zmq_errno(), operation: "zmq_socket ZMQ_DEALER")
        }
        handle = h
        do {
            try setInt32(ZMQ_LINGER, "ZMQ_LINGER", lingerMilliseconds)
            try setInt32(ZMQ_SNDHWM, "ZMQ_SNDHWM", 1000)
            try setInt32(ZMQ_RCVHWM, "ZMQ_RCVHWM", 1000)
            try setInt32(ZMQ_RECONNECT_IVL, "ZMQ_RECONNECT_IVL", 100)
            try setInt32(ZMQ_RECONNECT_IVL_MAX, "ZMQ_RECONNECT_IVL_MAX", 2000)
            var size = Int64(65_536)  // WireLimits.maxMessageBytes, as the real worker sets
            _ = try zmqCall("zmq_setsockopt ZMQ_MAXMSGSIZE") {
                zmq_setsockopt(h, ZMQ_MAXMSGSIZE, &size, MemoryLayout<Int64>.size)
            }
            let id = Array(routingID.utf8)
            _ = try zmqCall("zmq_setsockopt ZMQ_ROUTING_ID") {
                id.withUnsafeBytes { zmq_setsockopt(h, ZMQ_ROUTING_ID, $0.baseAddress, $0.count) }
            }
        } catch {
            _ = zmq_close(h)
            throw error
        }
    }

    private func setInt32(_ option: Int32, _ name: String, _ value: Int32) throws(ZMQError) {
        var v = value
        _ = try zmqCall("zmq_setsockopt \(name)") { zmq_setsockopt(handle, option, &v, MemoryLayout<Int32>.size) }
    }

    /// `zmq_connect`: asynchronous; messages sent before the TCP connection is up are queued.
    func connect(_ endpoint: String) throws(ZMQError) {
        _ = try zmqCall("zmq_connect \(endpoint)") { zmq_connect(handle, endpoint) }
    }

    /// The socket's `ZMQ_FD`, for the epoll set.
    func fileDescriptor() throws(ZMQError) -> Int32 {
        var fd: Int32 = -1
        var size = MemoryLayout<Int32>.size
        _ = try zmqCall("zmq_getsockopt ZMQ_FD") { zmq_getsockopt(handle, ZMQ_FD, &fd, &size) }
        return fd
    }

    /// Whether a whole message can be received now (`ZMQ_EVENTS` has `ZMQ_POLLIN`); also lets the
    /// socket process its pending commands, re-arming `ZMQ_FD`.
    func isReadable() throws(ZMQError) -> Bool {
        var events: Int32 = 0
        var size = MemoryLayout<Int32>.size
        _ = try zmqCall("zmq_getsockopt ZMQ_EVENTS") { zmq_getsockopt(handle, ZMQ_EVENTS, &events, &size) }
        return events & Int32(ZMQ_POLLIN) != 0
    }

    /// Queues one single-frame message without blocking; false when the queue is full (`ZMQ_SNDHWM`).
    func send(_ bytes: [UInt8]) throws(ZMQError) -> Bool {
        let h = handle
        let rc = bytes.withUnsafeBytes { buf in
            Result { () throws(ZMQError) -> Int32? in
                try zmqCall("zmq_send") { zmq_send(h, buf.baseAddress, buf.count, ZMQ_DONTWAIT) }
            }
        }
        return try rc.get() != nil
    }

    /// Receives one message into `message` without blocking.
    /// - Returns: false when nothing is queued; otherwise the message is in `message`, and
    ///   `more` tells whether further frames of it follow.
    func receive(into message: UnsafeMutablePointer<zmq_msg_t>, more: inout Bool) throws(ZMQError) -> Bool {
        let h = handle
        guard try zmqCall("zmq_msg_recv", { zmq_msg_recv(message, h, ZMQ_DONTWAIT) }) != nil else { return false }
        more = zmq_msg_more(message) != 0
        return true
    }

    /// `zmq_close`. Call once.
    func close() {
        _ = zmq_close(handle)
    }
}
