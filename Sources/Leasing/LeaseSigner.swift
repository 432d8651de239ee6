import ExperimentAPI

/// Makes and checks lease tokens: HMAC-SHA256 (RFC 2104) of the task id and attempt under a
/// secret key, cut to 64 bits.
///
/// The key lives in the results directory, so a restarted coordinator still recognises the
/// leases its predecessor issued (and adopts them), while a peer can neither invent a lease nor
/// claim one it was never handed: guessing a token takes 2^63 tries on average, each answered
/// at most with a `cancel`.
public struct LeaseSigner: Sendable {
    /// SHA-256 states after the key's inner and outer pad blocks, so a token costs two
    /// compressions (one block each way) and no allocation.
    private let inner: SHA256
    private let outer: SHA256

    /// - Parameter key: at least 16 random bytes (the coordinator uses 32).
    public init(key: [UInt8]) {
        precondition(key.count >= 16, "a lease key needs at least 16 bytes")
        var block = key.count > 64 ? SHA256.hash(key).bytes : key
        block += [UInt8](repeating: 0, count: 64 - block.count)
        var inner = SHA256()
        inner.update(block.map { $0 ^ 0x36 })
        var outer = SHA256()
        outer.update(block.map { $0 ^ 0x5c })
        self.inner = inner
        self.outer = outer
    }

    /// The token of attempt `attempt` of task `taskID`.
    public func token(_ taskID: TaskID, attempt: Int) -> UInt64 {
        var message = (taskID.high.bigEndian, taskID.low.bigEndian, UInt64(truncatingIfNeeded: attempt).bigEndian)
        var inner = self.inner
        withUnsafeBytes(of: &message) { inner.update($0) }
        let d = inner.finalize()
        var digest = (d.word0.bigEndian, d.word1.bigEndian, d.word2.bigEndian, d.word3.bigEndian)
        var outer = self.outer
        withUnsafeBytes(of: &digest) { outer.update($0) }
        return outer.finalize().word0
    }
}
