#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The open-file limits of this process after ``raiseOpenFileLimit()``.
public struct OpenFileLimit: Sendable, Hashable, CustomStringConvertible {
    /// The soft limit (`rlim_cur`) now in effect: the most descriptors this process may open.
    public var soft: UInt64
    /// The hard limit (`rlim_max`): the most an unprivileged process may raise `soft` to.
    public var hard: UInt64
    /// Whether `soft` was raised by the call (false when it already was at `hard`, or `setrlimit` refused).
    public var raised: Bool

    public init(soft: UInt64, hard: UInt64, raised: Bool) {
        self.soft = soft
        self.hard = hard
        self.raised = raised
    }

    public var description: String {
        "RLIMIT_NOFILE soft \(Self.text(soft)), hard \(Self.text(hard))"
    }

    /// `RLIM_INFINITY` (Glibc's macro, `(rlim_t) -1`, does not import into Swift).
    #if canImport(Darwin)
    static let infinity = UInt64(RLIM_INFINITY)
    #else
    static let infinity = UInt64(rlim_t.max)
    #endif

    private static func text(_ limit: UInt64) -> String {
        limit == infinity ? "unlimited" : "\(limit)"
    }
}

/// Raises the soft limit on open files (`RLIMIT_NOFILE`) to the hard limit and returns both.
///
/// A coordinator holds one TCP connection (one descriptor) per worker, and a process simulating
/// workers two per worker (the connection and the socket's mailbox), while the usual soft limit
/// is 1,024: raising it at startup is what lets one process hold thousands of peers. The hard
/// limit is left alone (raising it needs privileges). Never lowers the limit; with an infinite
/// hard limit (or on Darwin, whose kernel caps the soft limit at `OPEN_MAX`) the soft limit is
/// raised as far as the system accepts.
///
/// The corresponding C functions are `getrlimit` and `setrlimit`.
///
/// - Returns: the limits in effect after the call. If `getrlimit` fails (it cannot for
///   `RLIMIT_NOFILE` in practice), soft and hard are 0 and `raised` is false.
@discardableResult
public func raiseOpenFileLimit() -> OpenFileLimit {
    var limit = rlimit()
    #if os(Linux)
    let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    let resource = RLIMIT_NOFILE
    #endif
    guard getrlimit(resource, &limit) == 0 else { return OpenFileLimit(soft: 0, hard: 0, raised: false) }
    let before = UInt64(limit.rlim_cur)
    if limit.rlim_cur < limit.rlim_max {
        var wanted = limit
        wanted.rlim_cur = limit.rlim_max
        #if canImport(Darwin)
        if wanted.rlim_cur == RLIM_INFINITY || wanted.rlim_cur > rlim_t(OPEN_MAX) { wanted.rlim_cur = rlim_t(OPEN_MAX) }
        #endif
        if setrlimit(resource, &wanted) == 0 { limit = wanted }
    }
    let soft = UInt64(limit.rlim_cur)
    return OpenFileLimit(soft: soft, hard: UInt64(limit.rlim_max), raised: soft > before)
}
