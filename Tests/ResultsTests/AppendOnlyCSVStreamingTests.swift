import Foundation
import Testing
@testable import Results

@Suite struct AppendOnlyCSVStreamingTests {
    /// Records with quoted commas, escaped quotes, quoted newlines (LF and CRLF), empty fields, a
    /// CRLF line end, a blank line and non-ASCII text.
    static let text = "a,b,c\n1,\"x,y\",z\n2,\"say \"\"hi\"\"\",\"two\nlines\"\n3,,\"crlf\r\ninside\"\r\n4,\"\",last\n5,,\n\n6,é,ü\n"

    func write(_ text: String) throws -> String {
        let path = temporaryDirectory() + "/t.csv"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func records(_ path: String, chunkSize: Int) throws -> [(fields: [String], bytes: String)] {
        var out: [(fields: [String], bytes: String)] = []
        try AppendOnlyCSV.forEachRecord(inFileAt: path, chunkSize: chunkSize) { (fields: [String], bytes: ArraySlice<UInt8>) throws(ResultsError) in
            out.append((fields, String(decoding: bytes, as: UTF8.self)))
        }
        return out
    }

    @Test(arguments: [1, 2, 3, 7, 64, AppendOnlyCSV.defaultChunkSize])
    func recordsMatchTheWholeFileParser(chunkSize: Int) throws {
        let path = try write(Self.text)
        let whole = try AppendOnlyCSV.readRows(path: path)
        let streamed = try records(path, chunkSize: chunkSize)
        #expect(streamed.map(\.fields) == [whole.header] + whole.rows)
        #expect(streamed.map(\.fields)[2] == ["2", "say \"hi\"", "two\nlines"])
        #expect(streamed.map(\.bytes).joined() == Self.text)  // each record's bytes as in the file
        #expect(streamed.map(\.bytes)[3] == "3,,\"crlf\r\ninside\"\r\n")
    }

    @Test(arguments: [1, 4, 64])
    func lastLineWithoutNewlineIsARecord(chunkSize: Int) throws {
        let streamed = try records(try write("a,b\n1,x\n2,y-torn"), chunkSize: chunkSize)
        #expect(streamed.map(\.fields) == [["a", "b"], ["1", "x"], ["2", "y-torn"]])
        let open = try records(try write("a,b\n1,x\n2,\"open quote\nto the end"), chunkSize: chunkSize)
        #expect(open.map(\.fields) == [["a", "b"], ["1", "x"], ["2", "open quote\nto the end"]])
    }

    @Test func aRecordCSVSwiftReadsAsTwoRowsHasNoFields() throws {
        let streamed = try records(try write("a,b\n1,x\r2,y\n3,z\n"), chunkSize: 4)
        #expect(streamed.map(\.fields) == [["a", "b"], [], ["3", "z"]])
        #expect(streamed[1].bytes == "1,x\r2,y\n")
    }

    @Test func emptyFileHasNoRecords() throws {
        #expect(try records(try write(""), chunkSize: 4).isEmpty)
        #expect(throws: ResultsError.self) { try records("/nonexistent/grainsweep/t.csv", chunkSize: 4) }
    }

    @Test func removeRowsCopiesKeptRowsByteForByte() throws {
        let path = try write(Self.text)
        let file = try AppendOnlyCSV(path: path, header: ["a", "b", "c"])
        let removed = try file.removeRows(chunkSize: 5) { $0.first == "2" || $0.first == "4" }
        #expect(removed == 2)
        #expect(contents(path) == "a,b,c\n1,\"x,y\",z\n3,,\"crlf\r\ninside\"\r\n5,,\n\n6,é,ü\n")
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
        file.append(["7", "after", "rewrite"])  // appends go to the new file
        try file.commit()
        #expect(contents(path).hasSuffix("6,é,ü\n7,after,rewrite\n"))
    }

    @Test func removingNothingLeavesTheFileAlone() throws {
        let path = try write("a\n1\n2\n")
        let file = try AppendOnlyCSV(path: path, header: ["a"])
        let before = try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int
        #expect(try file.removeRows(chunkSize: 2) { _ in false } == 0)
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int == before)
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
        #expect(try file.removeRows { _ in true } == 2)
        #expect(contents(path) == "a\n")
    }

    @Test func forEachRowSkipsTheHeaderAndSeesUncommittedRows() throws {
        let path = try write("a,b\n1,x\n")
        let file = try AppendOnlyCSV(path: path, header: ["a", "b"])
        file.append(["2", "y,z"])
        var rows: [[String]] = []
        try file.forEachRow(chunkSize: 3) { (row: [String]) throws(ResultsError) in rows.append(row) }
        #expect(rows == [["1", "x"], ["2", "y,z"]])
    }
}
