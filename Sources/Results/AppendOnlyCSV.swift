import CSV
import Foundation

/// Errors of the results directory, each naming the file and what to do.
public struct ResultsError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let message: String
    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }
    public var description: String { "\(path): \(message)" }
}

/// An append-only CSV file with a fixed header, written with group commit.
///
/// Rows are appended to an in-memory buffer by ``append(_:)``; ``commit()`` writes the buffer with
/// one `write(2)` and makes it durable with `fdatasync(2)`. The caller decides when to commit (the
/// coordinator commits at most every few milliseconds, so that thousands of rows a second cost one
/// sync each, and always before it exits). A crash can leave the last line torn; opening the file
/// again cuts it back to the last newline (see ``repairedBytes``) — no field holds a newline, so one
/// line is one row.
public final class AppendOnlyCSV {
    public let path: String
    public let header: [String]
    private var fd: Int32
    private var buffer: [UInt8] = []
    /// Bytes cut from a torn last line when the file was opened.
    public private(set) var repairedBytes = 0
    /// Rows appended since opening (committed or not).
    public private(set) var appendedRows = 0
    /// Bytes waiting for the next commit.
    public var pendingBytes: Int { buffer.count }

    /// Opens or creates the file. A new file gets the header (and the directory entry is synced);
    /// an existing file must have exactly this header.
    /// - Throws: ``ResultsError`` when the file can't be opened or has another header.
    public init(path: String, header: [String]) throws(ResultsError) {
        self.path = path
        self.header = header
        let existed = FileManager.default.fileExists(atPath: path)
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ResultsError(path: path, message: "cannot open: \(String(cString: strerror(errno)))") }
        do {
            if existed { repairedBytes = try Self.repairTail(fd, path) }
            if try Self.size(fd, path) > 0 {
                try checkHeader()
            } else {
                buffer = CSVField.line(header)
                try commit()
                Self.syncDirectory(of: path)
            }
            _ = lseek(fd, 0, SEEK_END)
        } catch {
            close(fd)
            throw error
        }
    }

    deinit {
        try? commit()
        close(fd)
    }

    /// Appends one row (as many fields as the header) to the buffer.
    public func append(_ fields: [String]) {
        precondition(fields.count == header.count, "\(path): row of \(fields.count) fields for \(header.count) columns")
        CSVField.appendLine(fields, to: &buffer)
        appendedRows += 1
    }

    /// Writes the buffered rows and syncs them to disk (group commit). Does nothing when empty.
    public func commit(sync: Bool = true) throws(ResultsError) {
        guard !buffer.isEmpty else { return }
        if let code = Self.writeAll(fd, buffer) {
            throw ResultsError(path: path, message: "write failed: \(String(cString: strerror(code)))")
        }
        buffer.removeAll(keepingCapacity: true)
        if sync, fdatasync(fd) != 0 {
            throw ResultsError(path: path, message: "fdatasync failed: \(String(cString: strerror(errno)))")
        }
    }

    /// Reads every row of the file (header excluded), as committed so far, into memory: for tests
    /// and small files. ``forEachRow(chunkSize:_:)`` and ``removeRows(chunkSize:where:)`` stream.
    public func readRows() throws(ResultsError) -> [[String]] {
        try Self.readRows(path: path).rows
    }

    /// Reads a CSV file: its header and rows (RFC 4180, through CSV.swift).
    ///
    /// The file is read into memory first: CSV.swift's stream reader reports `cannotReadFile` at
    /// the end of a file on Linux (its stream claims bytes available at EOF).
    public static func readRows(path: String) throws(ResultsError) -> (header: [String], rows: [[String]]) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ResultsError(path: path, message: "cannot open for reading")
        }
        return try parseRows(data, path: path)
    }

    /// Parses CSV bytes (header first) as ``readRows(path:)`` does; `path` names them in errors.
    public static func parseRows(_ data: some Collection<UInt8>, path: String) throws(ResultsError) -> (header: [String], rows: [[String]]) {
        guard !data.isEmpty else { return ([], []) }
        do {
            let reader = try CSVReader(string: String(decoding: data, as: UTF8.self), hasHeaderRow: true)
            var rows: [[String]] = []
            while let row = reader.next() { rows.append(row) }
            if let error = reader.error { throw error }
            return (reader.headerRow ?? [], rows)
        } catch {
            throw ResultsError(path: path, message: "unreadable CSV: \(error)")
        }
    }

    /// Replaces the whole file by `rows` (header kept), atomically: a temporary file is written,
    /// synced and renamed over this one. Holds all rows in memory: for small files (failures.csv);
    /// ``removeRows(chunkSize:where:)`` streams.
    public func rewrite(keeping rows: [[String]]) throws(ResultsError) {
        try commit()
        var bytes = CSVField.line(header)
        for row in rows { CSVField.appendLine(row, to: &bytes) }
        try Self.writeAtomically(path: path, bytes)
        try reopen()
    }

    /// Opens the file again (for appending) after it was replaced by another one of the same name.
    func reopen() throws(ResultsError) {
        close(fd)
        fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw ResultsError(path: path, message: "cannot reopen: \(String(cString: strerror(errno)))") }
        _ = lseek(fd, 0, SEEK_END)
    }

    private func checkHeader() throws(ResultsError) {
        var first: [UInt8] = []
        var byte: UInt8 = 0
        _ = lseek(fd, 0, SEEK_SET)
        while read(fd, &byte, 1) == 1, byte != 10 { first.append(byte) }
        let expected = CSVField.line(header).dropLast()
        guard first.elementsEqual(expected) else {
            throw ResultsError(
                path: path,
                message: "its columns belong to another sweep layout (found header \"\(String(decoding: first.prefix(200), as: UTF8.self))\", expected \"\(String(decoding: expected.prefix(200), as: UTF8.self))\"); use a new --out directory")
        }
    }

    private static func size(_ fd: Int32, _ path: String) throws(ResultsError) -> Int {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ResultsError(path: path, message: "stat failed: \(String(cString: strerror(errno)))") }
        return Int(st.st_size)
    }

    private static func truncate(_ fd: Int32, _ path: String, to length: Int) throws(ResultsError) {
        guard ftruncate(fd, off_t(length)) == 0 else {
            throw ResultsError(path: path, message: "ftruncate failed: \(String(cString: strerror(errno)))")
        }
    }

    /// Cuts a torn last line (one not ending in a newline). Returns the bytes removed.
    private static func repairTail(_ fd: Int32, _ path: String) throws(ResultsError) -> Int {
        let length = try size(fd, path)
        var chunk = [UInt8](repeating: 0, count: 4096)
        var end = length
        // Find the last newline, reading backwards.
        while end > 0 {
            let start = max(0, end - chunk.count)
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, end - start, off_t(start)) }
            guard n == end - start else { throw ResultsError(path: path, message: "read failed while checking the last line") }
            if let i = chunk[0..<n].lastIndex(of: 10) {
                let keep = start + i + 1
                if keep == length { return 0 }
                try truncate(fd, path, to: keep)
                _ = fdatasync(fd)
                return length - keep
            }
            end = start
        }
        // No newline at all: not even the header survived; start afresh.
        try truncate(fd, path, to: 0)
        return length
    }

    /// Writes all of `bytes` to `fd`, retrying short writes and EINTR; the errno on failure.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Int32? {
        bytes.withUnsafeBytes { raw -> Int32? in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += n
            }
            return nil
        }
    }

    /// Replaces the file at `path` by `bytes` atomically (see ``replaceAtomically(path:_:)``).
    static func writeAtomically(path: String, _ bytes: [UInt8]) throws(ResultsError) {
        try replaceAtomically(path: path) { (fd: Int32) throws(ResultsError) -> Bool in
            if let code = writeAll(fd, bytes) {
                throw ResultsError(path: path, message: "cannot write: \(String(cString: strerror(code)))")
            }
            return true
        }
    }

    /// Replaces the file at `path` atomically by what `write` writes to a temporary file beside it
    /// (`path` + `.tmp`): the temporary is synced, renamed over `path`, and the directory synced.
    /// A crash leaves either the old file or the new one, never a mix.
    ///
    /// - Parameter write: writes the new contents to the descriptor it is given; returns `false`
    ///   to leave `path` as it is (the temporary is removed, nothing synced).
    /// - Returns: whether `path` was replaced.
    /// - Throws: ``ResultsError`` when the temporary can't be created, written (what `write`
    ///   throws), synced or renamed; the temporary is removed and `path` left as it was.
    @discardableResult
    static func replaceAtomically(path: String, _ write: (_ fd: Int32) throws(ResultsError) -> Bool) throws(ResultsError) -> Bool {
        let temporary = path + ".tmp"
        let tfd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard tfd >= 0 else { throw ResultsError(path: temporary, message: "cannot create: \(String(cString: strerror(errno)))") }
        let replace: Bool
        do {
            replace = try write(tfd)
        } catch {
            close(tfd)
            unlink(temporary)
            throw error
        }
        guard replace else {
            close(tfd)
            unlink(temporary)
            return false
        }
        let failure = fsync(tfd) == 0 ? nil : errno
        close(tfd)
        guard failure == nil, rename(temporary, path) == 0 else {
            let code = failure ?? errno
            unlink(temporary)
            throw ResultsError(path: path, message: "cannot write: \(String(cString: strerror(code)))")
        }
        syncDirectory(of: path)
        return true
    }

    /// fsyncs the directory holding `path`, so that a newly created or renamed file survives power loss.
    static func syncDirectory(of path: String) {
        let dir = (path as NSString).deletingLastPathComponent
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }
}
