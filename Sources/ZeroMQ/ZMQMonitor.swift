import CZeroMQ

/// Events of a socket's connections, as `zmq_socket_monitor` reports them.
public struct ZMQMonitorEvents: OptionSet, Sendable, Hashable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let connected = ZMQMonitorEvents(rawValue: ZMQ_EVENT_CONNECTED)
    public static let disconnected = ZMQMonitorEvents(rawValue: ZMQ_EVENT_DISCONNECTED)
    public static let handshakeSucceeded = ZMQMonitorEvents(rawValue: 0x1000)  // ZMQ_EVENT_HANDSHAKE_SUCCEEDED
    public static let handshakeFailedProtocol = ZMQMonitorEvents(rawValue: 0x2000)  // ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
    /// The peer refused our credentials (for a CURVE client: the server's ZAP handler said no).
    public static let handshakeFailedAuth = ZMQMonitorEvents(rawValue: 0x4000)  // ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
}

/// One monitor event: what happened, its value (an errno or a status code) and the endpoint.
public struct ZMQMonitorEvent: Sendable, Hashable {
    public let event: ZMQMonitorEvents
    public let value: UInt32
    public let endpoint: String
}

extension ZMQSocket {
    /// Starts monitoring this socket's connections and returns the PAIR socket that receives the
    /// events (the corresponding C function is `zmq_socket_monitor`). Both sockets belong to the
    /// calling thread; poll the returned one beside this one and read it with ``receiveMonitorEvent``.
    ///
    /// - Parameters:
    ///   - events: the events to report.
    ///   - endpoint: a unique `inproc://` name for the monitor pipe.
    public func monitor(_ events: ZMQMonitorEvents, endpoint: String) throws(ZMQError) -> ZMQSocket {
        let handle = try pollHandle()
        _ = try zmqCall("zmq_socket_monitor") { zmq_socket_monitor(handle, endpoint, events.rawValue) }
        let pair = try ZMQSocket(context, .pair)
        try pair.connect(endpoint)
        return pair
    }
}

extension ZMQSocket {
    /// Reads one event from a monitor socket made by ``monitor(_:endpoint:)``; nil when none is
    /// waiting or the message is not a monitor event.
    public func receiveMonitorEvent() throws(ZMQError) -> ZMQMonitorEvent? {
        guard let frames = try receive(dontWait: true, maxFrames: 2), frames.count == 2, frames[0].count == 6 else { return nil }
        let head = frames[0]
        let event = Int32(head[0]) | Int32(head[1]) << 8
        let value = UInt32(head[2]) | UInt32(head[3]) << 8 | UInt32(head[4]) << 16 | UInt32(head[5]) << 24
        return ZMQMonitorEvent(
            event: ZMQMonitorEvents(rawValue: event), value: value, endpoint: String(decoding: frames[1], as: UTF8.self))
    }
}
