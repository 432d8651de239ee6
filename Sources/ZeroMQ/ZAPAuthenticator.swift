import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A ZeroMQ authentication handler (ZAP, RFC 27) that admits only CURVE clients whose public key
/// is on a list.
///
/// Without a ZAP handler, a CURVE server admits *any* client that knows the server's public key
/// (which is not a secret). With one bound on the server socket's context, libzmq asks it about
/// every new connection and drops those it refuses before a single message passes.
///
/// The authenticator binds a REP socket at `inproc://zeromq.zap.01` on the given context in its
/// initialiser (so create it *before* the server socket binds) and answers requests on its own
/// thread: `200` for a CURVE client whose key is allowed, and for a NULL client only with
/// `allowNull`; `400` for everything else (unknown key, other mechanisms, another ZAP domain when
/// `domain` is set, malformed requests). ``stop()`` (or deinit) wakes the thread through an
/// inproc control socket and joins it; the thread also ends if the context is shut down.
///
/// Note: libzmq consults ZAP for a NULL-mechanism socket only if that socket sets
/// ``ZMQSocketOption/zapDomain(_:)``; `allowNull` matters only for such sockets.
public final class ZAPAuthenticator: Sendable {
    /// The endpoint libzmq sends ZAP requests to (fixed by RFC 27).
    public static let endpoint = "inproc://zeromq.zap.01"

    private let context: ZMQContext
    private let shared: Shared
    private let stopEndpoint: String
    private let thread: Mutex<JoinableThread?>

    /// Binds the ZAP endpoint and starts answering.
    ///
    /// - Parameters:
    ///   - context: the context of the CURVE server socket(s) to protect.
    ///   - allowedPublicKeys: the Z85 public keys of admitted clients.
    ///   - allowNull: admit NULL-mechanism (unencrypted) clients of sockets with a ZAP domain.
    ///   - domain: if set, refuse requests for any other ZAP domain.
    /// - Throws: ``ZMQError``: `EINVAL` for a key that is not Z85, `EADDRINUSE` when the context
    ///   already has a ZAP handler.
    public init(
        context: ZMQContext, allowedPublicKeys: some Sequence<String>, allowNull: Bool = false, domain: String? = nil
    ) throws(ZMQError) {
        self.context = context
        self.shared = Shared(allowNull: allowNull, domain: domain.map { Array($0.utf8) })
        self.stopEndpoint = "inproc://grainsweep.zap-stop.\(ZAPAuthenticator.nextID.add(1, ordering: .relaxed).newValue)"
        self.thread = Mutex(nil)
        try setAllowedPublicKeys(allowedPublicKeys)

        let zap = try ZMQSocket(context, .rep)
        try zap.bind(Self.endpoint)
        let control = try ZMQSocket(context, .pull)
        try control.bind(stopEndpoint)
        let shared = self.shared
        let t = try JoinableThread { Self.serve(zap: zap, control: control, shared: shared) }
        thread.withLock { $0 = t }
    }

    deinit { stop() }

    /// Replaces the set of admitted client keys; applies to connections made from now on.
    /// - Throws: ``ZMQError`` `EINVAL` if a key is not a 40-character Z85 key (nothing changes then).
    public func setAllowedPublicKeys(_ keys: some Sequence<String>) throws(ZMQError) {
        var raw = Set<[UInt8]>()
        for key in keys {
            guard let bytes = CurveKeys.decodeZ85(key) else {
                throw ZMQError(code: EINVAL, operation: "ZAPAuthenticator", detail: "allowed key \"\(key)\" is not a 40-character Z85 key")
            }
            raw.insert(bytes)
        }
        shared.allowed.withLock { $0 = raw }
    }

    /// Connections admitted so far (ZAP status 200).
    public var admitted: Int { shared.admitted.load(ordering: .relaxed) }
    /// Connections refused so far (ZAP status 400).
    public var denied: Int { shared.denied.load(ordering: .relaxed) }

    /// Stops answering and joins the thread; its sockets are closed when this returns. Idempotent.
    ///
    /// Stop only after closing the server sockets it protects: libzmq 4.3 treats a context without
    /// a ZAP handler as "no authentication", so a CURVE server that outlives its authenticator
    /// admits any client that knows its public key again.
    public func stop() {
        guard let t = thread.withLock({ (t: inout JoinableThread?) -> JoinableThread? in
            let current = t
            t = nil
            return current
        }) else { return }
        shared.stopping.store(true, ordering: .releasing)
        // Wake the thread at once; if this fails (context shut down), the thread sees ETERM or
        // the flag within one poll timeout.
        if let push = try? ZMQSocket(context, .push, lingerMilliseconds: 100) {
            if (try? push.connect(stopEndpoint)) != nil {
                _ = try? push.send([[]], dontWait: true)
            }
            push.close()
        }
        t.join()
    }

    // MARK: The thread

    /// State shared by the owner and the ZAP thread.
    private final class Shared: Sendable {
        let allowNull: Bool
        let domain: [UInt8]?
        let allowed = Mutex(Set<[UInt8]>())
        let admitted = Atomic<Int>(0)
        let denied = Atomic<Int>(0)
        let stopping = Atomic<Bool>(false)
        init(allowNull: Bool, domain: [UInt8]?) {
            self.allowNull = allowNull
            self.domain = domain
        }
    }

    private static let nextID = Atomic<Int>(0)
    /// Safety net for the control socket: how often the thread checks the stop flag.
    private static let pollMilliseconds = 250

    private static func serve(zap: ZMQSocket, control: ZMQSocket, shared: Shared) {
        var items = [zap.pollItem(.readable), control.pollItem(.readable)]
        while !shared.stopping.load(ordering: .acquiring) {
            do {
                _ = try zmqPoll(&items, timeoutMilliseconds: pollMilliseconds)
                if items[1].isReadable { break }
                if items[0].isReadable { try answer(zap, shared) }
            } catch {
                break  // ETERM: the context is shutting down
            }
        }
        // zmq_close releases an inproc endpoint later, on libzmq's reaper thread; an explicit
        // unbind releases it now, so a new authenticator can bind as soon as stop() returns.
        try? zap.unbind(endpoint)
        zap.close()
        control.close()
    }

    private static let version = Array("1.0".utf8)

    /// Reads one ZAP request and replies (RFC 27): a REP socket must answer every request it reads.
    private static func answer(_ zap: ZMQSocket, _ shared: Shared) throws(ZMQError) {
        let dropped = zap.droppedOversize
        guard let request = try zap.receive(dontWait: true, maxFrames: 16) else {
            if zap.droppedOversize != dropped {
                shared.denied.add(1, ordering: .relaxed)
                try reply(zap, requestID: [], status: "400", text: "malformed request", userID: "")
            }
            return
        }
        let requestID = request.count > 1 ? request[1] : []
        // version, request id, domain, address, routing id, mechanism, credentials...
        guard request.count >= 6, request[0] == version else {
            shared.denied.add(1, ordering: .relaxed)
            try reply(zap, requestID: requestID, status: "400", text: "malformed request", userID: "")
            return
        }
        if let domain = shared.domain, request[2] != domain {
            shared.denied.add(1, ordering: .relaxed)
            try reply(zap, requestID: requestID, status: "400", text: "wrong ZAP domain", userID: "")
            return
        }
        let mechanism = String(decoding: request[5], as: UTF8.self)
        switch mechanism {
        case "CURVE":
            if request.count == 7, request[6].count == CurveKeys.byteLength,
               shared.allowed.withLock({ $0.contains(request[6]) }) {
                shared.admitted.add(1, ordering: .relaxed)
                try reply(zap, requestID: requestID, status: "200", text: "OK",
                          userID: CurveKeys.encodeZ85(request[6]) ?? "")
            } else {
                shared.denied.add(1, ordering: .relaxed)
                try reply(zap, requestID: requestID, status: "400", text: "client key not authorised", userID: "")
            }
        case "NULL" where shared.allowNull:
            shared.admitted.add(1, ordering: .relaxed)
            try reply(zap, requestID: requestID, status: "200", text: "OK", userID: "")
        default:
            shared.denied.add(1, ordering: .relaxed)
            try reply(zap, requestID: requestID, status: "400", text: "mechanism \(mechanism) not allowed", userID: "")
        }
    }

    private static func reply(_ zap: ZMQSocket, requestID: [UInt8], status: String, text: String, userID: String) throws(ZMQError) {
        // version, request id, status code, status text, user id, metadata (empty)
        try zap.send([version, requestID, Array(status.utf8), Array(text.utf8), Array(userID.utf8), []])
    }
}
