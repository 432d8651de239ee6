import ExperimentAPI
import Testing

@Suite struct SHA256Tests {
    /// The examples of NIST's "Secure Hashing" example values (SHA256.pdf) and FIPS 180-2 appendix B.
    @Test(arguments: [
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        ("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
    ])
    func nistVectors(message: String, expected: String) {
        #expect(SHA256.hash(message).description == expected)
    }

    @Test func oneMillionTimesA() {
        let message = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(SHA256.hash(message).description == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        // The same message fed in uneven pieces through the streaming interface.
        var hasher = SHA256()
        var offset = 0, piece = 1
        while offset < message.count {
            let end = min(message.count, offset + piece)
            hasher.update(Array(message[offset..<end]))
            offset = end
            piece = piece * 3 % 1000 + 1
        }
        #expect(hasher.finalize().description == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Lengths around the padding boundaries (55/56 bytes: one or two final blocks), checked
    /// against Python's hashlib on bytes (7i + 3) mod 256.
    @Test(arguments: [
        (55, "e7313d333c272e639f790978283f9eb392e843d0f29b7016828bb1daa4aac70b"),
        (56, "4324d65f3c103567f5589c710bc08f8523f929a9272e3af36fc968e52abc6c27"),
        (63, "81c80242132f230c3bd41b3e63bbcff16107339549214a99614ff26664625055"),
        (64, "39e3d7b6b5d075d37d053ad89b24b41bef4f3c29760c84447cab3f3be1882241"),
        (65, "aacca6ff74fdbb296d165a45cecfa04e5127bc008770fbbdd48006f2d2fae95e"),
        (119, "9ce7368e4daf32341631b492e80359dc9f594b48453cd0dd5bf0b19279cc177e"),
        (120, "7836b787757e95e58b3ca5aec90b1b004e8deba1e50e9675af9cabf1a13a04b5"),
        (128, "d2742f1f4ac6bb7ca2b239ee18402ba8b3f9f8e652d2a72973c2b9ba11c08cf6"),
    ])
    func paddingBoundaries(length: Int, expected: String) {
        let message = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 7 + 3) }
        #expect(SHA256.hash(message).description == expected)
        for split in [0, 1, length / 2, length] {
            var hasher = SHA256()
            hasher.update(Array(message[..<split]))
            hasher.update(Array(message[split...]))
            #expect(hasher.finalize().description == expected, "split at \(split)")
        }
    }

    /// Hashing with a prefix cache gives the plain digest whatever the previous message was:
    /// messages of 0-300 bytes that share prefixes of random lengths with the one before.
    @Test func prefixCacheGivesTheSameDigests() {
        var rng = SplitMix64(seed: 2026)
        var cache = SHA256.PrefixCache()
        var previous: [UInt8] = []
        for _ in 0..<2000 {
            let shared = previous.isEmpty ? 0 : Int(rng.next() % UInt64(previous.count + 1))
            let length = shared + Int(rng.next() % 200)
            var message = Array(previous.prefix(shared))
            while message.count < length { message.append(UInt8(truncatingIfNeeded: rng.next() % 4)) }
            let cached = message.withUnsafeBytes { SHA256.hash($0, cache: &cache) }
            #expect(cached == SHA256.hash(message))
            previous = message
        }
    }

    @Test func digestBytesMatchHex() {
        let digest = SHA256.hash("abc")
        #expect(digest.bytes.count == 32)
        #expect(digest.bytes.prefix(4) == [0xba, 0x78, 0x16, 0xbf])
        #expect(digest.bytes.last == 0xad)
    }
}

/// The SplitMix64 generator (Steele, Lea and Flood 2014), seeded, for reproducible test inputs.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
