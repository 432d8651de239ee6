import ExperimentAPI
import Testing
@testable import WireProtocol

@Suite struct CodecTests {
    // MARK: Round trips

    @Test(arguments: MessageType.allCases)
    func roundTripsRandomMessages(type: MessageType) throws {
        var gen = MessageGenerator(seed: 0x5EED_0000 + UInt64(type.rawValue))
        for _ in 0..<300 {
            let message = gen.message(type)
            let bytes = WireCodec.encode(message)
            #expect(bytes.count <= WireLimits.maxMessageBytes)
            #expect(bytes[0] == 0x47 && bytes[1] == 0x53 && bytes[2] == protocolVersion && bytes[3] == type.rawValue)
            let decoded = try WireCodec.decode(bytes)
            if !containsNaN(message) { #expect(decoded == message) }
            #expect(WireCodec.encode(decoded) == bytes)
        }
    }

    @Test func nanAndInfinityMetricsSurviveBitExact() throws {
        let payloadNaN = Double(bitPattern: 0x7FF8_0000_0000_1234)
        let m = Message.result(TaskResult(lease: LeaseRef(taskID: TaskID(high: 1, low: 2), attempt: 0, token: 0), wallSeconds: 1,
                                          metrics: [Metric("loss", payloadNaN), Metric("acc", -.infinity)]))
        guard case .result(let r) = try WireCodec.decode(WireCodec.encode(m)) else { Issue.record("wrong type"); return }
        #expect(r.metrics[0].value.bitPattern == payloadNaN.bitPattern)
        #expect(r.metrics[1].value == -.infinity)
    }

    /// The layout, byte by byte, as docs/PROTOCOL.md shows it: other-language workers depend on it.
    @Test func goldenTaskBytes() throws {
        let task = Message.task(TaskAssignment(
            lease: LeaseRef(taskID: TaskID(hex: "0123456789abcdeffedcba9876543210")!, attempt: 2, token: 0x0807_0605_0403_0201),
            experiment: "sleep",
            parameters: [("epochs", .integer(3)), ("fail", .text("never")), ("sleep_ms", .real(1.5))]))
        let expected: [UInt8] = [
            0x47, 0x53, 0x02, 0x03,  // "GS", version 2, type 3 (task)
            0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10,  // task id
            0x02, 0x00,  // attempt 2
            0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,  // token 0x0807060504030201
            0x05, 0x00, 0x73, 0x6C, 0x65, 0x65, 0x70,  // "sleep"
            0x03, 0x00,  // 3 parameters
            0x06, 0x00, 0x65, 0x70, 0x6F, 0x63, 0x68, 0x73, 0x00, 0x03, 0, 0, 0, 0, 0, 0, 0,  // epochs = integer 3
            0x04, 0x00, 0x66, 0x61, 0x69, 0x6C, 0x02, 0x05, 0x00, 0x6E, 0x65, 0x76, 0x65, 0x72,  // fail = text "never"
            0x08, 0x00, 0x73, 0x6C, 0x65, 0x65, 0x70, 0x5F, 0x6D, 0x73, 0x01, 0, 0, 0, 0, 0, 0, 0xF8, 0x3F,  // sleep_ms = real 1.5
        ]
        #expect(WireCodec.encode(task) == expected)
        #expect(try WireCodec.decode(expected) == task)

        #expect(WireCodec.encode(.reset) == [0x47, 0x53, 0x02, 0x09])
        #expect(WireCodec.encode(.goodbye(Goodbye(final: true, reason: "done")))
                == [0x47, 0x53, 0x02, 0x08, 0x01, 0x04, 0x00, 0x64, 0x6F, 0x6E, 0x65])
        #expect(WireCodec.encode(.welcome(Welcome(heartbeatIntervalMs: 1000, liveness: 3, sweepName: "s")))
                == [0x47, 0x53, 0x02, 0x02, 0xE8, 0x03, 0, 0, 0x03, 0x00, 0x01, 0x00, 0x73])
    }

    // MARK: Each decode error

    static let lease = LeaseRef(taskID: TaskID(high: 7, low: 9), attempt: 1, token: 42)
    static func taskBytes(_ parameters: [(name: String, value: ParameterValue)], experiment: String = "sleep") -> [UInt8] {
        // Built by hand so that invalid content can be encoded.
        var b: [UInt8] = [0x47, 0x53, 2, 3]
        b += [UInt8](repeating: 0, count: 7) + [7] + [UInt8](repeating: 0, count: 7) + [9] + [1, 0]
        b += [42, 0, 0, 0, 0, 0, 0, 0]  // token
        func str(_ s: String) { b += [UInt8(s.utf8.count & 0xFF), UInt8(s.utf8.count >> 8)] + Array(s.utf8) }
        str(experiment)
        b += [UInt8(parameters.count), 0]
        for p in parameters {
            str(p.name)
            switch p.value {
            case .integer(let v): b += [0] + withUnsafeBytes(of: Int64(v).littleEndian, Array.init)
            case .real(let v): b += [1] + withUnsafeBytes(of: v.bitPattern.littleEndian, Array.init)
            case .text(let v): b += [2]; str(v)
            }
        }
        return b
    }

    func expectError(_ expected: DecodeError, _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(throws: expected, sourceLocation: sourceLocation) { _ = try WireCodec.decode(bytes) }
    }

    @Test func headerErrors() {
        expectError(.truncated, [])
        expectError(.truncated, [0x47])
        expectError(.badMagic, [0x47, 0x54, 2, 3])
        expectError(.badMagic, [0, 0])
        expectError(.truncated, [0x47, 0x53, 2])
        expectError(.badVersion(1), [0x47, 0x53, 1, 3])
        expectError(.badVersion(3), [0x47, 0x53, 3, 3])
        expectError(.unknownType(0), [0x47, 0x53, 2, 0])
        expectError(.unknownType(11), [0x47, 0x53, 2, 11])
        expectError(.trailingBytes, [0x47, 0x53, 2, 9, 0])
        expectError(.tooLarge(WireLimits.maxMessageBytes + 1), [0x47, 0x53, 2, 9] + [UInt8](repeating: 0, count: WireLimits.maxMessageBytes - 3))
    }

    @Test func taskErrors() {
        #expect(throws: Never.self) { _ = try WireCodec.decode(Self.taskBytes([("a", .integer(1)), ("b", .real(2))])) }
        expectError(.duplicateName("a"), Self.taskBytes([("a", .integer(1)), ("a", .integer(2))]))
        expectError(.unsorted("a"), Self.taskBytes([("b", .integer(1)), ("a", .integer(2))]))
        expectError(.badName("parameter name"), Self.taskBytes([("Learning_Rate", .integer(1))]))
        expectError(.badName("parameter name"), Self.taskBytes([("1st", .integer(1))]))
        expectError(.badName("parameter name"), Self.taskBytes([("", .integer(1))]))
        expectError(.badName("parameter name"), Self.taskBytes([("lr-rate", .integer(1))]))
        expectError(.badName("experiment"), Self.taskBytes([], experiment: "Sleep"))
        expectError(.fieldTooLong("parameter name"), Self.taskBytes([(String(repeating: "a", count: 65), .integer(1))]))
        expectError(.fieldTooLong("text value"), Self.taskBytes([("a", .text(String(repeating: "x", count: 1025)))]))
        expectError(.nonFinite("parameter value"), Self.taskBytes([("a", .real(.nan))]))
        expectError(.nonFinite("parameter value"), Self.taskBytes([("a", .real(.infinity))]))
        var badTag = Self.taskBytes([("a", .integer(1))])
        badTag[badTag.count - 9] = 3
        expectError(.invalid("parameter value tag"), badTag)
        var badUTF8 = Self.taskBytes([("a", .text("ok"))])
        badUTF8[badUTF8.count - 1] = 0xFF
        expectError(.badUTF8("text value"), badUTF8)
        // A count promising more entries than the frame holds is truncated before any allocation.
        var many = Self.taskBytes([])
        many[many.count - 2] = 0xFF
        expectError(.truncated, many)
        many[many.count - 1] = 0x01  // 511 > 256
        expectError(.tooMany("parameters"), many)
        // Every strict prefix of a valid message is truncated.
        let valid = Self.taskBytes([("a", .integer(1)), ("b", .text("xyz"))])
        for n in 4..<valid.count { expectError(.truncated, Array(valid.prefix(n))) }
        expectError(.trailingBytes, valid + [0])
    }

    @Test func otherMessageErrors() {
        let header: [UInt8] = [0x47, 0x53, 2]
        let leaseBytes = [UInt8](repeating: 1, count: WireLimits.leaseBytes)
        expectError(.invalid("final flag"), header + [8, 2, 0, 0])
        expectError(.invalid("heartbeat interval"), header + [2, 0, 0, 0, 0, 1, 0, 0, 0])
        expectError(.invalid("liveness"), header + [2, 1, 0, 0, 0, 0, 0, 0, 0])
        // result: wall seconds must be finite and >= 0; metric values may be NaN.
        let nan = withUnsafeBytes(of: Double.nan.bitPattern.littleEndian, Array.init)
        let minusOne = withUnsafeBytes(of: (-1.0).bitPattern.littleEndian, Array.init)
        let one = withUnsafeBytes(of: (1.0).bitPattern.littleEndian, Array.init)
        expectError(.nonFinite("wall seconds"), header + [5] + leaseBytes + nan + [0, 0])
        expectError(.invalid("wall seconds"), header + [5] + leaseBytes + minusOne + [0, 0])
        let metricNaN: [UInt8] = [1, 0, 0x61] + nan
        #expect(throws: Never.self) { _ = try WireCodec.decode(header + [5] + leaseBytes + one + [1, 0] + metricNaN) }
        expectError(.duplicateName("a"), header + [5] + leaseBytes + one + [2, 0] + metricNaN + metricNaN)
        var manyMetrics = header + [5] + leaseBytes + one + [UInt8((WireLimits.maxMetrics + 1) & 0xFF), UInt8((WireLimits.maxMetrics + 1) >> 8)]
        expectError(.tooMany("metrics"), manyMetrics)
        manyMetrics += [UInt8](repeating: 0, count: 20)
        expectError(.tooMany("metrics"), manyMetrics)
        // hello: slots beyond the held-lease limit; too many held leases.
        let hello: [UInt8] = header + [1, 0, 0, 1, 0, 0, 0, 1, 0]
        expectError(.invalid("slots"), hello + [0x01, 0x08] + [1, 0, 0, 0, 0, 0])
        #expect(throws: Never.self) { _ = try WireCodec.decode(hello + [0x00, 0x08] + [1, 0, 0, 0, 0, 0]) }
        expectError(.tooMany("held leases"), header + [7, 0x01, 0x08])
        expectError(.truncated, header + [7, 0x00, 0x08])
        expectError(.badUTF8("host"), header + [1, 1, 0, 0xC3] + [UInt8](repeating: 0, count: 14))
        expectError(.fieldTooLong("error"), header + [6] + leaseBytes + [0x01, 0x10])
        expectError(.badName("phase"), header + [4] + leaseBytes + [1, 0, 0x5F, 0, 0, 0, 0, 0, 0])
        expectError(.truncated, header + [10] + leaseBytes.dropLast())
    }

    // MARK: Encoding side

    @Test func encodeCheckedRejectsWhatDecodeRejects() {
        func rejects(_ m: Message, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(throws: EncodeError.self, sourceLocation: sourceLocation) { _ = try WireCodec.encodeChecked(m) }
        }
        let l = Self.lease
        rejects(.task(TaskAssignment(lease: l, experiment: "x", parameters: [("b", .integer(1)), ("a", .integer(1))])))
        rejects(.task(TaskAssignment(lease: l, experiment: "x", parameters: [("a", .integer(1)), ("a", .integer(1))])))
        rejects(.task(TaskAssignment(lease: l, experiment: "x", parameters: [("a", .real(.nan))])))
        rejects(.task(TaskAssignment(lease: l, experiment: "Bad Name", parameters: [])))
        rejects(.task(TaskAssignment(lease: l, experiment: "x", parameters: [("a", .text(String(repeating: "x", count: 1025)))])))
        rejects(.task(TaskAssignment(lease: LeaseRef(taskID: l.taskID, attempt: 70_000, token: 1), experiment: "x", parameters: [])))
        rejects(.task(TaskAssignment(lease: LeaseRef(taskID: l.taskID, attempt: -1, token: 1), experiment: "x", parameters: [])))
        rejects(.result(TaskResult(lease: l, wallSeconds: .nan, metrics: [])))
        rejects(.result(TaskResult(lease: l, wallSeconds: 1, metrics: [Metric("a", 1), Metric("a", 2)])))
        rejects(.heartbeat(Heartbeat(held: Array(repeating: l, count: WireLimits.maxHeldLeases + 1))))
        rejects(.hello(Hello(host: "h", pid: -1, cores: 1, slots: 1, threadsPerSlot: 1, softwareVersion: "", held: [])))
        rejects(.hello(Hello(host: "h", pid: 1, cores: 1, slots: WireLimits.maxHeldLeases + 1, threadsPerSlot: 1, softwareVersion: "", held: [])))
        rejects(.welcome(Welcome(heartbeatIntervalMs: 0, liveness: 3, sweepName: "")))
        // 256 parameters with 1 KiB text values each: every field fits, the frame does not.
        let big = (0..<256).map { (name: "p" + String(1000 + $0), value: ParameterValue.text(String(repeating: "v", count: 1024))) }
        rejects(.task(TaskAssignment(lease: l, experiment: "x", parameters: big)))
    }

    @Test func freeTextIsCutAtACharacterBoundary() throws {
        let long = String(repeating: "é", count: 3000)  // 6000 bytes
        let bytes = WireCodec.encode(.failure(TaskFailure(lease: Self.lease, error: long)))
        guard case .failure(let f) = try WireCodec.decode(bytes) else { Issue.record("wrong type"); return }
        #expect(f.error == String(repeating: "é", count: WireLimits.maxErrorBytes / 2))
        let odd = "x" + String(repeating: "日", count: 600)  // 1801 bytes; cut inside a 3-byte scalar
        guard case .goodbye(let g) = try WireCodec.decode(WireCodec.encode(.goodbye(Goodbye(final: false, reason: odd)))) else { return }
        #expect(g.reason.utf8.count <= WireLimits.maxReasonBytes)
        #expect(g.reason == "x" + String(repeating: "日", count: 341))
    }

    @Test func maximalMessagesFit() throws {
        let l = Self.lease
        let hello = Message.hello(Hello(
            host: String(repeating: "h", count: WireLimits.maxHostBytes), pid: Int(UInt32.max), cores: 65535,
            slots: WireLimits.maxHeldLeases, threadsPerSlot: 65535,
            softwareVersion: String(repeating: "v", count: WireLimits.maxSoftwareVersionBytes),
            held: Array(repeating: l, count: WireLimits.maxHeldLeases)))
        let bytes = try WireCodec.encodeChecked(hello)
        #expect(bytes.count <= WireLimits.maxMessageBytes)
        #expect(try WireCodec.decode(bytes) == hello)
        let metrics = (0..<WireLimits.maxMetrics).map { Metric("m" + String($0) + String(repeating: "x", count: 58), Double($0)) }
        let result = Message.result(TaskResult(lease: l, wallSeconds: 1, metrics: metrics))
        #expect(try WireCodec.decode(try WireCodec.encodeChecked(result)) == result)
    }

    @Test func decodeCounterLabelsAreDistinct() {
        let errors: [DecodeError] = [.truncated, .badMagic, .badVersion(0), .unknownType(0), .fieldTooLong(""), .invalid(""),
                                     .trailingBytes, .tooLarge(0), .tooMany(""), .badUTF8(""), .badName(""),
                                     .duplicateName(""), .unsorted(""), .nonFinite("")]
        #expect(Set(errors.map(\.counterLabel)).count == errors.count)
        #expect(errors.allSatisfy { !$0.description.isEmpty })
    }
}
