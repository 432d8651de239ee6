import ExperimentAPI

/// Makes and checks lease tokens: HMAC-SHA256 (RFC 2104) of the task id and attempt under a
/// secret key, cut to 64 bits.
///
/// The key lives in the results directory, so a restarted coordinator still recognises the
/// leases its predecessor issued (and adopts them), while a peer can neither invent a lease nor
/// claim one it was never handed: guessing a token takes 2^63 tries on average, each answered
/// at most with a `cancel`.
public struct LeaseSigner: Sendable {
    private let innerPad: [UInt8]
    private let outerPad: [UInt8]

    /// - Parameter key: at least 16 random bytes (the coordinator uses 32).
    public init(key: [UInt8]) {
        precondition(key.count >= 16, "a lease key needs at least 16 bytes")
        var block = key.count > 64 ? SHA256.hash(key).bytes : key
        block += [UInt8](repeating: 0, count: 64 - block.count)
        innerPad = block.map { $0 ^ 0x36 }
        outerPad = block.map { $0 ^ 0x5c }
    }

    /// The token of attempt `attempt` of task `taskID`.
    public func token(_ taskID: TaskID, attempt: Int) -> UInt64 {
        var message = [UInt8]()
        message.reserveCapacity(24)
        for shift in stride(from: 56, through: 0, by: -8) { message.append(UInt8(truncatingIfNeeded: taskID.high >> UInt64(shift))) }
        for shift in stride(from: 56, through: 0, by: -8) { message.append(UInt8(truncatingIfNeeded: taskID.low >> UInt64(shift))) }
        for shift in stride(from: 56, through: 0, by: -8) { message.append(UInt8(truncatingIfNeeded: UInt64(attempt) >> UInt64(shift))) }
        var inner = SHA256()
        inner.update(innerPad)
        inner.update(message)
        var outer = SHA256()
        outer.update(outerPad)
        outer.update(inner.finalize().bytes)
        return outer.finalize().word0
    }
}
