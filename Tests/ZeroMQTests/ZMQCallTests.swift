import CZeroMQ
import Testing
@testable import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// The choke point's errno handling, with the C call replaced by a closure that fakes errors
/// (as swift-system's FileOperationsTest mocks EINTR).
@Suite struct ZMQCallTests {
    /// Returns -1 with each errno in turn, then `result`.
    final class Fake {
        var errnos: [Int32]
        var calls = 0
        let result: Int32
        init(_ errnos: [Int32], then result: Int32) {
            self.errnos = errnos
            self.result = result
        }
        func call() -> Int32 {
            calls += 1
            if errnos.isEmpty { return result }
            errno = errnos.removeFirst()
            return -1
        }
    }

    @Test func retriesEINTR() throws {
        let fake = Fake([EINTR, EINTR], then: 7)
        #expect(try zmqCall("fake") { fake.call() } == 7)
        #expect(fake.calls == 3)
    }

    @Test func interruptWithoutRetryIsNil() throws {
        let fake = Fake([EINTR], then: 7)
        #expect(try zmqCall("fake", retryOnInterrupt: false) { fake.call() } == nil)
        #expect(fake.calls == 1)
    }

    @Test func eagainIsAValue() throws {
        let fake = Fake([EAGAIN], then: 7)
        #expect(try zmqCall("fake") { fake.call() } == nil)
    }

    @Test func otherErrnosThrowWithText() {
        let fake = Fake([EHOSTUNREACH], then: 7)
        let error = #expect(throws: ZMQError.self) { _ = try zmqCall("zmq_fake x") { fake.call() } }
        #expect(error?.code == EHOSTUNREACH)
        #expect(error?.operation == "zmq_fake x")
        #expect(error?.message == "Host unreachable")  // zmq_strerror's text
        // libzmq's own codes get libzmq's text.
        #expect(ZMQError(code: ETERM, operation: "x").message == "Context was terminated")
    }
}
