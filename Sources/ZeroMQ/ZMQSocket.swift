import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A libzmq socket (the corresponding C function is `zmq_socket`), owned by one thread.
///
/// Ownership: the socket sets `ZMQ_LINGER` at creation (0 ms unless told otherwise), is closed
/// exactly once (by ``close()``, or by `deinit`), and retains its ``ZMQContext`` so the context is
/// terminated only after the socket is closed.
///
/// Threads: libzmq sockets are not thread-safe, so this type is deliberately not `Sendable`. Create
/// it on the thread that uses it, or hand it over whole (Swift 6 region isolation lets a freshly
/// made socket be `sending` into a thread); never use it from two threads.
///
/// Why a `final class` and not a `~Copyable` struct (STYLE.md §2 suggests the latter): a socket
/// must appear in ``ZMQPollItem``s, in arrays of poll items and as a stored property of long-lived
/// classes (coordinator, worker I/O loop, ``ZAPAuthenticator``'s thread); with `~Copyable` each of
/// those needs borrowing gymnastics (no `[Socket]`, no `Optional<Socket>` mutation in place,
/// closures that capture must consume). A class keeps one identity with the same guarantees that
/// matter: single close (a `nil`ed handle), deinit closes, no Sendable. Operations on a closed
/// socket throw `ENOTSOCK` instead of touching a freed handle.
public final class ZMQSocket {
    /// The type given at creation.
    public let type: ZMQSocketType
    /// Keeps the context alive until this socket is gone (zmq_ctx_term waits for open sockets).
    let context: ZMQContext
    /// The libzmq socket, `nil` once closed.
    private var handle: UnsafeMutableRawPointer?
    /// One reusable `zmq_msg_t` for receiving (heap-allocated so its address is stable: small
    /// messages live inside the struct itself).
    private let message: UnsafeMutablePointer<zmq_msg_t>

    /// Messages received with more frames than `maxFrames`, drained and dropped by ``receive(dontWait:maxFrames:)``.
    public private(set) var droppedOversize: Int = 0

    /// Whether ``close()`` has not been called yet.
    public var isOpen: Bool { handle != nil }

    /// Creates a socket and sets its `ZMQ_LINGER`.
    ///
    /// - Parameters:
    ///   - context: the context; retained until the socket is deinitialised.
    ///   - type: the socket type.
    ///   - lingerMilliseconds: `ZMQ_LINGER`, 0 by default: unsent messages are dropped at close so
    ///     that context termination never hangs on an unreachable peer.
    /// - Throws: ``ZMQError`` from `zmq_socket` (e.g. `EMFILE`, `ETERM`) or `zmq_setsockopt`.
    public init(_ context: ZMQContext, _ type: ZMQSocketType, lingerMilliseconds: Int = 0) throws(ZMQError) {
        guard let h = zmq_socket(context.handle, type.rawValue) else {
            throw ZMQError(code: zmq_errno(), operation: "zmq_socket")
        }
        self.type = type
        self.context = context
        self.handle = h
        self.message = .allocate(capacity: 1)
        zmq_msg_init(message)  // cannot fail
        try set(.linger(milliseconds: lingerMilliseconds))
    }

    deinit {
        close()
        zmq_msg_close(message)
        message.deallocate()
    }

    /// Closes the socket (the corresponding C function is `zmq_close`). Idempotent; `deinit` calls it too.
    public func close() {
        guard let h = handle else { return }
        handle = nil
        _ = zmq_close(h)  // fails only with ENOTSOCK, impossible for a handle we own
    }

    @inline(__always)
    private func openHandle(_ operation: @autoclosure () -> String) throws(ZMQError) -> UnsafeMutableRawPointer {
        guard let h = handle else {
            throw ZMQError(code: ENOTSOCK, operation: operation(), detail: "the socket is closed")
        }
        return h
    }

    /// The raw handle for ``zmqPoll(_:timeoutMilliseconds:)``.
    func pollHandle() throws(ZMQError) -> UnsafeMutableRawPointer { try openHandle("zmq_poll") }

    // MARK: Options

    /// Sets an option (the corresponding C function is `zmq_setsockopt`).
    ///
    /// - Throws: ``ZMQError`` with `EINVAL` for a value libzmq rejects or that does not fit the C
    ///   type (e.g. a CURVE key that is not 40 Z85 characters), `ENOTSOCK` if closed.
    public func set(_ option: ZMQSocketOption) throws(ZMQError) {
        switch option {
        case .linger(let ms): try setInt32(ZMQ_LINGER, "ZMQ_LINGER", ms)
        case .sendHighWaterMark(let n): try setInt32(ZMQ_SNDHWM, "ZMQ_SNDHWM", n)
        case .receiveHighWaterMark(let n): try setInt32(ZMQ_RCVHWM, "ZMQ_RCVHWM", n)
        case .maxMessageSize(let n):
            var v = Int64(n)
            try setRaw(ZMQ_MAXMSGSIZE, "ZMQ_MAXMSGSIZE", &v, MemoryLayout<Int64>.size)
        case .routingID(let id):
            try setBytes(ZMQ_ROUTING_ID, "ZMQ_ROUTING_ID", id)
        case .routerMandatory(let on): try setInt32(ZMQ_ROUTER_MANDATORY, "ZMQ_ROUTER_MANDATORY", on ? 1 : 0)
        case .routerHandover(let on): try setInt32(ZMQ_ROUTER_HANDOVER, "ZMQ_ROUTER_HANDOVER", on ? 1 : 0)
        case .immediate(let on): try setInt32(ZMQ_IMMEDIATE, "ZMQ_IMMEDIATE", on ? 1 : 0)
        case .reconnectInterval(let ms): try setInt32(ZMQ_RECONNECT_IVL, "ZMQ_RECONNECT_IVL", ms)
        case .reconnectIntervalMax(let ms): try setInt32(ZMQ_RECONNECT_IVL_MAX, "ZMQ_RECONNECT_IVL_MAX", ms)
        case .handshakeInterval(let ms): try setInt32(ZMQ_HANDSHAKE_IVL, "ZMQ_HANDSHAKE_IVL", ms)
        case .curveServer(let secret):
            try checkKey(secret, "ZMQ_CURVE_SECRETKEY")
            try setInt32(ZMQ_CURVE_SERVER, "ZMQ_CURVE_SERVER", 1)
            try setBytes(ZMQ_CURVE_SECRETKEY, "ZMQ_CURVE_SECRETKEY", Array(secret.utf8))
        case .curveClient(let server, let pub, let secret):
            try checkKey(server, "ZMQ_CURVE_SERVERKEY")
            try checkKey(pub, "ZMQ_CURVE_PUBLICKEY")
            try checkKey(secret, "ZMQ_CURVE_SECRETKEY")
            try setBytes(ZMQ_CURVE_SERVERKEY, "ZMQ_CURVE_SERVERKEY", Array(server.utf8))
            try setBytes(ZMQ_CURVE_PUBLICKEY, "ZMQ_CURVE_PUBLICKEY", Array(pub.utf8))
            try setBytes(ZMQ_CURVE_SECRETKEY, "ZMQ_CURVE_SECRETKEY", Array(secret.utf8))
        case .zapDomain(let domain): try setBytes(ZMQ_ZAP_DOMAIN, "ZMQ_ZAP_DOMAIN", Array(domain.utf8))
        case .tcpKeepalive(let on): try setInt32(ZMQ_TCP_KEEPALIVE, "ZMQ_TCP_KEEPALIVE", on ? 1 : 0)
        }
    }

    private func checkKey(_ key: String, _ name: String) throws(ZMQError) {
        guard CurveKeys.isValidZ85Key(key) else {
            throw ZMQError(code: EINVAL, operation: "zmq_setsockopt \(name)", detail: "not a 40-character Z85 key")
        }
    }

    private func setInt32(_ option: Int32, _ name: String, _ value: Int) throws(ZMQError) {
        guard var v = Int32(exactly: value) else {
            throw ZMQError(code: EINVAL, operation: "zmq_setsockopt \(name)", detail: "\(value) does not fit a C int")
        }
        try setRaw(option, name, &v, MemoryLayout<Int32>.size)
    }

    private func setBytes(_ option: Int32, _ name: String, _ bytes: [UInt8]) throws(ZMQError) {
        let h = try openHandle("zmq_setsockopt \(name)")
        let result = bytes.withUnsafeBytes { buf in
            Result { () throws(ZMQError) in
                try zmqCall("zmq_setsockopt \(name)") { zmq_setsockopt(h, option, buf.baseAddress, buf.count) }
            }
        }
        _ = try result.get()
    }

    private func setRaw(_ option: Int32, _ name: String, _ value: UnsafeRawPointer, _ size: Int) throws(ZMQError) {
        let h = try openHandle("zmq_setsockopt \(name)")
        _ = try zmqCall("zmq_setsockopt \(name)") { zmq_setsockopt(h, option, value, size) }
    }

    /// The endpoint this socket last bound or connected, with the port the OS chose for
    /// `tcp://127.0.0.1:0` or `tcp://*:0` (`ZMQ_LAST_ENDPOINT`; the corresponding C function is
    /// `zmq_getsockopt`).
    public func lastEndpoint() throws(ZMQError) -> String {
        let h = try openHandle("zmq_getsockopt ZMQ_LAST_ENDPOINT")
        var buffer = [CChar](repeating: 0, count: 1024)
        var size = buffer.count
        let result = buffer.withUnsafeMutableBytes { buf in
            Result { () throws(ZMQError) in
                try zmqCall("zmq_getsockopt ZMQ_LAST_ENDPOINT") { zmq_getsockopt(h, ZMQ_LAST_ENDPOINT, buf.baseAddress, &size) }
            }
        }
        _ = try result.get()
        let bytes = buffer.prefix(size).prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: Connections

    /// Binds to an endpoint such as `tcp://*:5555`, `tcp://127.0.0.1:0`, `inproc://name` (the
    /// corresponding C function is `zmq_bind`).
    ///
    /// - Throws: ``ZMQError``: `EADDRINUSE`, `EINVAL` (malformed endpoint), `EPROTONOSUPPORT`, ...
    public func bind(_ endpoint: String) throws(ZMQError) {
        let h = try openHandle("zmq_bind \(endpoint)")
        _ = try zmqCall("zmq_bind \(endpoint)") { zmq_bind(h, endpoint) }
    }

    /// Connects to an endpoint (the corresponding C function is `zmq_connect`). Returns at once;
    /// libzmq connects (and reconnects) in the background.
    ///
    /// - Throws: ``ZMQError``: `EINVAL` (malformed endpoint), `EPROTONOSUPPORT`, ...
    public func connect(_ endpoint: String) throws(ZMQError) {
        let h = try openHandle("zmq_connect \(endpoint)")
        _ = try zmqCall("zmq_connect \(endpoint)") { zmq_connect(h, endpoint) }
    }

    /// Stops binding to an endpoint (the corresponding C function is `zmq_unbind`).
    public func unbind(_ endpoint: String) throws(ZMQError) {
        let h = try openHandle("zmq_unbind \(endpoint)")
        _ = try zmqCall("zmq_unbind \(endpoint)") { zmq_unbind(h, endpoint) }
    }

    /// Disconnects from an endpoint (the corresponding C function is `zmq_disconnect`).
    public func disconnect(_ endpoint: String) throws(ZMQError) {
        let h = try openHandle("zmq_disconnect \(endpoint)")
        _ = try zmqCall("zmq_disconnect \(endpoint)") { zmq_disconnect(h, endpoint) }
    }

    // MARK: Messages

    /// Sends a multipart message: one `zmq_send` per frame, `ZMQ_SNDMORE` on all but the last.
    ///
    /// With `dontWait`, only the first frame is sent with `ZMQ_DONTWAIT`: libzmq accepts the
    /// remaining frames of a message whose first frame it took (high-water marks count whole
    /// messages), so a message is never half sent.
    ///
    /// - Parameters:
    ///   - frames: at least one frame. On a ROUTER the first frame is the peer's routing id.
    ///   - dontWait: return `false` instead of blocking when the message cannot be queued.
    /// - Returns: `true` when queued; `false` on `EAGAIN` (with `dontWait`, or on a ROUTER with
    ///   ``ZMQSocketOption/routerMandatory(_:)`` whose peer's queue is full) or `EHOSTUNREACH`
    ///   (ROUTER with mandatory routing: the peer is unknown or gone).
    /// - Throws: ``ZMQError`` for anything else (`ETERM` after context shutdown, `ENOTSOCK` when
    ///   closed, `EINVAL` for an empty frame list).
    @discardableResult
    public func send(_ frames: [[UInt8]], dontWait: Bool = false) throws(ZMQError) -> Bool {
        let h = try openHandle("zmq_send")
        guard !frames.isEmpty else {
            throw ZMQError(code: EINVAL, operation: "zmq_send", detail: "a message has at least one frame")
        }
        let last = frames.count - 1
        for i in 0...last {
            var flags: Int32 = i == last ? 0 : ZMQ_SNDMORE
            if i == 0 && dontWait { flags |= ZMQ_DONTWAIT }
            let result = frames[i].withUnsafeBytes { buf in
                Result { () throws(ZMQError) in
                    try zmqCall("zmq_send") { zmq_send(h, buf.baseAddress, buf.count, flags) }
                }
            }
            let sent: Int32?
            do {
                sent = try result.get()
            } catch where i == 0 && error.code == EHOSTUNREACH {
                return false
            }
            if sent == nil {
                if i == 0 { return false }
                // Only reachable with a send timeout set: libzmq never refuses a non-first frame otherwise.
                throw ZMQError(code: EAGAIN, operation: "zmq_send", detail: "frame \(i + 1) of \(frames.count) refused")
            }
        }
        return true
    }

    /// Receives one whole multipart message (the corresponding C function is `zmq_msg_recv`).
    ///
    /// libzmq delivers the frames of a message atomically, so once the first frame is in, the
    /// rest are read without waiting. A message with more than `maxFrames` frames is drained and
    /// dropped (counted in ``droppedOversize``), so a hostile peer can make a receiver hold at most
    /// `maxFrames` frames of at most `ZMQ_MAXMSGSIZE` bytes each.
    ///
    /// - Parameters:
    ///   - dontWait: return `nil` instead of blocking when no message is queued (`ZMQ_DONTWAIT`).
    ///   - maxFrames: the most frames a message may have (on a ROUTER, the routing id counts).
    /// - Returns: the frames, or `nil` when nothing was queued (`dontWait`) or the message was
    ///   oversize.
    /// - Throws: ``ZMQError``: `ETERM` after context shutdown, `ENOTSOCK` when closed, ...
    public func receive(dontWait: Bool = false, maxFrames: Int = 8) throws(ZMQError) -> [[UInt8]]? {
        let h = try openHandle("zmq_msg_recv")
        var frames: [[UInt8]] = []
        var count = 0
        while true {
            let flags: Int32 = count == 0 && dontWait ? ZMQ_DONTWAIT : 0
            guard try zmqCall("zmq_msg_recv", { zmq_msg_recv(message, h, flags) }) != nil else {
                if count == 0 { return nil }
                throw ZMQError(code: EAGAIN, operation: "zmq_msg_recv", detail: "message ended early")
            }
            count += 1
            if count <= maxFrames {
                let size = zmq_msg_size(message)
                if size == 0 {
                    frames.append([])
                } else {
                    let data = UnsafeRawBufferPointer(start: zmq_msg_data(message), count: size)
                    frames.append([UInt8](data))
                }
            } else if !frames.isEmpty {
                frames = []  // release what we hold while draining the rest
            }
            if zmq_msg_more(message) == 0 { break }
        }
        if count > maxFrames {
            droppedOversize += 1
            return nil
        }
        return frames
    }

    /// A poll item for this socket; see ``zmqPoll(_:timeoutMilliseconds:)``.
    public func pollItem(_ events: ZMQPollEvents) -> ZMQPollItem {
        ZMQPollItem(socket: self, events: events)
    }
}

@available(*, unavailable, message: "a libzmq socket must be used from one thread only")
extension ZMQSocket: Sendable {}
