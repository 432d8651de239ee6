import ExperimentAPI
import Testing
@testable import WireProtocol

/// Seeded mutation fuzzing: decode must never crash, and whatever it accepts must re-encode to
/// exactly the bytes it was given (so the decoder is strict: one message, one encoding).
@Suite struct CodecFuzzTests {
    @Test func mutatedFramesNeverCrashAndReencodeExactly() throws {
        var gen = MessageGenerator(seed: 0xF022_2024)
        let corpus = (0..<400).map { _ in WireCodec.encode(gen.anyMessage()) }
        var rng = SplitMix64(seed: 0xBADC_0FFE)
        var accepted = 0, rejected = 0
        var labels: [String: Int] = [:]
        let iterations = 100_000
        for _ in 0..<iterations {
            var b = corpus[Int.random(in: 0..<corpus.count, using: &rng)]
            let rounds = Int.random(in: 1...3, using: &rng)
            for _ in 0..<rounds { mutate(&b, corpus: corpus, rng: &rng) }
            do {
                let m = try WireCodec.decode(b)
                accepted += 1
                let again = WireCodec.encode(m)
                if again != b {
                    Issue.record("re-encoding differs for \(b)")
                    return
                }
            } catch {
                rejected += 1
                labels[error.counterLabel, default: 0] += 1
            }
        }
        #expect(accepted + rejected == iterations)
        // The mutations reach both outcomes and most error classes.
        #expect(accepted > 1_000)
        #expect(labels.count >= 8, "error classes reached: \(labels)")
    }

    private func mutate(_ b: inout [UInt8], corpus: [[UInt8]], rng: inout SplitMix64) {
        func at() -> Int { b.isEmpty ? 0 : Int.random(in: 0..<b.count, using: &rng) }
        switch Int.random(in: 0..<9, using: &rng) {
        case 0:  // flip one bit
            if !b.isEmpty { b[at()] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng) }
        case 1:  // random byte
            if !b.isEmpty { b[at()] = UInt8.random(in: 0...255, using: &rng) }
        case 2:  // truncate
            b.removeLast(Int.random(in: 0...b.count, using: &rng))
        case 3:  // append junk
            b += (0..<Int.random(in: 1...8, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        case 4:  // corrupt a plausible u16 length/count field with an extreme or off-by-one value
            if b.count >= 2 {
                let i = Int.random(in: 0..<(b.count - 1), using: &rng)
                let old = Int(b[i]) | Int(b[i + 1]) << 8
                let v = [0, 1, 0xFFFF, 0x8000, old + 1, old - 1, 256, 257, 64, 65].randomElement(using: &rng)! & 0xFFFF
                b[i] = UInt8(v & 0xFF)
                b[i + 1] = UInt8(v >> 8)
            }
        case 5:  // delete a range
            if !b.isEmpty {
                let i = at()
                b.removeSubrange(i..<min(b.count, i + Int.random(in: 1...8, using: &rng)))
            }
        case 6:  // insert bytes
            let i = b.isEmpty ? 0 : Int.random(in: 0...b.count, using: &rng)
            b.insert(contentsOf: (0..<Int.random(in: 1...4, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }, at: i)
        case 7:  // splice: our head, another message's tail
            let other = corpus.randomElement(using: &rng)!
            let i = at(), j = Int.random(in: 0...other.count, using: &rng)
            b = Array(b.prefix(i)) + other[j...]
        default:  // change the type byte, keep the body
            if b.count > 3 { b[3] = UInt8.random(in: 0...11, using: &rng) }
        }
    }
}
