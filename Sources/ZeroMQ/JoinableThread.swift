#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A POSIX thread that can be joined: Foundation's `Thread` cannot, and a ZeroMQ socket loop must
/// be known to have closed its sockets before its context is terminated.
package struct JoinableThread: Sendable {
    private let id: pthread_t

    /// Starts `body` on a new thread (the corresponding C function is `pthread_create`). `body` is
    /// `sending`, so it may capture the non-Sendable sockets it will own (the caller cannot use
    /// them afterwards).
    package init(_ body: sending @escaping () -> Void) throws(ZMQError) {
        let box = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { arg in
            let body = Unmanaged<ThreadBody>.fromOpaque(arg!).takeRetainedValue()
            body.run()
            return nil
        }, box)
        guard rc == 0 else {
            Unmanaged<ThreadBody>.fromOpaque(box).release()
            throw ZMQError(code: rc, operation: "pthread_create")
        }
        id = tid
    }

    /// Waits for the thread to finish (the corresponding C function is `pthread_join`). Call once.
    package func join() {
        _ = pthread_join(id, nil)
    }
}

/// Carries the thread's closure across `pthread_create`.
private final class ThreadBody: @unchecked Sendable {
    // @unchecked Sendable: the closure arrives `sending` (its captures are in a region no one else
    // holds) and is run exactly once, by the new thread; the creating thread never touches it.
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}
