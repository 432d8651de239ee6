/// A SHA-256 digest: 32 bytes, kept as four big-endian 64-bit words.
public struct SHA256Digest: Sendable, Hashable, CustomStringConvertible {
    /// Bytes 0..<8, 8..<16, 16..<24 and 24..<32 of the digest, each read big-endian.
    public let word0: UInt64, word1: UInt64, word2: UInt64, word3: UInt64

    /// The 32 bytes in order.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(32)
        for word in [word0, word1, word2, word3] {
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        return out
    }

    /// 64 lowercase hex digits, as `sha256sum` prints them.
    public var description: String {
        var text = ""
        text.reserveCapacity(64)
        for word in [word0, word1, word2, word3] { text += hex16(word) }
        return text
    }
}

/// 16 lowercase hex digits, zero-padded.
func hex16(_ x: UInt64) -> String {
    let digits = String(x, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
}

/// SHA-256 (FIPS 180-4), written out so that task identity needs no crypto library.
///
/// Task ids hash one short canonical text per task, a million times for a large sweep, so the
/// compression function works on raw pointers: no allocation per block or per hash (the message
/// schedule and the padded tail live in one stack temporary).
///
/// ```swift
/// SHA256.hash("abc").description  // "ba7816bf...f20015ad"
/// var h = SHA256(); h.update("a"); h.update("bc"); h.finalize()  // the same
/// ```
public struct SHA256: Sendable {
    /// The eight working words between blocks.
    struct State: Sendable {
        var a: UInt32 = 0x6a09_e667, b: UInt32 = 0xbb67_ae85, c: UInt32 = 0x3c6e_f372, d: UInt32 = 0xa54f_f53a
        var e: UInt32 = 0x510e_527f, f: UInt32 = 0x9b05_688c, g: UInt32 = 0x1f83_d9ab, h: UInt32 = 0x5be0_cd19
    }

    private var state = State()
    /// Bytes not yet compressed (fewer than 64), inline so that a hasher never allocates.
    private var pending: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    private var pendingCount = 0
    private var totalCount: UInt64 = 0

    public init() {}

    /// Adds bytes to the message.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard var base = bytes.baseAddress, !bytes.isEmpty else { return }
        var remaining = bytes.count
        totalCount &+= UInt64(remaining)
        // Work on copies: the closures below must not overlap accesses to `self`.
        var state = self.state, pending = self.pending, pendingCount = self.pendingCount
        withUnsafeMutableBytes(of: &pending) { pendingBytes in
            let buffer = pendingBytes.baseAddress!
            Self.withScratch { schedule, _ in
                if pendingCount > 0 {
                    let take = min(64 - pendingCount, remaining)
                    (buffer + pendingCount).copyMemory(from: base, byteCount: take)
                    pendingCount += take
                    base += take
                    remaining -= take
                    if pendingCount == 64 {
                        Self.compress(&state, UnsafeRawPointer(buffer), schedule)
                        pendingCount = 0
                    }
                }
                while remaining >= 64 {
                    Self.compress(&state, base, schedule)
                    base += 64
                    remaining -= 64
                }
                if remaining > 0 {
                    buffer.copyMemory(from: base, byteCount: remaining)
                    pendingCount = remaining
                }
            }
        }
        self.state = state
        self.pending = pending
        self.pendingCount = pendingCount
    }

    /// Adds the UTF-8 bytes of `text`.
    public mutating func update(_ text: String) {
        var text = text
        text.withUTF8 { update(UnsafeRawBufferPointer($0)) }
    }

    /// Adds bytes to the message.
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Pads the message and returns its digest.
    public func finalize() -> SHA256Digest {
        var state = self.state
        var pending = self.pending
        let count = pendingCount, total = totalCount
        return withUnsafeBytes(of: &pending) { pendingBytes in
            Self.withScratch { schedule, tail in
                UnsafeMutableRawPointer(tail).copyMemory(from: pendingBytes.baseAddress!, byteCount: count)
                return Self.padAndFinish(&state, tail: tail, tailCount: count, totalCount: total, schedule: schedule)
            }
        }
    }

    /// The digest of `bytes`, in one call.
    /// - Complexity: O(n); no heap allocation.
    public static func hash(_ bytes: UnsafeRawBufferPointer) -> SHA256Digest {
        var state = State()
        return withScratch { schedule, tail in
            var base = bytes.baseAddress ?? UnsafeRawPointer(tail)
            var remaining = bytes.count
            while remaining >= 64 {
                compress(&state, base, schedule)
                base += 64
                remaining -= 64
            }
            if remaining > 0 { UnsafeMutableRawPointer(tail).copyMemory(from: base, byteCount: remaining) }
            return padAndFinish(&state, tail: tail, tailCount: remaining, totalCount: UInt64(bytes.count), schedule: schedule)
        }
    }

    /// The digest of the UTF-8 bytes of `text`.
    public static func hash(_ text: String) -> SHA256Digest {
        var text = text
        return text.withUTF8 { hash(UnsafeRawBufferPointer($0)) }
    }

    /// The digest of `bytes`.
    public static func hash(_ bytes: [UInt8]) -> SHA256Digest {
        bytes.withUnsafeBytes { hash($0) }
    }

    /// The digest of `bytes`, reusing the work of the previous message hashed with `cache`: the
    /// blocks the two messages share at their start are not compressed again.
    ///
    /// Task ids hash canonical encodings in plan order, and consecutive tasks usually differ only
    /// in their last parameters, so most of each encoding is a prefix already hashed.
    /// - Complexity: O(n) to compare, plus one compression per 64-byte block after the shared prefix.
    package static func hash(_ bytes: UnsafeRawBufferPointer, cache: inout PrefixCache) -> SHA256Digest {
        let count = bytes.count
        let fullBlocks = count / 64
        let limit = min(count, cache.previous.count)
        var common = 0
        if limit > 0, let new = bytes.baseAddress {
            cache.previous.withUnsafeBytes { previous in
                let old = previous.baseAddress!
                while common + 8 <= limit,
                      old.loadUnaligned(fromByteOffset: common, as: UInt64.self) == new.loadUnaligned(fromByteOffset: common, as: UInt64.self) {
                    common += 8
                }
                while common < limit, old.load(fromByteOffset: common, as: UInt8.self) == new.load(fromByteOffset: common, as: UInt8.self) {
                    common += 1
                }
            }
        }
        // states[k] is the state after the first k blocks of the previous message.
        var k = min(common / 64, cache.states.count - 1, fullBlocks)
        var state = cache.states[k]
        if cache.states.count > k + 1 { cache.states.removeLast(cache.states.count - k - 1) }
        // Keep the new message: only what follows the shared prefix changes.
        if cache.previous.count > count { cache.previous.removeLast(cache.previous.count - count) }
        if cache.previous.count < count { cache.previous.append(contentsOf: repeatElement(0, count: count - cache.previous.count)) }
        if common < count, let new = bytes.baseAddress {
            cache.previous.withUnsafeMutableBytes { previous in
                (previous.baseAddress! + common).copyMemory(from: new + common, byteCount: count - common)
            }
        }
        return withScratch { schedule, tail in
            let base = bytes.baseAddress ?? UnsafeRawPointer(tail)
            while k < fullBlocks {
                compress(&state, base + 64 * k, schedule)
                k += 1
                cache.states.append(state)
            }
            let remaining = count - 64 * fullBlocks
            if remaining > 0 { UnsafeMutableRawPointer(tail).copyMemory(from: base + 64 * fullBlocks, byteCount: remaining) }
            return padAndFinish(&state, tail: tail, tailCount: remaining, totalCount: UInt64(count), schedule: schedule)
        }
    }

    /// What ``hash(_:cache:)`` keeps of the previous message: its bytes and the state after each
    /// of its whole blocks. Reuse one per thread; it stops allocating once it has seen the longest message.
    package struct PrefixCache {
        var previous: [UInt8] = []
        var states: [State] = [State()]
        package init() {}
    }

    // MARK: - Compression

    /// Runs `body` with a 64-word message schedule and a 128-byte tail buffer, both on the stack.
    @inline(__always)
    private static func withScratch<R>(_ body: (UnsafeMutablePointer<UInt32>, UnsafeMutablePointer<UInt8>) -> R) -> R {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64 + 32) { words in
            let schedule = words.baseAddress!
            let tail = UnsafeMutableRawPointer(schedule + 64).bindMemory(to: UInt8.self, capacity: 128)
            return body(schedule, tail)
        }
    }

    /// Appends the 0x80 marker, zeros and the bit length to the `tailCount` bytes at `tail`,
    /// compresses the last one or two blocks and reads out the digest.
    @inline(__always)
    private static func padAndFinish(
        _ state: inout State, tail: UnsafeMutablePointer<UInt8>, tailCount: Int, totalCount: UInt64,
        schedule: UnsafeMutablePointer<UInt32>
    ) -> SHA256Digest {
        let blocks = tailCount < 56 ? 1 : 2
        tail[tailCount] = 0x80
        (tail + tailCount + 1).update(repeating: 0, count: blocks * 64 - tailCount - 1 - 8)
        let bitCount = totalCount &* 8
        for i in 0..<8 { tail[blocks * 64 - 1 - i] = UInt8(truncatingIfNeeded: bitCount >> UInt64(8 * i)) }
        compress(&state, UnsafeRawPointer(tail), schedule)
        if blocks == 2 { compress(&state, UnsafeRawPointer(tail + 64), schedule) }
        func join(_ x: UInt32, _ y: UInt32) -> UInt64 { UInt64(x) << 32 | UInt64(y) }
        return SHA256Digest(
            word0: join(state.a, state.b), word1: join(state.c, state.d),
            word2: join(state.e, state.f), word3: join(state.g, state.h))
    }

    @inline(__always)
    private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }

    /// One round: updates `d` and `h` in place; the caller rotates the roles of the eight variables.
    @inline(__always)
    private static func round(
        _ a: UInt32, _ b: UInt32, _ c: UInt32, _ d: inout UInt32,
        _ e: UInt32, _ f: UInt32, _ g: UInt32, _ h: inout UInt32, _ kw: UInt32
    ) {
        let t1 = h &+ (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) &+ ((e & f) ^ (~e & g)) &+ kw
        let t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) &+ ((a & b) ^ (a & c) ^ (b & c))
        d &+= t1
        h = t1 &+ t2
    }

    /// The compression function on one 64-byte block (FIPS 180-4, 6.2.2).
    @inline(__always)
    private static func compress(_ state: inout State, _ block: UnsafeRawPointer, _ w: UnsafeMutablePointer<UInt32>) {
        for i in 0..<16 {
            w[i] = UInt32(bigEndian: block.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
        }
        for i in 16..<64 {
            let x = w[i - 15], y = w[i - 2]
            let s0 = rotr(x, 7) ^ rotr(x, 18) ^ (x >> 3)
            let s1 = rotr(y, 17) ^ rotr(y, 19) ^ (y >> 10)
            w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
        }
        var a = state.a, b = state.b, c = state.c, d = state.d
        var e = state.e, f = state.f, g = state.g, h = state.h
        roundConstants.withUnsafeBufferPointer { k in
            let k = k.baseAddress!
            // Eight rounds per iteration with the roles of the variables rotated in the calls,
            // rather than moving eight values every round.
            var i = 0
            while i < 64 {
                round(a, b, c, &d, e, f, g, &h, k[i] &+ w[i])
                round(h, a, b, &c, d, e, f, &g, k[i + 1] &+ w[i + 1])
                round(g, h, a, &b, c, d, e, &f, k[i + 2] &+ w[i + 2])
                round(f, g, h, &a, b, c, d, &e, k[i + 3] &+ w[i + 3])
                round(e, f, g, &h, a, b, c, &d, k[i + 4] &+ w[i + 4])
                round(d, e, f, &g, h, a, b, &c, k[i + 5] &+ w[i + 5])
                round(c, d, e, &f, g, h, a, &b, k[i + 6] &+ w[i + 6])
                round(b, c, d, &e, f, g, h, &a, k[i + 7] &+ w[i + 7])
                i += 8
            }
        }
        state.a &+= a; state.b &+= b; state.c &+= c; state.d &+= d
        state.e &+= e; state.f &+= f; state.g &+= g; state.h &+= h
    }

    private static let roundConstants: [UInt32] = [
        0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4, 0xab1c_5ed5,
        0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7, 0xc19b_f174,
        0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc, 0x76f9_88da,
        0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7, 0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351, 0x1429_2967,
        0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e, 0x9272_2c85,
        0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585, 0x106a_a070,
        0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f, 0x682e_6ff3,
        0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7, 0xc671_78f2,
    ]
}
