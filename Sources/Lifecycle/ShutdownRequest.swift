import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Counts requests to stop (SIGINT/SIGTERM or a caller), shared between the thread that receives
/// them and the loop that acts on them. The first request asks for a graceful stop, the second for
/// an immediate (still consistent) one.
public final class ShutdownRequest: Sendable {
    private let count = Atomic<Int>(0)
    private let signalNumber = Atomic<Int32>(0)
    /// Signal sources live as long as the process (they are installed once, by main).
    /// `nonisolated(unsafe)`: written only by `installSignalHandlers`, under `installLock`.
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []
    private static let installLock = Mutex<Void>(())

    public init() {}

    /// Requests so far.
    public var requests: Int { count.load(ordering: .acquiring) }

    /// Adds one request (as a signal would).
    public func request() { count.add(1, ordering: .releasing) }

    /// The signal behind the first request, if a signal made it (for the exit status 128+N).
    public var firstSignal: Int32? {
        let n = signalNumber.load(ordering: .acquiring)
        return n == 0 ? nil : n
    }

    /// Routes SIGINT and SIGTERM (or `signals`) to this object: each delivery is one request.
    /// The default action of those signals is disabled for the whole process.
    public func installSignalHandlers(_ signals: [Int32] = [SIGINT, SIGTERM], onSignal: (@Sendable (Int32) -> Void)? = nil) {
        let queue = DispatchQueue(label: "grainsweep.signals")
        var installed: [any DispatchSourceSignal] = []
        for number in signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { [self] in
                _ = signalNumber.compareExchange(expected: 0, desired: number, ordering: .acquiringAndReleasing)
                request()
                onSignal?(number)
            }
            source.resume()
            installed.append(source)
        }
        Self.installLock.withLock { _ in Self.sources.append(contentsOf: installed) }
    }
}

/// Runs `handler` (on a private queue) each time the process receives `signal`, whose default
/// action is disabled. For signals that ask for something other than a stop (SIGHUP: reload).
public func onSignal(_ signal: Int32, _ handler: @escaping @Sendable () -> Void) {
    let request = ShutdownRequest()
    request.installSignalHandlers([signal]) { _ in handler() }
}
