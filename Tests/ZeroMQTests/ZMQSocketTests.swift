import Foundation
import Synchronization
import Testing
@testable import ZeroMQ

@Suite struct ZMQSocketTests {
    @Test func versionIs4() {
        #expect(ZMQVersion.string.hasPrefix("4."))
        #expect(ZMQVersion.hasCurve)
    }

    @Test func routerDealerRoundTripMultipart() throws {
        let context = try ZMQContext()
        let (router, endpoint) = try boundRouter(context)
        #expect(endpoint.hasPrefix("tcp://127.0.0.1:"))
        #expect(!endpoint.hasSuffix(":0"))
        let dealer = try ZMQSocket(context, .dealer)
        try dealer.set(.routingID(bytes("worker-1")))
        try dealer.connect(endpoint)

        #expect(try dealer.send([bytes("hello"), [], [0, 1, 2, 255]]))
        let got = try #require(try receive(router))
        #expect(got == [bytes("worker-1"), bytes("hello"), [], [0, 1, 2, 255]])

        #expect(try router.send([got[0], bytes("welcome"), bytes("x")]))
        let back = try #require(try receive(dealer))
        #expect(back == [bytes("welcome"), bytes("x")])
    }

    @Test func pollTimesOut() throws {
        let context = try ZMQContext()
        let pull = try ZMQSocket(context, .pull)
        try pull.bind("tcp://127.0.0.1:0")
        var items = [pull.pollItem(.readable)]
        let start = ContinuousClock.now
        let ready = try zmqPoll(&items, timeoutMilliseconds: 50)
        let elapsed = ContinuousClock.now - start
        #expect(ready == 0)
        #expect(!items[0].isReadable)
        #expect(elapsed >= .milliseconds(40))
        #expect(elapsed < .seconds(2))
    }

    @Test func pollReportsWritable() throws {
        let context = try ZMQContext()
        let (router, endpoint) = try boundRouter(context)
        let dealer = try ZMQSocket(context, .dealer)
        try dealer.connect(endpoint)
        var items = [dealer.pollItem([.readable, .writable]), router.pollItem(.readable)]
        #expect(try zmqPoll(&items, timeoutMilliseconds: 2000) >= 1)
        #expect(items[0].isWritable)
        #expect(!items[0].isReadable)
    }

    @Test func dontWaitReturnsNilAndFalseOnEAGAIN() throws {
        let context = try ZMQContext()
        let dealer = try ZMQSocket(context, .dealer)
        #expect(try dealer.receive(dontWait: true) == nil)
        // A DEALER with no connection cannot queue: would block.
        #expect(try dealer.send([bytes("x")], dontWait: true) == false)
        #expect(dealer.droppedOversize == 0)
    }

    @Test func routerMandatoryUnknownPeerReturnsFalse() throws {
        let context = try ZMQContext()
        let (router, _) = try boundRouter(context, options: [.routerMandatory(true)])
        #expect(try router.send([bytes("nobody"), bytes("task")]) == false)
        #expect(try router.send([bytes("nobody"), bytes("task")], dontWait: true) == false)
    }

    @Test func routerMandatoryPeerGoneReturnsFalse() throws {
        let context = try ZMQContext()
        let (router, endpoint) = try boundRouter(context, options: [.routerMandatory(true)])
        let dealer = try ZMQSocket(context, .dealer)
        try dealer.set(.routingID(bytes("w1")))
        try dealer.connect(endpoint)
        try dealer.send([bytes("hello")])
        _ = try #require(try receive(router))
        #expect(try router.send([bytes("w1"), bytes("task")]))
        dealer.close()
        // The disconnect reaches the ROUTER asynchronously; then sends fail instead of vanishing.
        let deadline = ContinuousClock.now + .seconds(2)
        var delivered = true
        while delivered && ContinuousClock.now < deadline {
            delivered = try router.send([bytes("w1"), bytes("task")], dontWait: true)
            if delivered { usleep(2000) }
        }
        #expect(!delivered)
    }

    @Test func maxMessageSizeDisconnectsSenderAndReceiverSurvives() throws {
        let context = try ZMQContext()
        let (router, endpoint) = try boundRouter(context, options: [.maxMessageSize(1024)])
        let hostile = try ZMQSocket(context, .dealer)
        try hostile.connect(endpoint)
        try hostile.send([[UInt8](repeating: 7, count: 4096)])
        #expect(try receive(router, timeoutMilliseconds: 200) == nil)

        let honest = try ZMQSocket(context, .dealer)
        try honest.set(.routingID(bytes("honest")))
        try honest.connect(endpoint)
        try honest.send([[UInt8](repeating: 1, count: 1024)])
        let got = try #require(try receive(router))
        #expect(got[0] == bytes("honest"))
        #expect(got[1].count == 1024)
    }

    @Test func framesOverMaxFramesAreDrained() throws {
        let context = try ZMQContext()
        let (router, endpoint) = try boundRouter(context)
        let dealer = try ZMQSocket(context, .dealer)
        try dealer.connect(endpoint)
        try dealer.send((0..<10).map { [UInt8($0)] })
        try dealer.send([bytes("ok")])
        // 1 routing id + 10 frames > 4.
        #expect(try receive(router, maxFrames: 4) == nil)
        #expect(router.droppedOversize == 1)
        let next = try #require(try receive(router, maxFrames: 4))
        #expect(next.count == 2)
        #expect(next[1] == bytes("ok"))
    }

    @Test func closeIsIdempotentAndClosedSocketThrows() throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context, .dealer)
        #expect(socket.isOpen)
        socket.close()
        socket.close()
        #expect(!socket.isOpen)
        let error = #expect(throws: ZMQError.self) { try socket.send([bytes("x")]) }
        #expect(error?.code == ENOTSOCK)
        var items = [socket.pollItem(.readable)]
        #expect(throws: ZMQError.self) { _ = try zmqPoll(&items, timeoutMilliseconds: 0) }
    }

    @Test func contextShutdownWakesBlockedReceive() throws {
        let context = try ZMQContext()
        let outcome = Mutex<ZMQError?>(nil)
        let started = Atomic<Bool>(false)
        let thread = try JoinableThread {
            do {
                let pull = try ZMQSocket(context, .pull)
                try pull.bind("inproc://blocked")
                started.store(true, ordering: .releasing)
                _ = try pull.receive()
            } catch {
                outcome.withLock { $0 = error as? ZMQError }
            }
        }
        while !started.load(ordering: .acquiring) { usleep(1000) }
        usleep(20_000)
        context.shutdown()
        thread.join()
        let error = try #require(outcome.withLock { $0 })
        #expect(error.isContextTerminated)
        #expect(throws: ZMQError.self) { _ = try ZMQSocket(context, .dealer) }
    }

    @Test func badEndpointErrorText() throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context, .router)
        let error = try #require(#expect(throws: ZMQError.self) { try socket.bind("tcp://no-port-here") })
        #expect(error.code == EINVAL)
        #expect(error.operation == "zmq_bind tcp://no-port-here")
        #expect(error.description.contains("zmq_bind tcp://no-port-here failed: Invalid argument"))
        let proto = try #require(#expect(throws: ZMQError.self) { try socket.connect("carrier-pigeon://x") })
        #expect(proto.code == EPROTONOSUPPORT)
        #expect(!proto.message.isEmpty)
    }

    @Test func optionValidation() throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context, .dealer)
        #expect(throws: ZMQError.self) { try socket.set(.linger(milliseconds: Int(Int32.max) + 1)) }
        let bad = #expect(throws: ZMQError.self) { try socket.set(.curveServer(secretKey: "short")) }
        #expect(bad?.code == EINVAL)
        #expect(throws: ZMQError.self) { try socket.send([]) }
        try socket.set(.sendHighWaterMark(1000))
        try socket.set(.receiveHighWaterMark(1000))
        try socket.set(.immediate(true))
        try socket.set(.reconnectInterval(milliseconds: 100))
        try socket.set(.reconnectIntervalMax(milliseconds: 5000))
        try socket.set(.handshakeInterval(milliseconds: 5000))
        try socket.set(.tcpKeepalive(true))
        try socket.set(.zapDomain("grainsweep"))
    }
}
