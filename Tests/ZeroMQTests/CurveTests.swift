import Foundation
import Testing
@testable import ZeroMQ

@Suite struct CurveTests {
    @Test func keysAreZ85AndPublicDerivesFromSecret() throws {
        let pair = try CurveKeys.generate()
        #expect(pair.publicKey.utf8.count == 40)
        #expect(CurveKeys.isValidZ85Key(pair.publicKey))
        #expect(CurveKeys.isValidZ85Key(pair.secretKey))
        #expect(try CurveKeys.publicKey(fromSecret: pair.secretKey) == pair.publicKey)
        let raw = try #require(CurveKeys.decodeZ85(pair.publicKey))
        #expect(raw.count == 32)
        #expect(CurveKeys.encodeZ85(raw) == pair.publicKey)
        #expect(!CurveKeys.isValidZ85Key(String(pair.publicKey.dropLast())))
        #expect(!CurveKeys.isValidZ85Key(String(pair.publicKey.dropLast()) + "\""))
        #expect(!CurveKeys.isValidZ85Key(String(pair.publicKey.dropLast()) + "é"))
        #expect(!CurveKeys.isValidZ85Key(""))
        #expect(throws: ZMQError.self) { _ = try CurveKeys.publicKey(fromSecret: "nope") }
    }

    /// The reason ZAPAuthenticator exists: a CURVE server without a ZAP handler admits anyone
    /// who knows its public key.
    @Test func curveServerWithoutZAPAdmitsAnyKey() throws {
        let context = try ZMQContext()
        let server = try CurveKeys.generate()
        let (router, endpoint) = try boundRouter(context, options: [.curveServer(secretKey: server.secretKey)])
        let stranger = try CurveKeys.generate()
        let client = try ZMQSocket(context, .dealer)
        try client.set(.curveClient(serverPublicKey: server.publicKey, publicKey: stranger.publicKey, secretKey: stranger.secretKey))
        try client.connect(endpoint)
        try client.send([bytes("hi")])
        #expect(try receive(router)?.last == bytes("hi"))
    }

    @Test func zapAdmitsListedKeyAndRefusesOthers() throws {
        let context = try ZMQContext()
        let server = try CurveKeys.generate()
        let listed = try CurveKeys.generate()
        let unlisted = try CurveKeys.generate()
        let zap = try ZAPAuthenticator(context: context, allowedPublicKeys: [listed.publicKey])
        defer { zap.stop() }
        let (router, endpoint) = try boundRouter(
            context, options: [.curveServer(secretKey: server.secretKey), .handshakeInterval(milliseconds: 2000)])

        let intruder = try ZMQSocket(context, .dealer)
        try intruder.set(.curveClient(serverPublicKey: server.publicKey, publicKey: unlisted.publicKey, secretKey: unlisted.secretKey))
        try intruder.set(.reconnectInterval(milliseconds: 5000))
        try intruder.connect(endpoint)
        try intruder.send([bytes("let me in")], dontWait: true)

        let plain = try ZMQSocket(context, .dealer)  // NULL mechanism against a CURVE server
        try plain.connect(endpoint)
        try plain.send([bytes("plain")], dontWait: true)

        let member = try ZMQSocket(context, .dealer)
        try member.set(.curveClient(serverPublicKey: server.publicKey, publicKey: listed.publicKey, secretKey: listed.secretKey))
        try member.set(.routingID(bytes("member")))
        try member.connect(endpoint)
        try member.send([bytes("hello")])

        let got = try #require(try receive(router))
        #expect(got == [bytes("member"), bytes("hello")])
        // Only the member's message ever arrives.
        #expect(try receive(router, timeoutMilliseconds: 300) == nil)
        #expect(zap.admitted == 1)
        let deadline = ContinuousClock.now + .seconds(2)
        while zap.denied < 1 && ContinuousClock.now < deadline { usleep(5000) }
        #expect(zap.denied >= 1)

        // The member can also be answered.
        try router.send([bytes("member"), bytes("welcome")])
        #expect(try receive(member) == [bytes("welcome")])
    }

    @Test func zapRejectsInvalidKeysAndSecondHandler() throws {
        let context = try ZMQContext()
        #expect(throws: ZMQError.self) { _ = try ZAPAuthenticator(context: context, allowedPublicKeys: ["not a key"]) }
        let first = try ZAPAuthenticator(context: context, allowedPublicKeys: [String]())
        let second = #expect(throws: ZMQError.self) { _ = try ZAPAuthenticator(context: context, allowedPublicKeys: [String]()) }
        #expect(second?.code == EADDRINUSE)
        first.stop()
        first.stop()
        // The endpoint is free again once stopped.
        let again = try ZAPAuthenticator(context: context, allowedPublicKeys: [String]())
        again.stop()
    }

    @Test func zapAdmitsNullClientsOnlyWhenAllowed() throws {
        for allowNull in [false, true] {
            let context = try ZMQContext()
            let zap = try ZAPAuthenticator(context: context, allowedPublicKeys: [String](), allowNull: allowNull)
            defer { zap.stop() }
            // libzmq asks ZAP about NULL clients only for sockets with a ZAP domain.
            let (router, endpoint) = try boundRouter(context, options: [.zapDomain("grainsweep")])
            let client = try ZMQSocket(context, .dealer)
            try client.connect(endpoint)
            try client.send([bytes("plain")])
            let got = try receive(router, timeoutMilliseconds: allowNull ? 2000 : 300)
            #expect((got != nil) == allowNull)
            #expect(zap.admitted == (allowNull ? 1 : 0))
        }
    }

    @Test func zapStopsWhenContextShutsDown() throws {
        let context = try ZMQContext()
        let zap = try ZAPAuthenticator(context: context, allowedPublicKeys: [String]())
        context.shutdown()
        zap.stop()  // must not hang
    }

    @Test func keyFilesRoundTripWithModes() throws {
        let dir = try temporaryDirectory() + "/keys"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = try CurveKeyFiles.writeKeyPair(name: "worker-a", directory: dir)
        let b = try CurveKeyFiles.writeKeyPair(name: "worker_b.2", directory: dir)

        var st = stat()
        #expect(stat(dir + "/worker-a.key", &st) == 0)
        #expect(st.st_mode & 0o777 == 0o600)
        #expect(stat(dir + "/worker-a.pub", &st) == 0)
        #expect(st.st_mode & 0o777 == 0o644)
        #expect(stat(dir, &st) == 0)
        #expect(st.st_mode & 0o777 == 0o700)

        #expect(try CurveKeyFiles.readSecretKey(path: dir + "/worker-a.key") == a.secretKey)
        #expect(try CurveKeyFiles.readPublicKey(path: dir + "/worker-a.pub") == a.publicKey)
        #expect(try CurveKeys.publicKey(fromSecret: a.secretKey) == a.publicKey)
        // Only .pub files count as authorised keys.
        #expect(try CurveKeyFiles.readAuthorizedKeys(directory: dir) == ["worker-a": a.publicKey, "worker_b.2": b.publicKey])

        // No silent overwrite; explicit overwrite keeps 0600.
        #expect(throws: CurveKeyFileError.self) { try CurveKeyFiles.writeKeyPair(name: "worker-a", directory: dir) }
        #expect(chmod(dir + "/worker-a.key", 0o644) == 0)
        #expect(throws: CurveKeyFileError.self) { _ = try CurveKeyFiles.readSecretKey(path: dir + "/worker-a.key") }
        let c = try CurveKeyFiles.writeKeyPair(name: "worker-a", directory: dir, overwrite: true)
        #expect(stat(dir + "/worker-a.key", &st) == 0)
        #expect(st.st_mode & 0o777 == 0o600)
        #expect(try CurveKeyFiles.readSecretKey(path: dir + "/worker-a.key") == c.secretKey)

        #expect(throws: CurveKeyFileError.self) { try CurveKeyFiles.writeKeyPair(name: "../escape", directory: dir) }
    }

    @Test func keyFileFormat() throws {
        let key = try CurveKeys.generate().publicKey
        #expect(CurveKeyFiles.parseKey("# comment\n\n  \(key)  \r\n# trailing\n") == key)
        #expect(CurveKeyFiles.parseKey(key) == key)
        #expect(CurveKeyFiles.parseKey("") == nil)
        #expect(CurveKeyFiles.parseKey("\(key)\n\(key)\n") == nil)
        #expect(CurveKeyFiles.parseKey("public-key = \"\(key)\"") == nil)
        // '#' is a Z85 character, but no key starts with it (a 5-character group starting with
        // '#' would encode a value of 2^32 or more), so '#' lines cannot hide a key.
        #expect(!CurveKeys.isValidZ85Key("#" + key.dropFirst()))
        for _ in 0..<2000 { #expect(try !CurveKeys.generate().publicKey.hasPrefix("#")) }

        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "garbage\n".write(toFile: dir + "/bad.pub", atomically: true, encoding: .utf8)
        #expect(throws: CurveKeyFileError.self) { _ = try CurveKeyFiles.readAuthorizedKeys(directory: dir) }
        #expect(throws: CurveKeyFileError.self) { _ = try CurveKeyFiles.readAuthorizedKeys(directory: dir + "/missing") }
        #expect(throws: CurveKeyFileError.self) { _ = try CurveKeyFiles.readPublicKey(path: dir + "/missing.pub") }
    }
}
