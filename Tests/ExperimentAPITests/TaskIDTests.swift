import ExperimentAPI
import Testing

@Suite struct TaskIDTests {
    let parameters = ParameterSet([
        "sleep_ms": .real(1.5), "epochs": .integer(0), "fail": .text("never"), "seed": .integer(3),
    ])

    @Test func canonicalEncodingIsSortedNameValueLines() {
        #expect(TaskID.canonicalEncoding(experiment: "sleep", parameters: parameters)
            == "sleep\nepochs=0\nfail=never\nseed=3\nsleep_ms=1.5\n")
    }

    /// The id is the first 128 bits of SHA-256 of the canonical encoding (reference: Python's hashlib).
    @Test func idIsTruncatedSHA256() {
        let id = TaskID.of(experiment: "sleep", parameters: parameters)
        #expect(id.description == "5c3db86a65b46c8fd71362d6bba59420")
        #expect(TaskID(hex: id.description) == id)
    }

    @Test func idsSeparateSeedsAndExperiments() {
        var other = parameters
        other["seed"] = .integer(4)
        #expect(TaskID.of(experiment: "sleep", parameters: other) != TaskID.of(experiment: "sleep", parameters: parameters))
        #expect(TaskID.of(experiment: "sleepy", parameters: parameters) != TaskID.of(experiment: "sleep", parameters: parameters))
    }

    @Test func hexRoundTripsAndRejectsJunk() {
        let id = TaskID(high: 0x0123_4567_89ab_cdef, low: 0xf)
        #expect(id.description == "0123456789abcdef000000000000000f")
        #expect(TaskID(hex: "0123456789ABCDEF000000000000000F") == id)
        #expect(TaskID(hex: "xyz") == nil)
        #expect(TaskID(hex: String(repeating: "g", count: 32)) == nil)
    }
}
