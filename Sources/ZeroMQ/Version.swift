import CZeroMQ

/// The version of the libzmq linked at run time (the corresponding C function is `zmq_version`).
public enum ZMQVersion {
    /// `major.minor.patch`, e.g. `4.3.4`.
    public static var string: String {
        let v = components
        return "\(v.major).\(v.minor).\(v.patch)"
    }

    /// The three numbers of the version.
    public static var components: (major: Int, minor: Int, patch: Int) {
        var a: Int32 = 0, b: Int32 = 0, c: Int32 = 0
        zmq_version(&a, &b, &c)
        return (Int(a), Int(b), Int(c))
    }

    /// Whether this libzmq was built with CURVE security (libsodium); `zmq_has("curve")`.
    public static var hasCurve: Bool { zmq_has("curve") != 0 }
}
