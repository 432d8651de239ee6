import CZeroMQ

/// A libzmq socket type (the `type` argument of `zmq_socket`).
public enum ZMQSocketType: Sendable, Hashable {
    case router, dealer, pair, push, pull, rep, req

    var rawValue: Int32 {
        switch self {
        case .router: return ZMQ_ROUTER
        case .dealer: return ZMQ_DEALER
        case .pair: return ZMQ_PAIR
        case .push: return ZMQ_PUSH
        case .pull: return ZMQ_PULL
        case .rep: return ZMQ_REP
        case .req: return ZMQ_REQ
        }
    }
}

/// A socket option, set with ``ZMQSocket/set(_:)`` (the corresponding C function is `zmq_setsockopt`).
///
/// Options that affect connections (high-water marks, message size, CURVE, routing id) must be
/// set before `bind`/`connect` to apply to them.
public enum ZMQSocketOption: Sendable, Hashable {
    /// `ZMQ_LINGER`: how long `zmq_ctx_term` waits for unsent messages after close; -1 forever.
    /// Every ``ZMQSocket`` starts with the linger given to its initialiser (0 by default).
    case linger(milliseconds: Int)
    /// `ZMQ_SNDHWM`: queued outgoing messages per peer before sends block / fail / drop.
    case sendHighWaterMark(Int)
    /// `ZMQ_RCVHWM`: queued incoming messages per peer.
    case receiveHighWaterMark(Int)
    /// `ZMQ_MAXMSGSIZE`: a peer sending a larger frame is disconnected; -1 for no limit.
    case maxMessageSize(Int)
    /// `ZMQ_ROUTING_ID`: this socket's identity as seen by a ROUTER peer (1...255 bytes, not starting with 0).
    case routingID([UInt8])
    /// `ZMQ_ROUTER_MANDATORY`: a ROUTER send to an unknown peer fails with `EHOSTUNREACH` instead of
    /// being dropped silently (``ZMQSocket/send(_:dontWait:)`` returns false).
    case routerMandatory(Bool)
    /// `ZMQ_ROUTER_HANDOVER`: a new connection with the routing id of a connected peer takes that
    /// id over (the old connection is closed) instead of being refused, so a worker with a fixed
    /// routing id that reconnects before its old TCP connection has timed out is heard at once.
    case routerHandover(Bool)
    /// `ZMQ_IMMEDIATE`: queue messages only to completed connections.
    case immediate(Bool)
    /// `ZMQ_RECONNECT_IVL`: first reconnection delay.
    case reconnectInterval(milliseconds: Int)
    /// `ZMQ_RECONNECT_IVL_MAX`: reconnection delay cap for exponential backoff (0: no backoff).
    case reconnectIntervalMax(milliseconds: Int)
    /// `ZMQ_HANDSHAKE_IVL`: a peer that does not finish the ZMTP handshake in time is dropped.
    case handshakeInterval(milliseconds: Int)
    /// `ZMQ_CURVE_SERVER` = 1 and `ZMQ_CURVE_SECRETKEY` (Z85, 40 characters). Pair with a
    /// ``ZAPAuthenticator`` on the same context, or any client that knows the server's public key
    /// is admitted.
    case curveServer(secretKey: String)
    /// `ZMQ_CURVE_SERVERKEY`, `ZMQ_CURVE_PUBLICKEY`, `ZMQ_CURVE_SECRETKEY` (all Z85, 40 characters).
    case curveClient(serverPublicKey: String, publicKey: String, secretKey: String)
    /// `ZMQ_ZAP_DOMAIN`: the domain passed to the ZAP handler.
    case zapDomain(String)
    /// `ZMQ_TCP_KEEPALIVE`: OS-level TCP keepalive on connections of this socket.
    case tcpKeepalive(Bool)
}

/// Which events ``zmqPoll(_:timeoutMilliseconds:)`` waits for (`ZMQ_POLLIN`, `ZMQ_POLLOUT`).
public struct ZMQPollEvents: OptionSet, Sendable, Hashable {
    public let rawValue: Int16
    public init(rawValue: Int16) { self.rawValue = rawValue }
    /// `ZMQ_POLLIN`: at least one whole message can be received without blocking.
    public static let readable = ZMQPollEvents(rawValue: Int16(ZMQ_POLLIN))
    /// `ZMQ_POLLOUT`: at least one message can be sent without blocking.
    public static let writable = ZMQPollEvents(rawValue: Int16(ZMQ_POLLOUT))
}
