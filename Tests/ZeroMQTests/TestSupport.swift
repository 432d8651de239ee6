import Foundation
import Testing
@testable import ZeroMQ

/// Receives with a deadline: polls, then receives without waiting. Returns nil on timeout.
func receive(_ socket: ZMQSocket, timeoutMilliseconds: Int = 2000, maxFrames: Int = 8) throws -> [[UInt8]]? {
    var items = [socket.pollItem(.readable)]
    let deadline = ContinuousClock.now + .milliseconds(timeoutMilliseconds)
    while ContinuousClock.now < deadline {
        let left = deadline - ContinuousClock.now
        let ms = max(1, Int(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
        if try zmqPoll(&items, timeoutMilliseconds: ms) > 0, items[0].isReadable {
            return try socket.receive(dontWait: true, maxFrames: maxFrames)
        }
    }
    return nil
}

/// A ROUTER bound to an OS-chosen port on loopback, and its endpoint.
func boundRouter(_ context: ZMQContext, options: [ZMQSocketOption] = []) throws -> (ZMQSocket, String) {
    let router = try ZMQSocket(context, .router)
    for option in options { try router.set(option) }
    try router.bind("tcp://127.0.0.1:0")
    return (router, try router.lastEndpoint())
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// A fresh empty directory under the system temporary directory.
func temporaryDirectory() throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("grainsweep-zmq-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
