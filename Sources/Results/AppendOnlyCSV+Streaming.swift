import CSV
import Foundation

extension AppendOnlyCSV {
    /// Bytes read from a file at a time by the streaming readers: their memory is this plus the
    /// longest record, whatever the number of rows.
    public static let defaultChunkSize = 1 << 20

    /// Calls `body` with every row of the file (header excluded), in file order, as committed so
    /// far, holding one chunk of the file at a time (see ``forEachRecord(inFileAt:chunkSize:_:)``).
    ///
    /// - Complexity: O(*n*) time in the file's size; O(`chunkSize` + the longest row) memory.
    public func forEachRow(
        chunkSize: Int = defaultChunkSize, _ body: (_ row: [String]) throws(ResultsError) -> Void
    ) throws(ResultsError) {
        try commit()
        var isHeader = true
        try Self.forEachRecord(inFileAt: path, chunkSize: chunkSize) { (fields: [String], _: ArraySlice<UInt8>) throws(ResultsError) in
            if isHeader {
                isHeader = false
            } else {
                try body(fields)
            }
        }
    }

    /// Removes the rows for which `shouldRemove` is true, streaming: the kept rows are copied byte
    /// for byte, a chunk at a time, to a temporary file that is synced and renamed over this one
    /// (``replaceAtomically(path:_:)``). When no row is removed the file is left untouched.
    ///
    /// A last line without its newline (not possible after opening, which cuts a torn line) is
    /// judged like any row and, if kept, gets its newline.
    ///
    /// - Parameters:
    ///   - chunkSize: bytes read and written at a time.
    ///   - shouldRemove: called once per row (header excluded), in file order.
    /// - Returns: the number of rows removed.
    /// - Complexity: O(*n*) time in the file's size; O(`chunkSize` + the longest row) memory.
    public func removeRows(
        chunkSize: Int = defaultChunkSize, where shouldRemove: (_ row: [String]) -> Bool
    ) throws(ResultsError) -> Int {
        try commit()
        var removed = 0
        let temporary = path + ".tmp"
        let replaced = try Self.replaceAtomically(path: path) { (tfd: Int32) throws(ResultsError) -> Bool in
            var out = CSVField.line(header)
            out.reserveCapacity(chunkSize + out.count)
            func flush() throws(ResultsError) {
                if let code = Self.writeAll(tfd, out) {
                    throw ResultsError(path: temporary, message: "write failed: \(String(cString: strerror(code)))")
                }
                out.removeAll(keepingCapacity: true)
            }
            var isHeader = true
            try Self.forEachRecord(inFileAt: path, chunkSize: chunkSize) { (fields: [String], bytes: ArraySlice<UInt8>) throws(ResultsError) in
                if isHeader {
                    isHeader = false
                    return
                }
                if shouldRemove(fields) {
                    removed += 1
                    return
                }
                out.append(contentsOf: bytes)
                if bytes.last != 10 { out.append(10) }
                if out.count >= chunkSize { try flush() }
            }
            guard removed > 0 else { return false }
            try flush()
            return true
        }
        if replaced { try reopen() }
        return removed
    }

    /// Calls `body` with every record of the CSV file at `path` (header included), in file order,
    /// reading `chunkSize` bytes at a time.
    ///
    /// A record ends at a newline outside quotes (RFC 4180: a quoted field may hold commas, quotes
    /// and newlines); the last record may lack its newline. Each record is parsed as CSV.swift
    /// parses it (``readRows(path:)`` parses a whole file with it); a record it reads as more than
    /// one row (a bare CR outside quotes, which ``CSVField`` never writes) is passed as no fields
    /// (`[]`), so that callers checking the field count skip it.
    ///
    /// - Parameters:
    ///   - path: the file.
    ///   - chunkSize: bytes read at a time; a record longer than that is read whole.
    ///   - body: called with the record's fields and its bytes as they are in the file (newline included).
    /// - Throws: ``ResultsError`` when the file can't be opened or read, and what `body` throws.
    /// - Complexity: O(*n*) time in the file's size; O(`chunkSize` + the longest record) memory.
    public static func forEachRecord(
        inFileAt path: String, chunkSize: Int = defaultChunkSize,
        _ body: (_ fields: [String], _ bytes: ArraySlice<UInt8>) throws(ResultsError) -> Void
    ) throws(ResultsError) {
        precondition(chunkSize > 0, "chunkSize must be positive")
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ResultsError(path: path, message: "cannot open for reading: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: chunkSize)
        var start = 0  // first byte of the record not yet passed to `body`
        var filled = 0  // bytes of `buffer` read from the file
        var inQuotes = false  // at `filled`
        var ends: [Int] = []  // ends of the records completed by the last read
        while true {
            // Keep only the unfinished record, at the front; grow if it fills the buffer.
            if start > 0 {
                buffer.withUnsafeMutableBytes { raw in
                    if filled > start { raw.baseAddress!.copyMemory(from: raw.baseAddress! + start, byteCount: filled - start) }
                }
                filled -= start
                start = 0
            }
            if filled == buffer.count { buffer.append(contentsOf: repeatElement(0, count: buffer.count)) }
            let n = buffer.withUnsafeMutableBytes { raw -> Int in
                while true {
                    let n = read(fd, raw.baseAddress! + filled, raw.count - filled)
                    if n < 0, errno == EINTR { continue }
                    return n
                }
            }
            guard n >= 0 else { throw ResultsError(path: path, message: "read failed: \(String(cString: strerror(errno)))") }
            ends.removeAll(keepingCapacity: true)
            buffer.withUnsafeBufferPointer { bytes in
                for i in filled..<(filled + n) {
                    let byte = bytes[i]
                    if byte == UInt8(ascii: "\"") {
                        inQuotes.toggle()  // an escaped quote ("") toggles twice
                    } else if byte == 10, !inQuotes {
                        ends.append(i + 1)
                    }
                }
            }
            filled += n
            if n == 0, filled > start { ends.append(filled) }  // the last line, without its newline
            for end in ends {
                let record = buffer[start..<end]
                try body(parseRecord(record), record)
                start = end
            }
            if n == 0 { return }
        }
    }

    /// The fields of one record (CSV.swift), or `[]` if it reads as more than one row.
    ///
    /// A record without quotes and CRs (nearly every row grainsweep writes) is split at its commas
    /// directly, which is what CSV.swift makes of it, several times faster.
    private static func parseRecord(_ bytes: ArraySlice<UInt8>) -> [String] {
        if !bytes.contains(where: { $0 == UInt8(ascii: "\"") || $0 == 13 }) {
            let line = bytes.last == 10 ? bytes.dropLast() : bytes
            return line.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        }
        guard let reader = try? CSVReader(string: String(decoding: bytes, as: UTF8.self), hasHeaderRow: false),
            let row = reader.next()
        else { return [] }
        return reader.next() == nil ? row : []
    }
}
