import ExperimentAPI

// The binary encoding of `Message`: one ZeroMQ frame per message. docs/PROTOCOL.md is the
// language-neutral description; this file is the reference implementation.
//
//   offset 0  'G' 'S'        magic (0x47 0x53)
//          2  version u8     = protocolVersion (2)
//          3  type u8        MessageType
//          4  body           per type, below
//
// Integers are fixed-width little-endian, except the task id: 16 bytes, `high` then `low`, each
// big-endian, so the bytes read in order are the id's hex text. Strings are u16 length + UTF-8
// (validated). Names (experiment, parameter, metric, phase) are snake_case ASCII:
// [a-z][a-z0-9_]*. A lease is task id (16) + attempt u16 + token u64 = 26 bytes. Counts are u16.
//
//   hello      1  host str, pid u32, cores u16, slots u16, threads_per_slot u16,
//                 software_version str, held_count u16, held_count x lease
//   welcome    2  heartbeat_interval_ms u32 (>= 1), liveness u16 (>= 1), sweep_name str
//   task       3  lease, experiment name, param_count u16,
//                 param_count x (name, tag u8, value: 0 -> i64 | 1 -> f64 (finite) | 2 -> str)
//                 (names strictly ascending, so no duplicates)
//   metrics    4  lease, phase name, epoch u32, metric_count u16, metric_count x (name, f64)
//   result     5  lease, wall_seconds f64 (finite, >= 0), metric_count u16, metric_count x (name, f64)
//   failure    6  lease, error str
//   heartbeat  7  held_count u16, held_count x lease
//   goodbye    8  final u8 (0 or 1), reason str
//   reset      9  (empty)
//   cancel    10  lease
//
// Metric values may be NaN or infinite (a diverged loss is a result worth recording); parameter
// reals may not (they must have one canonical text for task identity). Metric names within one
// message are distinct.

/// Limits every encoder and decoder enforces. Both ends set `ZMQ_MAXMSGSIZE` to
/// ``maxMessageBytes`` so libzmq disconnects a peer that sends more before it is buffered.
public enum WireLimits {
    /// The largest frame (a whole message), in bytes: 64 KiB.
    public static let maxMessageBytes = 65_536
    /// Experiment, parameter, metric and phase names, in bytes (snake_case ASCII).
    public static let maxNameBytes = WireName.maximumBytes
    /// A text parameter value, in UTF-8 bytes.
    public static let maxTextValueBytes = 1_024
    /// A worker's host name.
    public static let maxHostBytes = 255
    /// A worker's software version string.
    public static let maxSoftwareVersionBytes = 64
    /// The sweep name in welcome.
    public static let maxSweepNameBytes = 256
    /// A failure's error text; longer text is cut (at a character boundary) by the encoder.
    public static let maxErrorBytes = 4_096
    /// A goodbye's reason; longer text is cut (at a character boundary) by the encoder.
    public static let maxReasonBytes = 1_024
    /// Parameters of one task.
    public static let maxParameters = 256
    /// Metrics in one result or metrics message.
    public static let maxMetrics = 256
    /// Leases listed in hello or heartbeat, and so also a worker's slots: 2048 leases of 26 bytes
    /// fit a 64 KiB frame with room to spare (4096 would not).
    public static let maxHeldLeases = 2_048
    /// The largest attempt number (u16).
    public static let maxAttempt = Int(UInt16.max)
    /// Bytes of one lease on the wire: task id, attempt, token.
    public static let leaseBytes = 26
}

/// The message type byte (offset 3).
public enum MessageType: UInt8, Sendable, CaseIterable {
    case hello = 1, welcome, task, metrics, result, failure, heartbeat, goodbye, reset, cancel
}

/// Why a frame was not a valid message. Each case is counted by the receiver (``counterLabel``).
public enum DecodeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The frame ends before a field does (or a length/count points past the end).
    case truncated
    /// The frame does not start with `GS`.
    case badMagic
    /// A protocol version this build does not speak.
    case badVersion(UInt8)
    /// A type byte that names no message.
    case unknownType(UInt8)
    /// A string longer than its field's maximum (the field's name).
    case fieldTooLong(String)
    /// A field with a value outside its domain (e.g. goodbye's `final` not 0/1, liveness 0).
    case invalid(String)
    /// Bytes after the last field.
    case trailingBytes
    /// The frame is larger than ``WireLimits/maxMessageBytes`` (its size).
    case tooLarge(Int)
    /// A count over its maximum (the field's name).
    case tooMany(String)
    /// A string that is not valid UTF-8 (the field's name).
    case badUTF8(String)
    /// A name that is not snake_case ASCII `[a-z][a-z0-9_]*` (the field's name).
    case badName(String)
    /// Two parameters or two metrics with the same name (the name).
    case duplicateName(String)
    /// Parameters not in ascending name order (the first name out of order).
    case unsorted(String)
    /// NaN or infinity where a finite number is required (the field's name).
    case nonFinite(String)

    /// A short stable label per case, for counters and logs (`truncated`, `bad_magic`, ...).
    public var counterLabel: String {
        switch self {
        case .truncated: return "truncated"
        case .badMagic: return "bad_magic"
        case .badVersion: return "bad_version"
        case .unknownType: return "unknown_type"
        case .fieldTooLong: return "field_too_long"
        case .invalid: return "invalid"
        case .trailingBytes: return "trailing_bytes"
        case .tooLarge: return "too_large"
        case .tooMany: return "too_many"
        case .badUTF8: return "bad_utf8"
        case .badName: return "bad_name"
        case .duplicateName: return "duplicate_name"
        case .unsorted: return "unsorted"
        case .nonFinite: return "non_finite"
        }
    }

    public var description: String {
        switch self {
        case .truncated: return "truncated frame"
        case .badMagic: return "not a grainsweep frame (bad magic)"
        case .badVersion(let v): return "protocol version \(v), expected \(protocolVersion)"
        case .unknownType(let t): return "unknown message type \(t)"
        case .fieldTooLong(let f): return "\(f) too long"
        case .invalid(let f): return "invalid \(f)"
        case .trailingBytes: return "trailing bytes after the message"
        case .tooLarge(let n): return "frame of \(n) bytes exceeds \(WireLimits.maxMessageBytes)"
        case .tooMany(let f): return "too many \(f)"
        case .badUTF8(let f): return "\(f) is not valid UTF-8"
        case .badName(let f): return "\(f) is not a snake_case name"
        case .duplicateName(let n): return "duplicate name \(n)"
        case .unsorted(let n): return "parameter \(n) out of order"
        case .nonFinite(let f): return "\(f) is not finite"
        }
    }
}

/// Why a message cannot be encoded: a field outside the limits the decoder enforces.
public struct EncodeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The field, e.g. `task.parameters[3].name`.
    public let field: String
    /// What is wrong with it.
    public let problem: String
    public init(field: String, problem: String) {
        self.field = field
        self.problem = problem
    }
    public var description: String { "cannot encode \(field): \(problem)" }
}

/// The binary codec of ``Message``: `encode` and `decode` are exact inverses on valid messages,
/// and `decode` rejects anything else with a ``DecodeError`` (never a crash, never an allocation
/// larger than the frame warrants).
public enum WireCodec {
    /// The first two bytes of every frame: `G` `S`.
    public static let magic: (UInt8, UInt8) = (0x47, 0x53)

    /// Encodes a message into one frame.
    ///
    /// Free text that may come from anywhere (a failure's error, a goodbye's reason) is cut to
    /// its maximum at a character boundary. Every other field must already be within
    /// ``WireLimits`` and the name rules: a violation is a programming error and traps; use
    /// ``encodeChecked(_:)`` for content not validated beforehand (e.g. text values straight
    /// from a sweep spec).
    ///
    /// - Complexity: O(size of the message).
    public static func encode(_ message: Message) -> [UInt8] {
        do {
            return try encodeChecked(message)
        } catch {
            preconditionFailure("WireCodec.encode: \(error)")
        }
    }

    /// Encodes a message into one frame, or says which field is outside the limits.
    /// - Throws: ``EncodeError``.
    public static func encodeChecked(_ message: Message) throws(EncodeError) -> [UInt8] {
        var w = WireWriter(capacity: estimatedSize(message))
        try w.encode(message)
        guard w.bytes.count <= WireLimits.maxMessageBytes else {
            throw EncodeError(field: "message", problem: "\(w.bytes.count) bytes exceed \(WireLimits.maxMessageBytes)")
        }
        return w.bytes
    }

    /// Decodes one frame.
    ///
    /// - Throws: ``DecodeError`` for anything but exactly one valid message.
    /// - Complexity: O(size of the frame); allocates only what the message holds.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(DecodeError) -> Message {
        guard bytes.count <= WireLimits.maxMessageBytes else { throw .tooLarge(bytes.count) }
        var r = WireReader(bytes)
        return try r.message()
    }

    /// Decodes one frame; see ``decode(_:)-(UnsafeRawBufferPointer)``.
    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> Message {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(DecodeError) -> Message in try decode(raw) }
        }
        return try result.get()
    }

    private static func estimatedSize(_ message: Message) -> Int {
        switch message {
        case .task(let t): return 64 + t.experiment.utf8.count + t.parameters.count * 32
        case .hello(let h): return 64 + h.host.utf8.count + h.softwareVersion.utf8.count + h.held.count * WireLimits.leaseBytes
        case .heartbeat(let h): return 8 + h.held.count * WireLimits.leaseBytes
        case .metrics(let m): return 48 + m.point.metrics.count * 24
        case .result(let r): return 48 + r.metrics.count * 24
        case .failure(let f): return 32 + min(f.error.utf8.count, WireLimits.maxErrorBytes)
        default: return 64
        }
    }
}

// MARK: - Names


/// A name that occurs twice, if any: pairwise for the usual handful, hashed beyond that so a
/// hostile 256-metric frame costs O(n), not O(n^2).
private func firstDuplicateName(_ metrics: [Metric]) -> String? {
    if metrics.count <= 16 {
        for i in metrics.indices {
            for j in 0..<i where metrics[j].name == metrics[i].name { return metrics[i].name }
        }
        return nil
    }
    var seen = Set<String>(minimumCapacity: metrics.count)
    for m in metrics where !seen.insert(m.name).inserted { return m.name }
    return nil
}

/// Lexicographic byte order, equal to `String` order for ASCII names.
@inline(__always)
private func compareBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
    let n = min(a.count, b.count)
    for i in 0..<n where a[i] != b[i] { return a[i] < b[i] ? -1 : 1 }
    return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
}

// MARK: - Reader

/// A bounds-checked cursor over one frame. Every read checks the remaining length first.
private struct WireReader {
    let base: UnsafeRawBufferPointer
    var offset = 0

    init(_ base: UnsafeRawBufferPointer) { self.base = base }

    var remaining: Int { base.count - offset }

    @inline(__always)
    mutating func need(_ n: Int) throws(DecodeError) {
        if n > remaining { throw .truncated }
    }

    @inline(__always)
    mutating func u8() throws(DecodeError) -> UInt8 {
        try need(1)
        defer { offset += 1 }
        return base[offset]
    }

    @inline(__always)
    mutating func u16() throws(DecodeError) -> UInt16 {
        try need(2)
        defer { offset += 2 }
        return UInt16(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inline(__always)
    mutating func u32() throws(DecodeError) -> UInt32 {
        try need(4)
        defer { offset += 4 }
        return UInt32(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inline(__always)
    mutating func u64() throws(DecodeError) -> UInt64 {
        try need(8)
        defer { offset += 8 }
        return UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    @inline(__always)
    mutating func u64BigEndian() throws(DecodeError) -> UInt64 {
        try need(8)
        defer { offset += 8 }
        return UInt64(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    @inline(__always)
    mutating func f64() throws(DecodeError) -> Double { Double(bitPattern: try u64()) }

    /// A u16 length then that many bytes, bounded by `max`.
    @inline(__always)
    mutating func lengthPrefixed(_ field: StaticString, max: Int) throws(DecodeError) -> UnsafeRawBufferPointer {
        let n = Int(try u16())
        guard n <= max else { throw .fieldTooLong(field.description) }
        try need(n)
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: base[offset..<offset + n])
    }

    mutating func text(_ field: StaticString, max: Int) throws(DecodeError) -> String {
        let raw = try lengthPrefixed(field, max: max)
        guard let s = String(validating: raw, as: UTF8.self) else { throw .badUTF8(field.description) }
        return s
    }

    /// A snake_case ASCII name; returns the raw bytes too, for order and duplicate checks.
    @inline(__always)
    mutating func nameBytes(_ field: StaticString) throws(DecodeError) -> UnsafeRawBufferPointer {
        let raw = try lengthPrefixed(field, max: WireLimits.maxNameBytes)
        guard WireName.isValid(raw) else { throw .badName(field.description) }
        return raw
    }

    @inline(__always)
    mutating func name(_ field: StaticString) throws(DecodeError) -> String {
        String(decoding: try nameBytes(field), as: UTF8.self)
    }

    /// A count, at most `max`, whose entries (at least `minEntryBytes` each) fit what is left.
    @inline(__always)
    mutating func count(_ field: StaticString, max: Int, minEntryBytes: Int) throws(DecodeError) -> Int {
        let n = Int(try u16())
        guard n <= max else { throw .tooMany(field.description) }
        try need(n * minEntryBytes)
        return n
    }

    mutating func lease() throws(DecodeError) -> LeaseRef {
        let high = try u64BigEndian()
        let low = try u64BigEndian()
        let attempt = Int(try u16())
        let token = try u64()
        return LeaseRef(taskID: TaskID(high: high, low: low), attempt: attempt, token: token)
    }

    mutating func leases() throws(DecodeError) -> [LeaseRef] {
        let n = try count("held leases", max: WireLimits.maxHeldLeases, minEntryBytes: WireLimits.leaseBytes)
        var held: [LeaseRef] = []
        held.reserveCapacity(n)
        for _ in 0..<n { held.append(try lease()) }
        return held
    }

    /// Metrics: distinct names, any Double (NaN and infinities allowed).
    mutating func metrics() throws(DecodeError) -> [Metric] {
        let n = try count("metrics", max: WireLimits.maxMetrics, minEntryBytes: 2 + 1 + 8)
        var metrics: [Metric] = []
        metrics.reserveCapacity(n)
        for _ in 0..<n {
            metrics.append(Metric(try name("metric name"), try f64()))
        }
        if let duplicate = firstDuplicateName(metrics) { throw .duplicateName(duplicate) }
        return metrics
    }

    mutating func message() throws(DecodeError) -> Message {
        if base.count >= 2, base[0] != WireCodec.magic.0 || base[1] != WireCodec.magic.1 { throw .badMagic }
        try need(4)
        let version = base[2]
        guard version == protocolVersion else { throw .badVersion(version) }
        let typeByte = base[3]
        offset = 4
        guard let type = MessageType(rawValue: typeByte) else { throw .unknownType(typeByte) }
        let message: Message
        switch type {
        case .hello:
            let host = try text("host", max: WireLimits.maxHostBytes)
            let pid = Int(try u32())
            let cores = Int(try u16())
            let slots = Int(try u16())
            guard slots <= WireLimits.maxHeldLeases else { throw .invalid("slots") }
            let threads = Int(try u16())
            let version = try text("software version", max: WireLimits.maxSoftwareVersionBytes)
            let held = try leases()
            message = .hello(Hello(host: host, pid: pid, cores: cores, slots: slots, threadsPerSlot: threads,
                                   softwareVersion: version, held: held))
        case .welcome:
            let interval = Int(try u32())
            guard interval >= 1 else { throw .invalid("heartbeat interval") }
            let liveness = Int(try u16())
            guard liveness >= 1 else { throw .invalid("liveness") }
            let sweep = try text("sweep name", max: WireLimits.maxSweepNameBytes)
            message = .welcome(Welcome(heartbeatIntervalMs: interval, liveness: liveness, sweepName: sweep))
        case .task:
            let lease = try lease()
            let experiment = try name("experiment")
            let n = try count("parameters", max: WireLimits.maxParameters, minEntryBytes: 2 + 1 + 1 + 2)
            var parameters: [(name: String, value: ParameterValue)] = []
            parameters.reserveCapacity(n)
            var previous: UnsafeRawBufferPointer?
            for _ in 0..<n {
                let raw = try nameBytes("parameter name")
                if let previous {
                    let order = compareBytes(previous, raw)
                    if order == 0 { throw .duplicateName(String(decoding: raw, as: UTF8.self)) }
                    if order > 0 { throw .unsorted(String(decoding: raw, as: UTF8.self)) }
                }
                previous = raw
                let value: ParameterValue
                switch try u8() {
                case 0: value = .integer(Int(Int64(bitPattern: try u64())))
                case 1:
                    let v = try f64()
                    guard v.isFinite else { throw .nonFinite("parameter value") }
                    value = .real(v)
                case 2: value = .text(try text("text value", max: WireLimits.maxTextValueBytes))
                default: throw .invalid("parameter value tag")
                }
                parameters.append((String(decoding: raw, as: UTF8.self), value))
            }
            message = .task(TaskAssignment(lease: lease, experiment: experiment, parameters: parameters))
        case .metrics:
            let lease = try lease()
            let phase = try name("phase")
            let epoch = Int(try u32())
            let metrics = try metrics()
            message = .metrics(MetricsReport(lease: lease, point: CurvePoint(phase: phase, epoch: epoch, metrics: metrics)))
        case .result:
            let lease = try lease()
            let wall = try f64()
            guard wall.isFinite else { throw .nonFinite("wall seconds") }
            guard wall >= 0 else { throw .invalid("wall seconds") }
            let metrics = try metrics()
            message = .result(TaskResult(lease: lease, wallSeconds: wall, metrics: metrics))
        case .failure:
            let lease = try lease()
            let error = try text("error", max: WireLimits.maxErrorBytes)
            message = .failure(TaskFailure(lease: lease, error: error))
        case .heartbeat:
            message = .heartbeat(Heartbeat(held: try leases()))
        case .goodbye:
            let flag = try u8()
            guard flag <= 1 else { throw .invalid("final flag") }
            let reason = try text("reason", max: WireLimits.maxReasonBytes)
            message = .goodbye(Goodbye(final: flag == 1, reason: reason))
        case .reset:
            message = .reset
        case .cancel:
            message = .cancel(try lease())
        }
        guard remaining == 0 else { throw .trailingBytes }
        return message
    }
}

// MARK: - Writer

/// Appends fields, checking each against the limits the reader enforces.
private struct WireWriter {
    var bytes: [UInt8] = []

    init(capacity: Int) { bytes.reserveCapacity(capacity) }

    @inline(__always) mutating func u8(_ v: UInt8) { bytes.append(v) }

    @inline(__always) mutating func u16(_ v: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: v))
        bytes.append(UInt8(truncatingIfNeeded: v >> 8))
    }

    @inline(__always) mutating func u32(_ v: UInt32) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    @inline(__always) mutating func u64(_ v: UInt64) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    @inline(__always) mutating func u64BigEndian(_ v: UInt64) {
        withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) }
    }

    @inline(__always) mutating func f64(_ v: Double) { u64(v.bitPattern) }

    mutating func int<T: FixedWidthInteger & UnsignedInteger>(_ v: Int, as: T.Type, _ field: @autoclosure () -> String) throws(EncodeError) -> T {
        guard let x = T(exactly: v) else {
            throw EncodeError(field: field(), problem: "\(v) outside 0...\(T.max)")
        }
        return x
    }

    mutating func text(_ s: String, max: Int, _ field: @autoclosure () -> String) throws(EncodeError) {
        let n = s.utf8.count
        guard n <= max else { throw EncodeError(field: field(), problem: "\(n) bytes exceed \(max)") }
        u16(UInt16(n))
        bytes.append(contentsOf: s.utf8)
    }

    /// Free text cut to `max` UTF-8 bytes at a character boundary.
    mutating func truncatedText(_ s: String, max: Int) {
        if s.utf8.count <= max {
            u16(UInt16(s.utf8.count))
            bytes.append(contentsOf: s.utf8)
            return
        }
        var end = s.utf8.index(s.utf8.startIndex, offsetBy: max)
        while end > s.utf8.startIndex, s.utf8[end] & 0xC0 == 0x80 { s.utf8.formIndex(before: &end) }  // not inside a scalar
        let cut = s.utf8[..<end]
        u16(UInt16(cut.count))
        bytes.append(contentsOf: cut)
    }

    /// Checks and appends a name in one pass over its UTF-8.
    mutating func name(_ s: String, _ field: @autoclosure () -> String) throws(EncodeError) {
        var copy = s
        let ok = copy.withUTF8 { raw in
            guard WireName.isValid(UnsafeRawBufferPointer(raw)) else { return false }
            u16(UInt16(raw.count))
            bytes.append(contentsOf: raw)
            return true
        }
        guard ok else {
            throw EncodeError(field: field(), problem: "\"\(s)\" is not a snake_case ASCII name of at most \(WireLimits.maxNameBytes) bytes")
        }
    }

    mutating func lease(_ l: LeaseRef, _ field: @autoclosure () -> String) throws(EncodeError) {
        u64BigEndian(l.taskID.high)
        u64BigEndian(l.taskID.low)
        u16(try int(l.attempt, as: UInt16.self, field() + ".attempt"))
        u64(l.token)
    }

    mutating func leases(_ held: [LeaseRef], _ field: String) throws(EncodeError) {
        guard held.count <= WireLimits.maxHeldLeases else {
            throw EncodeError(field: field, problem: "\(held.count) leases exceed \(WireLimits.maxHeldLeases)")
        }
        u16(UInt16(held.count))
        for (i, l) in held.enumerated() { try lease(l, "\(field)[\(i)]") }
    }

    mutating func metrics(_ metrics: [Metric], _ field: String) throws(EncodeError) {
        guard metrics.count <= WireLimits.maxMetrics else {
            throw EncodeError(field: field, problem: "\(metrics.count) metrics exceed \(WireLimits.maxMetrics)")
        }
        u16(UInt16(metrics.count))
        for (i, m) in metrics.enumerated() {
            try name(m.name, "\(field)[\(i)].name")
            f64(m.value)
        }
        if let duplicate = firstDuplicateName(metrics) {
            throw EncodeError(field: field, problem: "duplicate metric \(duplicate)")
        }
    }

    mutating func header(_ type: MessageType) {
        bytes.append(WireCodec.magic.0)
        bytes.append(WireCodec.magic.1)
        bytes.append(protocolVersion)
        bytes.append(type.rawValue)
    }

    mutating func encode(_ message: Message) throws(EncodeError) {
        switch message {
        case .hello(let h):
            header(.hello)
            try text(h.host, max: WireLimits.maxHostBytes, "hello.host")
            u32(try int(h.pid, as: UInt32.self, "hello.pid"))
            u16(try int(h.cores, as: UInt16.self, "hello.cores"))
            guard h.slots <= WireLimits.maxHeldLeases else {
                throw EncodeError(field: "hello.slots", problem: "\(h.slots) exceeds \(WireLimits.maxHeldLeases)")
            }
            u16(try int(h.slots, as: UInt16.self, "hello.slots"))
            u16(try int(h.threadsPerSlot, as: UInt16.self, "hello.threadsPerSlot"))
            try text(h.softwareVersion, max: WireLimits.maxSoftwareVersionBytes, "hello.softwareVersion")
            try leases(h.held, "hello.held")
        case .welcome(let w):
            header(.welcome)
            guard w.heartbeatIntervalMs >= 1 else { throw EncodeError(field: "welcome.heartbeatIntervalMs", problem: "must be >= 1") }
            u32(try int(w.heartbeatIntervalMs, as: UInt32.self, "welcome.heartbeatIntervalMs"))
            guard w.liveness >= 1 else { throw EncodeError(field: "welcome.liveness", problem: "must be >= 1") }
            u16(try int(w.liveness, as: UInt16.self, "welcome.liveness"))
            try text(w.sweepName, max: WireLimits.maxSweepNameBytes, "welcome.sweepName")
        case .task(let t):
            header(.task)
            try lease(t.lease, "task.lease")
            try name(t.experiment, "task.experiment")
            guard t.parameters.count <= WireLimits.maxParameters else {
                throw EncodeError(field: "task.parameters", problem: "\(t.parameters.count) exceed \(WireLimits.maxParameters)")
            }
            u16(UInt16(t.parameters.count))
            var previous = 0..<0  // where the previous name's bytes are in `bytes`
            for (i, p) in t.parameters.enumerated() {
                let start = bytes.count + 2
                try name(p.name, "task.parameters[\(i)].name")
                let current = start..<bytes.count
                if i > 0 {
                    // Compare the names as written: byte order, the order the decoder checks.
                    let order = bytes.withUnsafeBytes { b in
                        compareBytes(UnsafeRawBufferPointer(rebasing: b[previous]), UnsafeRawBufferPointer(rebasing: b[current]))
                    }
                    if order >= 0 {
                        throw EncodeError(field: "task.parameters[\(i)]", problem: order == 0
                            ? "duplicate parameter \(p.name)" : "parameters must be sorted by name (\(p.name) after \(t.parameters[i - 1].name))")
                    }
                }
                previous = current
                switch p.value {
                case .integer(let v):
                    u8(0)
                    u64(UInt64(bitPattern: Int64(v)))
                case .real(let v):
                    guard v.isFinite else { throw EncodeError(field: "task.parameters[\(i)]", problem: "\(v) is not finite") }
                    u8(1)
                    f64(v)
                case .text(let v):
                    u8(2)
                    try text(v, max: WireLimits.maxTextValueBytes, "task.parameters[\(i)].value")
                }
            }
        case .metrics(let m):
            header(.metrics)
            try lease(m.lease, "metrics.lease")
            try name(m.point.phase, "metrics.phase")
            u32(try int(m.point.epoch, as: UInt32.self, "metrics.epoch"))
            try metrics(m.point.metrics, "metrics.metrics")
        case .result(let r):
            header(.result)
            try lease(r.lease, "result.lease")
            guard r.wallSeconds.isFinite, r.wallSeconds >= 0 else {
                throw EncodeError(field: "result.wallSeconds", problem: "\(r.wallSeconds) is not a finite non-negative number")
            }
            f64(r.wallSeconds)
            try metrics(r.metrics, "result.metrics")
        case .failure(let f):
            header(.failure)
            try lease(f.lease, "failure.lease")
            truncatedText(f.error, max: WireLimits.maxErrorBytes)
        case .heartbeat(let h):
            header(.heartbeat)
            try leases(h.held, "heartbeat.held")
        case .goodbye(let g):
            header(.goodbye)
            u8(g.final ? 1 : 0)
            truncatedText(g.reason, max: WireLimits.maxReasonBytes)
        case .reset:
            header(.reset)
        case .cancel(let l):
            header(.cancel)
            try lease(l, "cancel")
        }
    }
}
