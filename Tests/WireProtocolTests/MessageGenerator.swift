import ExperimentAPI
@testable import WireProtocol

/// SplitMix64: a small seeded generator, so every failure reproduces from its seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random valid messages of every type, including edge values (NaN metrics, empty strings,
/// multibyte text, maximum-length fields).
struct MessageGenerator {
    var rng: SplitMix64
    init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < p }

    mutating func name(maxLength: Int = 24) -> String {
        let first = Array("abcdefghijklmnopqrstuvwxyz")
        let rest = Array("abcdefghijklmnopqrstuvwxyz0123456789_")
        let length = chance(0.05) ? WireLimits.maxNameBytes : int(1...maxLength)
        var s = String(first[int(0...first.count - 1)])
        for _ in 1..<length { s.append(rest[int(0...rest.count - 1)]) }
        return s
    }

    mutating func text(maxBytes: Int) -> String {
        let pieces = ["a", "Z", " ", "0", "é", "日本", "🧪", "\n", "\"", "\u{0}", "ß", "x_y"]
        var s = ""
        let target = chance(0.1) ? maxBytes : int(0...min(maxBytes, 40))
        while true {
            let p = pieces[int(0...pieces.count - 1)]
            if s.utf8.count + p.utf8.count > target { break }
            s += p
        }
        return s
    }

    mutating func lease() -> LeaseRef {
        LeaseRef(taskID: TaskID(high: rng.next(), low: rng.next()),
                 attempt: chance(0.1) ? WireLimits.maxAttempt : int(0...5), token: rng.next())
    }

    mutating func leases(max: Int) -> [LeaseRef] { (0..<int(0...max)).map { _ in lease() } }

    mutating func metricValue() -> Double {
        switch int(0...9) {
        case 0: return .nan
        case 1: return chance(0.5) ? .infinity : -.infinity
        case 2: return -0.0
        case 3: return Double(bitPattern: rng.next())  // any bit pattern, NaN payloads included
        default: return Double.random(in: -1e6...1e6, using: &rng)
        }
    }

    mutating func metrics(max: Int) -> [Metric] {
        var names = Set<String>()
        while names.count < int(0...max) { names.insert(name()) }
        return names.shuffled(using: &rng).map { Metric($0, metricValue()) }
    }

    mutating func parameterValue() -> ParameterValue {
        switch int(0...2) {
        case 0: return .integer(chance(0.2) ? (chance(0.5) ? .min : .max) : int(-1000...1000))
        case 1:
            let v = Double.random(in: -1e9...1e9, using: &rng)
            return .real(chance(0.1) ? -0.0 : (chance(0.1) ? .greatestFiniteMagnitude : v))
        default: return .text(text(maxBytes: WireLimits.maxTextValueBytes))
        }
    }

    mutating func task(parameterCount: Int? = nil) -> TaskAssignment {
        var names = Set<String>()
        let n = parameterCount ?? int(0...30)
        while names.count < n { names.insert(name()) }
        return TaskAssignment(lease: lease(), experiment: name(),
                              parameters: names.sorted().map { ($0, parameterValue()) })
    }

    mutating func message(_ type: MessageType) -> Message {
        switch type {
        case .hello:
            return .hello(Hello(host: text(maxBytes: WireLimits.maxHostBytes), pid: int(0...Int(UInt32.max)),
                                cores: int(0...Int(UInt16.max)), slots: int(0...WireLimits.maxHeldLeases),
                                threadsPerSlot: int(0...64), softwareVersion: text(maxBytes: WireLimits.maxSoftwareVersionBytes),
                                held: leases(max: chance(0.05) ? WireLimits.maxHeldLeases : 8)))
        case .welcome:
            return .welcome(Welcome(heartbeatIntervalMs: int(1...Int(UInt32.max)), liveness: int(1...Int(UInt16.max)),
                                    sweepName: text(maxBytes: WireLimits.maxSweepNameBytes)))
        case .task:
            return .task(task())
        case .metrics:
            return .metrics(MetricsReport(lease: lease(), point: CurvePoint(
                phase: name(maxLength: 10), epoch: int(0...Int(UInt32.max)), metrics: metrics(max: 12))))
        case .result:
            return .result(TaskResult(lease: lease(), wallSeconds: chance(0.1) ? 0 : Double.random(in: 0...1e6, using: &rng),
                                      metrics: metrics(max: chance(0.05) ? 40 : 8)))
        case .failure:
            return .failure(TaskFailure(lease: lease(), error: text(maxBytes: WireLimits.maxErrorBytes)))
        case .heartbeat:
            return .heartbeat(Heartbeat(held: leases(max: 8)))
        case .goodbye:
            return .goodbye(Goodbye(final: chance(0.5), reason: text(maxBytes: WireLimits.maxReasonBytes)))
        case .reset:
            return .reset
        case .cancel:
            return .cancel(lease())
        }
    }

    mutating func anyMessage() -> Message {
        message(MessageType.allCases[int(0...MessageType.allCases.count - 1)])
    }
}

/// Whether a message carries a NaN (NaN != NaN, so such messages are compared by bytes).
func containsNaN(_ m: Message) -> Bool {
    switch m {
    case .metrics(let r): return r.point.metrics.contains { $0.value.isNaN }
    case .result(let r): return r.metrics.contains { $0.value.isNaN }
    default: return false
    }
}
