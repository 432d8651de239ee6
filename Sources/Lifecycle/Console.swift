import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Standard error shared by log lines and one status line (the progress bar), so that they never
/// share a line: a log line first erases the status line, then the status line is drawn again
/// below it.
///
/// Writes go straight to the file descriptor and ignore errors, so that a terminal that hung up
/// (writes fail with EIO) costs nothing but the output. ``redirect(toFile:)`` moves standard
/// output and standard error to a file: what `grainsweep run` does when its terminal goes away.
public final class Console: Sendable {
    /// The process's standard error.
    public static let standardError = Console(descriptor: 2)

    private struct State {
        /// The status line on screen, if any.
        var status: String?
        /// Whether a status line may be drawn (a terminal, and not redirected since).
        var statusAllowed: Bool
        var redirected = false
    }
    private let state: Mutex<State>
    private let descriptor: Int32

    init(descriptor: Int32) {
        self.descriptor = descriptor
        state = Mutex(State(status: nil, statusAllowed: isatty(descriptor) == 1))
    }

    /// Whether a status line can be shown: the descriptor is a terminal and was not redirected.
    public var showsStatusLine: Bool { state.withLock { $0.statusAllowed } }

    /// Writes one line (a newline is added when missing), keeping the status line below it.
    public func writeLine(_ text: String) {
        let line = text.hasSuffix("\n") ? text : text + "\n"
        state.withLock { s in
            if let status = s.status {
                write("\r\u{1B}[K" + line + status)
            } else {
                write(line)
            }
        }
    }

    /// Replaces the status line (no-op when ``showsStatusLine`` is false).
    public func setStatus(_ text: String) {
        state.withLock { s in
            guard s.statusAllowed else { return }
            s.status = text
            write("\r\u{1B}[K" + text)
        }
    }

    /// Draws status lines even when the descriptor is not a terminal (`--progress bar`), unless
    /// it was redirected.
    public func forceStatusLine() {
        state.withLock { s in if !s.redirected { s.statusAllowed = true } }
    }

    /// Leaves the status line on screen as a finished line; the next write starts below it.
    public func endStatus() {
        state.withLock { s in
            guard s.status != nil else { return }
            s.status = nil
            write("\n")
        }
    }

    /// Sends standard output and standard error to `path` (appending, created 0644 if needed)
    /// from now on; no status line is drawn after this.
    /// - Returns: false when the file cannot be opened (nothing changes then).
    @discardableResult
    public func redirect(toFile path: String) -> Bool {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return false }
        state.withLock { s in
            s.status = nil
            s.statusAllowed = false
            s.redirected = true
            _ = dup2(fd, 1)
            _ = dup2(fd, 2)
        }
        close(fd)
        return true
    }

    private func write(_ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if n > 0 {
                offset += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return
            }
        }
    }
}
