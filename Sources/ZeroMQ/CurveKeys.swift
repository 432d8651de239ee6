import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// CURVE (CurveZMQ, RFC 26) key pairs as Z85 text: 40 printable characters per 32-byte key.
///
/// See ``CurveKeyFiles`` for storing them and ``ZAPAuthenticator`` for admitting only known clients.
public enum CurveKeys {
    /// The length of a key in Z85 text.
    public static let z85Length = 40
    /// The length of a key in bytes.
    public static let byteLength = 32

    /// Makes a new key pair (the corresponding C function is `zmq_curve_keypair`).
    ///
    /// - Throws: ``ZMQError`` with `ENOTSUP` when libzmq was built without CURVE (libsodium).
    public static func generate() throws(ZMQError) -> (publicKey: String, secretKey: String) {
        var pub = [CChar](repeating: 0, count: z85Length + 1)
        var sec = [CChar](repeating: 0, count: z85Length + 1)
        _ = try zmqCall("zmq_curve_keypair") { zmq_curve_keypair(&pub, &sec) }
        defer { for i in sec.indices { sec[i] = 0 } }
        return (string(pub), string(sec))
    }

    /// The public key of a secret key (the corresponding C function is `zmq_curve_public`).
    ///
    /// - Throws: ``ZMQError`` with `EINVAL` when `secretKey` is not a Z85 key, `ENOTSUP` without CURVE.
    public static func publicKey(fromSecret secretKey: String) throws(ZMQError) -> String {
        guard isValidZ85Key(secretKey) else {
            throw ZMQError(code: EINVAL, operation: "zmq_curve_public", detail: "not a 40-character Z85 key")
        }
        var pub = [CChar](repeating: 0, count: z85Length + 1)
        _ = try zmqCall("zmq_curve_public") { zmq_curve_public(&pub, secretKey) }
        return string(pub)
    }

    /// Whether `key` is 40 characters of the Z85 alphabet that decode to 32 bytes
    /// (checked with `zmq_z85_decode`).
    public static func isValidZ85Key(_ key: String) -> Bool {
        decodeZ85(key) != nil
    }

    /// The 32 bytes of a Z85 key (the corresponding C function is `zmq_z85_decode`), or `nil`.
    public static func decodeZ85(_ key: String) -> [UInt8]? {
        let utf8 = Array(key.utf8)
        guard utf8.count == z85Length, utf8.allSatisfy({ isZ85Character($0) }) else { return nil }
        var out = [UInt8](repeating: 0, count: byteLength)
        let ok = (utf8 + [0]).withUnsafeBufferPointer { src in
            src.withMemoryRebound(to: CChar.self) { zmq_z85_decode(&out, $0.baseAddress) != nil }
        }
        return ok ? out : nil
    }

    /// The Z85 text of a 32-byte key (the corresponding C function is `zmq_z85_encode`), or `nil`
    /// if `bytes` is not 32 bytes long.
    public static func encodeZ85(_ bytes: [UInt8]) -> String? {
        guard bytes.count == byteLength else { return nil }
        var out = [CChar](repeating: 0, count: z85Length + 1)
        guard zmq_z85_encode(&out, bytes, bytes.count) != nil else { return nil }
        return string(out)
    }

    /// The 85 characters of Z85 (ZeroMQ RFC 32).
    private static let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8)
    private static let z85Table: [Bool] = {
        var t = [Bool](repeating: false, count: 256)
        for c in alphabet { t[Int(c)] = true }
        return t
    }()

    @inline(__always)
    private static func isZ85Character(_ c: UInt8) -> Bool { z85Table[Int(c)] }

    private static func string(_ chars: [CChar]) -> String {
        String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
