import CSpawn
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A program started in its own process group, its stdout and stderr on pipes this process
/// reads. The group is what gets signalled, so whatever the program starts in turn (a shell
/// pipeline, data-loader processes) stops with it; and the program gets SIGKILL if the thread
/// that started it ends (a killed worker leaves nothing running).
final class ChildProcess {
    /// Why a program could not be started.
    struct StartError: Error, CustomStringConvertible {
        let description: String
    }

    let pid: pid_t
    let stdoutFD: Int32
    let stderrFD: Int32
    private(set) var exitStatus: Int32?

    /// Starts `argv` (argv[0] looked up in PATH when it has no '/') in `directory`.
    init(argv: [String], environment: [String: String], directory: String?) throws(StartError) {
        precondition(!argv.isEmpty, "argv is validated non-empty")
        var out: [Int32] = [0, 0]
        var err: [Int32] = [0, 0]
        guard cspawn_pipe_cloexec(&out) == 0 else { throw StartError(description: "pipe: \(String(cString: strerror(errno)))") }
        guard cspawn_pipe_cloexec(&err) == 0 else {
            close(out[0]); close(out[1])
            throw StartError(description: "pipe: \(String(cString: strerror(errno)))")
        }
        let env = environment.map { "\($0.key)=\($0.value)" }.sorted()
        let result: pid_t = withCStrings(argv) { argvPointer in
            withCStrings(env) { envPointer in
                if let directory {
                    return directory.withCString { cspawn_process_group(argv[0], argvPointer, envPointer, $0, out[1], err[1]) }
                }
                return cspawn_process_group(argv[0], argvPointer, envPointer, nil, out[1], err[1])
            }
        }
        close(out[1])
        close(err[1])
        guard result > 0 else {
            close(out[0])
            close(err[0])
            let code = -result
            let errnoValue = code & 0xFFFF
            let reason = String(cString: strerror(errnoValue))
            switch code >> 16 {
            case Int32(CSPAWN_STAGE_CHDIR): throw StartError(description: "cannot enter the working directory \(directory ?? "."): \(reason)")
            case Int32(CSPAWN_STAGE_EXEC): throw StartError(description: "cannot run \(argv[0]): \(reason)")
            default: throw StartError(description: "cannot start \(argv[0]): \(reason)")
            }
        }
        pid = result
        stdoutFD = out[0]
        stderrFD = err[0]
    }

    deinit {
        close(stdoutFD)
        close(stderrFD)
        if exitStatus == nil {
            kill(-pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
    }

    /// Sends `signal` to the whole process group.
    func signalGroup(_ signal: Int32) { kill(-pid, signal) }

    /// Reaps the program if it has exited; returns whether it has.
    func poll() -> Bool {
        if exitStatus != nil { return true }
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid {
            exitStatus = status
            return true
        }
        return false
    }

    /// SIGTERM to the group, then SIGKILL after `grace` seconds if the program is still running;
    /// waits for it. Whatever is left of the group afterwards gets SIGKILL too.
    func terminate(grace: Double) {
        signalGroup(SIGTERM)
        let deadline = monotonicNow() + grace
        while !poll() && monotonicNow() < deadline { usleep(10_000) }
        signalGroup(SIGKILL)
        while !poll() { usleep(5_000) }
    }

    /// The exit status in words: "exit status 3", "killed by signal 9 (SIGKILL)".
    var exitDescription: String {
        guard let status = exitStatus else { return "still running" }
        if status & 0x7F == 0 { return "exit status \((status >> 8) & 0xFF)" }
        let signal = status & 0x7F
        return "killed by signal \(signal)" + (signal == SIGKILL ? " (SIGKILL)" : signal == SIGSEGV ? " (SIGSEGV)" : signal == SIGTERM ? " (SIGTERM)" : "")
    }

    /// Whether it exited normally with status 0.
    var succeeded: Bool { exitStatus.map { $0 & 0x7F == 0 && ($0 >> 8) & 0xFF == 0 } ?? false }
}

func monotonicNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Calls `body` with a NULL-terminated array of C strings (valid during the call).
private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for p in pointers { free(p) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
