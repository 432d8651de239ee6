import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One socket and the events to wait for; after ``zmqPoll(_:timeoutMilliseconds:)``, the events
/// that occurred. Wraps `zmq_pollitem_t`.
///
/// The item holds its socket strongly, so the socket cannot be deinitialised while polled; polling
/// a socket that was closed throws `ENOTSOCK`.
public struct ZMQPollItem {
    /// The polled socket, or nil when the item polls a file descriptor.
    public let socket: ZMQSocket?
    /// The polled file descriptor (an eventfd, a pipe) when ``socket`` is nil.
    public let fileDescriptor: Int32
    /// The events to wait for (`events` of `zmq_pollitem_t`).
    public var events: ZMQPollEvents
    /// The events that occurred in the last poll (`revents`).
    public internal(set) var returnedEvents: ZMQPollEvents = []

    public init(socket: ZMQSocket, events: ZMQPollEvents) {
        self.socket = socket
        self.fileDescriptor = 0
        self.events = events
    }

    /// Polls a plain file descriptor beside sockets (the `fd` field of `zmq_pollitem_t`), so that a
    /// thread can be woken by another thread through an eventfd without sharing a socket.
    public init(fileDescriptor: Int32, events: ZMQPollEvents) {
        self.socket = nil
        self.fileDescriptor = fileDescriptor
        self.events = events
    }

    /// A whole message can be received without blocking.
    public var isReadable: Bool { returnedEvents.contains(.readable) }
    /// A message can be sent without blocking.
    public var isWritable: Bool { returnedEvents.contains(.writable) }
}

/// Waits until one of the items' events occurs or the timeout passes (the corresponding C
/// function is `zmq_poll`), and sets each item's ``ZMQPollItem/returnedEvents``.
///
/// - Parameters:
///   - items: the sockets and their events.
///   - timeoutMilliseconds: 0 returns at once, -1 waits indefinitely.
/// - Returns: how many items have events; 0 on timeout or when a signal interrupted the wait
///   (`EINTR`), so a caller can check its own stop flags.
/// - Throws: ``ZMQError``: `ETERM` after context shutdown, `ENOTSOCK` for a closed socket.
/// - Complexity: O(n) in the number of items, plus the wait.
public func zmqPoll(_ items: inout [ZMQPollItem], timeoutMilliseconds: Int) throws(ZMQError) -> Int {
    let n = items.count
    let result = withUnsafeTemporaryAllocation(of: zmq_pollitem_t.self, capacity: max(n, 1)) { raw in
        Result { () throws(ZMQError) -> Int in
            for i in 0..<n {
                let handle = try items[i].socket?.pollHandle()
                raw.initializeElement(
                    at: i,
                    to: zmq_pollitem_t(socket: handle, fd: items[i].fileDescriptor, events: items[i].events.rawValue, revents: 0))
            }
            let ready = try zmqCall("zmq_poll", retryOnInterrupt: false) {
                zmq_poll(raw.baseAddress, Int32(n), timeoutMilliseconds)
            } ?? 0
            for i in 0..<n {
                items[i].returnedEvents = ZMQPollEvents(rawValue: raw[i].revents).intersection([.readable, .writable])
            }
            return Int(ready)
        }
    }
    return try result.get()
}
