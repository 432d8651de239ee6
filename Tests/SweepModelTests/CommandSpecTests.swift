import ExperimentAPI
import Experiments
import Foundation
import SweepModel
import Testing

/// Specs with `experiment: command`: the definition is read strictly, and it is part of every
/// task id.
@Suite struct CommandSpecTests {
    static let spec = """
        name: cmd
        experiment: command
        command:
          argv: [python3, train.py, --lr, "{lr}", --opt, "{opt}", --seed, "{seed}"]
          env: {RUN: "r{seed}"}
          code_version: v1
        parameters:
          lr: {kind: real, min: 0, max: 1, default: 0.1}
          depth: {kind: integer, min: 1, max: 8}
          opt: {kind: choice, values: [sgd, adam]}
        metrics:
          final: [loss, acc]
          curve: [loss]
        axes:
          lr: [0.01, 0.1]
          opt: [sgd, adam]
        seeds: 2

        """

    @Test func aCommandSpecPlansWithItsDeclaredParametersAndMetrics() throws {
        let p = try plan(Self.spec)
        #expect(p.count == 8)
        #expect(p.family.name == "command")
        #expect(p.family.parameters.map(\.name) == ["lr", "depth", "opt"])
        #expect(p.family.resultMetricNames == ["loss", "acc"] && p.family.curveMetricNames == ["loss"])
        let task = p.task(at: 0)
        #expect(task.parameters["depth"] == .integer(1), "an integer's default is its minimum when none is given")
        #expect(task.parameters["opt"] == .text("sgd"), "a choice's default is its first value")
        #expect(task.id == TaskID.of(experiment: p.family.identity, parameters: task.parameters))
    }

    @Test func theTemplateAndCodeVersionArePartOfTheIds() throws {
        let ids = try plan(Self.spec).ids()
        for (old, new) in [("code_version: v1", "code_version: v2"), ("train.py, --lr", "train2.py, --lr"),
                           ("RUN: \"r{seed}\"", "RUN: \"s{seed}\"")] {
            let changed = try plan(Self.spec.replacingOccurrences(of: old, with: new)).ids()
            #expect(Set(changed).isDisjoint(with: ids), "changing \(old) must make new tasks")
        }
        #expect(try plan(Self.spec).ids() == ids, "the same spec gives the same ids")
    }

    @Test func hashedFilesArePartOfTheIdsAndMustExist() throws {
        let dir = NSTemporaryDirectory() + "grainsweep-cmdspec-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "print(1)\n".write(toFile: dir + "/train.py", atomically: true, encoding: .utf8)
        let spec = Self.spec.replacingOccurrences(of: "  code_version: v1\n", with: "  workdir: \(dir)\n  hash_files: [train.py]\n")
        let first = try plan(spec)
        #expect(first.family.commandDefinition?.fileDigests.keys.sorted() == ["train.py"])
        try "print(2)\n".write(toFile: dir + "/train.py", atomically: true, encoding: .utf8)
        #expect(Set(try plan(spec).ids()).isDisjoint(with: first.ids()))
        let missing = errors(spec.replacingOccurrences(of: "hash_files: [train.py]", with: "hash_files: [nope.py]"))
        #expect(missing.map(\.code) == [.unreadable] && missing.first?.path == "command.hash_files[0]")
    }

    @Test func everyProblemOfTheDefinitionIsReported() {
        let bad = """
            name: cmd
            experiment: command
            command:
              argv: [python3, train.py, "{lrr}", "{seed"]
              shell: true
            parameters:
              lr: {kind: real, min: 1, max: 0}
              seed: {kind: integer}
              n: {kind: float}
              opt: {kind: choice, values: [a, a], default: b}
              Bad: {kind: real}
            metrics:
              final: [loss, loss, Acc]
            seeds: 1

            """
        let all = errors(bad)
        let paths = all.map(\.path)
        #expect(paths.contains("command.argv[2]") && all.first { $0.path == "command.argv[2]" }?.hint == "did you mean '{lr}'?")
        #expect(paths.contains("command.argv[3]"))
        #expect(paths.contains("command.shell"))
        #expect(paths.contains("parameters.lr.max"))
        #expect(paths.contains("parameters.seed"))
        #expect(paths.contains("parameters.n.kind"))
        #expect(paths.contains("parameters.opt.values") && paths.contains("parameters.opt.default"))
        #expect(paths.contains("parameters.Bad"))
        #expect(paths.filter { $0 == "metrics.final" }.count == 2, "a repeated name and a name that is not snake_case")
    }

    @Test func missingSectionsAndMisplacedOnesAreNamed() {
        let none = errors("name: c\nexperiment: command\nseeds: 1\n")
        #expect(none.map(\.path) == ["command"])
        let noMetrics = errors("name: c\nexperiment: command\ncommand: {argv: [true]}\nseeds: 1\n")
        #expect(noMetrics.map(\.path) == ["metrics"])
        let misplaced = errors("name: c\nexperiment: toy\nmetrics: {final: [a]}\nseeds: 1\n")
        #expect(misplaced.map(\.path) == ["metrics"] && misplaced.first?.expected.contains("experiment: command") == true)
    }
}
