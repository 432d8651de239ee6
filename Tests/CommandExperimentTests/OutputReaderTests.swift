import ExperimentAPI
import Testing
@testable import CommandExperiment

/// The stdout protocol of the command family, read line by line.
@Suite struct OutputReaderTests {
    func reader() -> OutputReader {
        OutputReader(curveMetrics: ["loss", "acc"], finalMetrics: ["acc"], phases: ["train", "val"], maxEpoch: 100)
    }

    @Test func curveLinesBecomePointsAndResultLinesTheResult() {
        var r = reader()
        let point = r.read(ArraySlice(#"{"epoch": 3, "loss": 0.5, "acc": 0.75}"#.utf8))
        #expect(point == CurvePoint(phase: "train", epoch: 3, metrics: [Metric("loss", 0.5), Metric("acc", 0.75)]))
        let val = r.read(ArraySlice(#"  {"phase": "val", "epoch": 1, "loss": 1}"#.utf8))
        #expect(val?.phase == "val" && val?.metrics[1].value.isNaN == true, "a missing curve metric is NaN")
        #expect(r.read(ArraySlice(#"{"result": {"acc": 0.9, "extra": 1}}"#.utf8)) == nil)
        #expect(r.result?["acc"] == 0.9)
        #expect(r.ignoredLines == 0)
    }

    @Test func everythingElseIsIgnoredAndCounted() {
        var r = reader()
        for line in ["hello", "{not json", #"{"epoch": 0, "loss": 1}"#, #"{"epoch": 101, "loss": 1}"#,
                     #"{"epoch": 1.5, "loss": 1}"#, #"{"epoch": 2, "phase": "test", "loss": 1}"#, "[1, 2]", #"{"other": 1}"#] {
            #expect(r.read(ArraySlice(line.utf8)) == nil, "\(line)")
        }
        #expect(r.read(ArraySlice("   ".utf8)) == nil)
        #expect(r.ignoredLines == 8 && r.result == nil)
    }

    @Test func pythonsNaNAndInfinityAreRead() {
        var r = reader()
        _ = r.read(ArraySlice(#"{"result": {"acc": NaN, "loss": -Infinity}}"#.utf8))
        #expect(r.result?["acc"]?.isNaN == true && r.result?["loss"] == -.infinity)
        _ = r.read(ArraySlice(#"{"result": {"acc": "inf"}}"#.utf8))
        #expect(r.result?["acc"] == .infinity, "the last result line counts")
        _ = r.read(ArraySlice(#"{"result": {"acc": null}}"#.utf8))
        #expect(r.result?["acc"]?.isNaN == true)
    }

    @Test func longLinesAreDroppedWithoutBeingHeld() {
        var splitter = LineSplitter(maximumLineBytes: 10)
        var lines: [String] = []
        let collect: (ArraySlice<UInt8>) -> Void = { lines.append(String(decoding: $0, as: UTF8.self)) }
        splitter.append(ArraySlice("short\nthis line is far too long".utf8), collect)
        splitter.append(ArraySlice(" and goes on\nok\nabc".utf8), collect)
        splitter.append(ArraySlice("def\n".utf8), collect)
        splitter.append(ArraySlice("tail".utf8), collect)
        splitter.finish(collect)
        #expect(lines == ["short", "ok", "abcdef", "tail"])
        #expect(splitter.droppedLines == 1)
    }

    @Test func templatesRenderAndRefuseStrayBraces() throws {
        let rendered = try CommandTemplate.render("--lr={lr} {{x}} {seed}") { ["lr": "0.1", "seed": "3"][$0] ?? "?" }.get()
        #expect(rendered == "--lr=0.1 {x} 3")
        #expect(try CommandTemplate.placeholders(in: "{a}-{b}{{").get() == ["a", "b"])
        for bad in ["{a", "a}", "{}", "x{y{z}}"] {
            #expect((try? CommandTemplate.placeholders(in: bad).get()) == nil, "\(bad)")
        }
    }

    @Test func theDefinitionRoundTripsThroughTaskParameters() throws {
        let definition = CommandDefinition(
            argv: ["python3", "train.py", "--lr", "{lr}", String(repeating: "é", count: 900)],
            env: ["A": "1"], parameters: [.init(name: "lr", kind: .real, minimum: 0, maximum: 1, defaultText: "0.1")],
            finalMetrics: ["acc"])
        let wire = definition.wireParameters()
        #expect(wire.count >= 2 && wire.allSatisfy { if case .text(let t) = $0.value { return t.utf8.count <= 1000 } else { return false } })
        var given = Dictionary(uniqueKeysWithValues: wire.map { ($0.name, $0.value) })
        given["lr"] = .real(0.5)
        let back = CommandDefinition.fromWire(given)
        #expect(back.definition == definition)
        #expect(back.rest == ["lr": .real(0.5)])
        #expect(definition.identity.hasPrefix("command:") && definition.identity != CommandDefinition(
            argv: ["python3", "train.py", "--lr", "{lr}"], parameters: definition.parameters, finalMetrics: ["acc"]).identity)
    }
}
