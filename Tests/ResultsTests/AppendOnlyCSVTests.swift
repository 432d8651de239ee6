import ExperimentAPI
import Foundation
import Testing
@testable import Results

/// A fresh temporary directory per test.
func temporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "grainsweep-results-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func contents(_ path: String) -> String {
    String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
}

@Suite struct AppendOnlyCSVTests {
    @Test func quotesFieldsThatNeedIt() {
        #expect(String(decoding: CSVField.line(["a", "b,c", "say \"hi\"", " x", "line\nbreak"]), as: UTF8.self)
            == "a,\"b,c\",\"say \"\"hi\"\"\",\" x\",\"line break\"\n")
    }

    @Test func writesHeaderOnceAndAppendsRows() throws {
        let dir = temporaryDirectory()
        let path = dir + "/t.csv"
        do {
            let file = try AppendOnlyCSV(path: path, header: ["a", "b"])
            file.append(["1", "x"])
            try file.commit()
        }
        do {
            let file = try AppendOnlyCSV(path: path, header: ["a", "b"])
            file.append(["2", "y,z"])
            try file.commit()
            #expect(try file.readRows() == [["1", "x"], ["2", "y,z"]])
        }
        #expect(contents(path) == "a,b\n1,x\n2,\"y,z\"\n")
    }

    @Test func cutsATornLastLine() throws {
        let dir = temporaryDirectory()
        let path = dir + "/t.csv"
        try Data("a,b\n1,x\n2,y-torn".utf8).write(to: URL(fileURLWithPath: path))
        let file = try AppendOnlyCSV(path: path, header: ["a", "b"])
        #expect(file.repairedBytes == "2,y-torn".utf8.count)
        file.append(["3", "z"])
        try file.commit()
        #expect(contents(path) == "a,b\n1,x\n3,z\n")
    }

    @Test func rebuildsAFileWithNoCompleteLine() throws {
        let dir = temporaryDirectory()
        let path = dir + "/t.csv"
        try Data("a,".utf8).write(to: URL(fileURLWithPath: path))
        let file = try AppendOnlyCSV(path: path, header: ["a", "b"])
        #expect(file.repairedBytes == 2)
        try file.commit()
        #expect(contents(path) == "a,b\n")
    }

    @Test func refusesAnotherHeader() throws {
        let dir = temporaryDirectory()
        let path = dir + "/t.csv"
        try Data("a,b\n1,2\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: ResultsError.self) { try AppendOnlyCSV(path: path, header: ["a", "c"]) }
        #expect(contents(path) == "a,b\n1,2\n")  // untouched
    }

    @Test func rewriteKeepsOnlyGivenRows() throws {
        let dir = temporaryDirectory()
        let path = dir + "/t.csv"
        let file = try AppendOnlyCSV(path: path, header: ["a"])
        for i in 0..<5 { file.append([String(i)]) }
        try file.rewrite(keeping: [["1"], ["3"]])
        file.append(["9"])
        try file.commit()
        #expect(contents(path) == "a\n1\n3\n9\n")
    }

    @Test func parsesQuotedFieldsAsCSVFieldWritesThem() throws {
        let text = "a,b,c,d,e\n1,\"x,y\",\"say \"\"hi\"\"\",\" z\",\n\"\",2,3,4,5\r\n"
        let table = try AppendOnlyCSV.parseRows(Array(text.utf8), path: "t")
        #expect(table.header == ["a", "b", "c", "d", "e"])
        #expect(table.rows == [["1", "x,y", "say \"hi\"", " z", ""], ["", "2", "3", "4", "5"]])
        #expect(try AppendOnlyCSV.parseRows([UInt8](), path: "t").header.isEmpty)
    }

    @Test func numbersRoundTripBitForBit() {
        for x in [0.1, 1.0 / 3.0, 1e-300, 123456789.125, Double(Float(0.7))] {
            #expect(Double(CSVField.number(x))!.bitPattern == x.bitPattern)
        }
    }
}

@Suite struct ResultsDirectoryTests {
    let layout = CSVLayout(experiment: "sleep", parameterNames: ["sleep_ms", "seed"], resultMetricNames: ["value"], curveMetricNames: ["value"])

    func manifest(base: String = "b1") -> SweepManifest {
        SweepManifest(name: "t", experiment: "sleep", baseDigest: base, grainsweepVersion: "test", createdAt: "now")
    }

    @Test func reopensWithFinishedTasksAndCompactsCurves() throws {
        let dir = temporaryDirectory()
        let a = TaskID(high: 1, low: 2), b = TaskID(high: 3, low: 4)
        var p = ParameterSet()
        p["sleep_ms"] = .real(0)
        p["seed"] = .integer(1)
        do {
            let d = try ResultsDirectory(path: dir, layout: layout, manifest: manifest(), specText: "name: t\n")
            d.recordCurve(taskID: a, attempt: 1, phase: "sleep", epoch: 1, metrics: ["0.5"])  // a lost attempt
            d.recordCurve(taskID: a, attempt: 2, phase: "sleep", epoch: 1, metrics: ["0.5"])
            d.recordCurve(taskID: b, attempt: 1, phase: "sleep", epoch: 1, metrics: ["0.5"])  // never finished
            d.recordResult(taskID: a, parameters: p, metrics: ["0.5"], attempt: 2, host: "h", threads: 1, wallSeconds: 0.25, finishedAt: "t")
            try d.commit()
        }
        let d = try ResultsDirectory(path: dir, layout: layout, manifest: manifest(), specText: "name: t\n")
        #expect(d.finished == [a: 2])
        try d.compactCurves()
        #expect(d.droppedCurveRows == 2)
        #expect(try d.curves.readRows() == [[a.description, "2", "sleep", "1", "0.5"]])
        #expect(contents(dir + "/results.csv").hasSuffix("\(a),sleep,0.0,1,0.5,2,h,1,0.25,t\n"))
        #expect(d.previousManifest?.baseDigest == "b1")
    }

    @Test func refusesAnotherExperiment() throws {
        let dir = temporaryDirectory()
        _ = try ResultsDirectory(path: dir, layout: layout, manifest: manifest(), specText: "")
        var other = manifest()
        other.experiment = "hierarchy"
        #expect(throws: ResultsError.self) { try ResultsDirectory(path: dir, layout: layout, manifest: other, specText: "") }
    }
}
