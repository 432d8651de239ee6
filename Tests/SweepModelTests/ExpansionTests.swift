import ExperimentAPI
import SweepModel
import Testing

@Suite struct ExpansionTests {
    @Test func crossProductCountAndOrder() throws {
        let p = try plan("""
            name: t
            experiment: toy
            axes:
              parts: [1, 2]
              mode: [fast, slow]
            seeds: 2
            """)
        #expect(p.count == 8)
        #expect(p.gridCount == 8 && p.excludedCount == 0 && p.mergedCount == 0)
        // Seeds outermost, then axes in the order written, the last fastest.
        #expect(rows(p, ["seed", "parts", "mode"]) == [
            "seed=0 parts=1 mode=fast", "seed=0 parts=1 mode=slow", "seed=0 parts=2 mode=fast", "seed=0 parts=2 mode=slow",
            "seed=1 parts=1 mode=fast", "seed=1 parts=1 mode=slow", "seed=1 parts=2 mode=fast", "seed=1 parts=2 mode=slow",
        ])
        #expect(p.axes.map(\.name) == ["parts", "mode"])
        #expect(p.seeds == [0, 1])
    }

    @Test func tasksAreFullyResolved() throws {
        let p = try plan("name: t\nexperiment: toy\nbase: {rate: 1}\naxes: {parts: [3]}\n")
        let task = p.task(at: 0)
        #expect(task.parameters == ParameterSet([
            "parts": .integer(3), "total": .integer(12), "rate": .real(1.0), "mode": .text("fast"), "seed": .integer(0),
        ]))
        #expect(task.id == TaskID.of(experiment: "toy", parameters: task.parameters))
        #expect(p.parameterNames == ["parts", "total", "rate", "mode", "seed"])
    }

    @Test func fastIdsEqualTaskIDOfEveryTask() throws {
        let p = try plan("""
            name: t
            experiment: toy
            axes:
              rate: {linspace: [0.1, 1], num: 4}
              mode: [slow, fast]
            zip:
              - {parts: [1, 2, 3], total: [3, 6, 9]}
            exclude:
              - {mode: slow, parts: 2}
            seeds: [7, 3]
            """)
        var seen = Set<TaskID>()
        for i in 0..<p.count {
            let task = p.task(at: i)
            #expect(task.id == TaskID.of(experiment: "toy", parameters: task.parameters))
            #expect(p.id(at: i) == task.id)
            seen.insert(task.id)
        }
        #expect(seen.count == p.count)
        #expect(p.count == 2 * 4 * 2 * 3 - 2 * 4)
    }

    @Test func idsSurviveAxisReorderingAndExtension() throws {
        let original = try plan("name: t\nexperiment: toy\naxes:\n  parts: [1, 2]\n  mode: [fast, slow]\nseeds: 2\n")
        let reordered = try plan("name: t\nexperiment: toy\naxes:\n  mode: [slow, fast]\n  parts: [2, 1]\nseeds: [1, 0]\n")
        let extended = try plan("name: t\nexperiment: toy\naxes:\n  parts: [1, 2, 4]\n  mode: [fast, slow]\n  rate: [0.5, 0.25]\nseeds: 3\n")
        let ids = Set(original.tasks.map(\.id))
        #expect(Set(reordered.tasks.map(\.id)) == ids)
        // rate 0.5 is the default: the original tasks are among the extended ones, unchanged.
        #expect(ids.isSubset(of: Set(extended.tasks.map(\.id))))
        #expect(extended.count == 3 * 2 * 2 * 3)
    }

    @Test func integerAndRealSpellingsAreOneTask() throws {
        let a = try plan("name: t\nexperiment: toy\naxes: {rate: [1], parts: [4.0]}\n")
        let b = try plan("name: t\nexperiment: toy\nbase: {rate: 1.0}\n")
        #expect(a.task(at: 0).id == b.task(at: 0).id)
    }

    @Test func duplicatesAreMergedAndCounted() throws {
        let p = try plan("""
            name: t
            experiment: toy
            axes:
              rate: [0.5, 1, 1.0, 0.50]
            zip:
              - {parts: [1, 2, 1], total: [4, 4, 4]}
            seeds: [0, 1, 0]
            """)
        #expect(p.count == 2 * 2 * 2)
        #expect(p.writtenGridCount == 4 * 3 * 3)
        #expect(p.mergedCount == 36 - 8)
        #expect(Set(p.tasks.map(\.id)).count == p.count)
        #expect(p.mergeNotes.contains("axes.rate[2] (1.0) repeats axes.rate[1]"))
        #expect(p.mergeNotes.contains("zip[0].parts[2] (1, 4) repeats zip[0].parts[0]"))
        #expect(p.summary().contains("28 duplicates merged"))
    }

    @Test func zipVariesTogether() throws {
        let p = try plan("""
            name: t
            experiment: toy
            axes: {mode: [fast, slow]}
            zip:
              - parts: [1, 2]
                total: [10, 20]
              - {rate: [0.1, 0.2, 0.3]}
            """)
        #expect(p.count == 2 * 2 * 3)
        #expect(rows(p, ["mode", "parts", "total", "rate"]).prefix(4) == [
            "mode=fast parts=1 total=10 rate=0.1", "mode=fast parts=1 total=10 rate=0.2",
            "mode=fast parts=1 total=10 rate=0.3", "mode=fast parts=2 total=20 rate=0.1",
        ])
        #expect(p.zipGroups.count == 2)
        #expect(p.zipGroups[0].map(\.name) == ["parts", "total"])
    }

    @Test func excludeDropsMatchingCombinations() throws {
        let p = try plan("""
            name: t
            experiment: toy
            axes:
              parts: [1, 2, 3]
              mode: [fast, slow]
            exclude:
              - {parts: 3, mode: slow}
              - {parts: [1, 2], mode: fast, seed: 1}
            seeds: 2
            """)
        #expect(p.gridCount == 12)
        #expect(p.count == 12 - 2 - 2)
        #expect(p.excludedCount == 4)
        let shown = Set(rows(p, ["seed", "parts", "mode"]))
        #expect(!shown.contains("seed=0 parts=3 mode=slow"))
        #expect(!shown.contains("seed=1 parts=2 mode=fast"))
        #expect(shown.contains("seed=0 parts=2 mode=fast"))
    }

    @Test(arguments: [
        ("seeds: 3", [0, 1, 2]),
        ("seeds: [5, 9, 2]", [5, 9, 2]),
        ("seeds: {from: 10, to: 16, step: 3}", [10, 13, 16]),
        ("", [0]),
    ])
    func seedForms(line: String, expected: [Int]) throws {
        let p = try plan("name: t\nexperiment: toy\n\(line)\n")
        #expect(p.seeds == expected)
        #expect(p.tasks.map { $0.parameters.integer("seed") } == expected)
    }

    @Test(arguments: [
        ("{linspace: [0.1, 1], num: 10}", ["0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9", "1.0"]),
        ("{log10: [-2, 0], num: 3}", ["0.01", "0.1", "1.0"]),
        ("{log10: [-1, 0], num: 5}", ["0.1", "0.177827941004", "0.316227766017", "0.56234132519", "1.0"]),
        ("{log2: [-3, 0], num: 4}", ["0.125", "0.25", "0.5", "1.0"]),
    ])
    func realRanges(range: String, expected: [String]) throws {
        let p = try plan("name: t\nexperiment: toy\naxes:\n  rate: \(range)\n")
        #expect(p.axes[0].values.map(\.canonicalText) == expected)
    }

    @Test func rangeValuesEqualTypedDecimals() throws {
        let ranged = try plan("name: t\nexperiment: toy\naxes: {rate: {linspace: [0.1, 0.5], num: 5}}\n")
        let typed = try plan("name: t\nexperiment: toy\naxes: {rate: [0.1, 0.2, 0.3, 0.4, 0.5]}\n")
        #expect(ranged.tasks.map(\.id) == typed.tasks.map(\.id))
    }

    @Test func integerRanges() throws {
        let stepped = try plan("name: t\nexperiment: toy\naxes: {parts: {from: 2, to: 8, step: 3}, total: {from: 120, to: 40, step: -40}}\n")
        #expect(stepped.axes[0].values == [.integer(2), .integer(5), .integer(8)])
        #expect(stepped.axes[1].values == [.integer(120), .integer(80), .integer(40)])
        let powers = try plan("name: t\nexperiment: toy\nbase: {total: 96}\naxes: {parts: {log2: [0, 5], num: 6}}\n")
        #expect(powers.axes[0].values == [1, 2, 4, 8, 16, 32].map { .integer($0) })
        let defaultStep = try plan("name: t\nexperiment: toy\naxes: {parts: {from: 1, to: 3}}\n")
        #expect(defaultStep.axes[0].values.count == 3)
    }

    @Test func underscoresInIntegers() throws {
        let p = try plan("name: t\nexperiment: toy\nseeds: 1_000\n")
        #expect(p.count == 1000)
    }

    @Test func csvHasHeaderAndOneQuotedRowPerTask() throws {
        let p = try plan("name: t\nexperiment: toy\naxes: {mode: [slow, fast]}\nseeds: 2\n")
        let lines = p.csv().split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.first == "task_id,parts,total,rate,mode,seed")
        #expect(lines.count == 1 + 4 + 1)  // header, rows, the empty string after the last newline
        let first = p.task(at: 0)
        #expect(lines[1] == "\(first.id),4,12,0.5,slow,0")
        #expect(csvField("a,b") == "\"a,b\"")
        #expect(csvField("say \"hi\"") == "\"say \"\"hi\"\"\"")
        #expect(csvField("line\nbreak") == "\"line\nbreak\"")
        #expect(csvField("plain") == "plain")
    }

    @Test func csvChunksConcatenateToTheWhole() throws {
        let p = try plan("name: t\nexperiment: sleep\naxes: {epochs: {from: 0, to: 99}}\nseeds: 30\n")
        let lines = p.csv().split(separator: "\n")
        #expect(lines.count == 3001)
        #expect(lines[1] == "\(p.task(at: 0).id),0.0,0,never,0")
        #expect(lines[3000] == "\(p.task(at: 2999).id),0.0,99,never,29")
    }

    /// Large plans are rendered in parallel pieces: the bytes do not depend on the thread count.
    @Test func csvIsTheSameWithAnyThreadCount() throws {
        let p = try plan("name: t\nexperiment: toy\naxes: {rate: {linspace: [0.01, 1], num: 100}, mode: [fast, slow]}\nseeds: 200\n")
        #expect(p.count == 40_000)
        var one: [UInt8] = [], three: [UInt8] = []
        p.writeCSV(threads: 1) { one.append(contentsOf: $0) }
        p.writeCSV(threads: 3) { three.append(contentsOf: $0) }
        #expect(one == three)
        let lines = String(decoding: three, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 40_001)
        for i in [0, 8191, 8192, 20_000, 39_999] {
            let task = p.task(at: i)
            #expect(lines[i + 1].hasPrefix("\(task.id),4,12,\(task.parameters["rate"]!),"))
        }
    }

    @Test func bulkIdsEqualPerTaskIds() throws {
        let p = try plan("name: t\nexperiment: toy\naxes: {rate: {linspace: [0.01, 1], num: 100}}\nexclude: [{rate: 0.5}]\nseeds: 300\n")
        #expect(p.count == 99 * 300)
        let one = p.ids(threads: 1), two = p.ids(threads: 2)
        #expect(one == two)
        #expect(one.count == p.count)
        for i in [0, 1, 14_849, 29_699] { #expect(one[i] == p.task(at: i).id) }
    }

    /// ids() visits tasks in encoding order, not plan order: it must still put each id at its
    /// task's index, with excludes and zip groups, whatever the thread count.
    @Test func bulkIdsInEncodingOrderLandAtPlanIndices() throws {
        let p = try plan("""
            name: t
            experiment: toy
            axes:
              mode: [slow, fast]
              rate: {linspace: [0.02, 1], num: 50}
            zip:
              - {total: [12, 24, 36, 48], parts: [1, 2, 3, 4]}
            exclude:
              - {mode: slow, total: 24}
              - {rate: [0.5, 0.52], seed: [3, 7]}
            seeds: 50
            """)
        #expect(p.gridCount == 2 * 50 * 4 * 50)
        let expected = p.tasks.map(\.id)
        #expect(p.ids(threads: 1) == expected)
        #expect(p.ids(threads: 3) == expected)
        #expect(Set(expected).count == p.count)
    }

    /// Grids of 65,536 or more combinations are expanded in chunks, in parallel; order, excludes
    /// and cross-check counts must not notice.
    @Test func chunkedExpansionKeepsOrderExcludesAndCounts() throws {
        let base = "name: t\nexperiment: toy\naxes: {parts: {from: 1, to: 100}}\nseeds: 1000\n"
        let divisors = [1, 2, 3, 4, 6, 12]
        let others = (1...100).filter { !divisors.contains($0) }.map(String.init).joined(separator: ", ")
        let all = errors(base)
        #expect(all.count == 20 + 1)  // 20 kinds of problem (parts=5, 7, 8, ...) then the count of the rest
        #expect(all.first?.found == "parts=5 rejected by toy in 1,000 tasks: {parts: 5}")
        #expect(all.map(\.found).dropFirst(19).first == "parts=26 rejected by toy in 1,000 tasks: {parts: 26}")
        #expect(all.last?.found == "74,000 more rejected combinations of other kinds")
        let p = try plan(base + "exclude: [{parts: [\(others)]}]\n")
        #expect(p.count == 6 * 1000 && p.excludedCount == 94_000)
        #expect(rows(p, ["seed", "parts"]).prefix(7) == [
            "seed=0 parts=1", "seed=0 parts=2", "seed=0 parts=3", "seed=0 parts=4", "seed=0 parts=6", "seed=0 parts=12", "seed=1 parts=1",
        ])
        #expect(rows(p, ["seed", "parts"]).last == "seed=999 parts=12")
        #expect(p.estimatedSeconds == Double(divisors.reduce(0, +) * 1000))
    }

    @Test func summaryNamesCountsAxesSeedsAndWork() throws {
        let p = try plan("""
            name: t
            experiment: toy
            base: {total: 24}
            axes: {parts: [1, 2, 3]}
            exclude: [{parts: 3, seed: 1}]
            seeds: 2
            """)
        let text = p.summary()
        #expect(text.contains("tasks: 5 = 2 seeds × 3 parts = 6 combinations, 1 excluded, 0 duplicates merged"))
        #expect(text.contains("parts  1, 2, 3"))
        #expect(text.contains("seeds: 0, 1"))
        #expect(text.contains("fixed: total=24 rate=0.5* mode=fast*"))
        #expect(p.estimatedSeconds == 1 + 2 + 3 + 1 + 2)
        #expect(text.contains("estimated work: 9s of one core"))
    }

    @Test func baseDigestFollowsTheFixedParameters() throws {
        let a = try plan("name: a\nexperiment: toy\nbase: {total: 24}\naxes: {parts: [1, 2]}\n")
        let b = try plan("name: b\nexperiment: toy\nbase: {total: 24.0}\naxes: {parts: [1, 2, 3]}\nseeds: 4\n")
        let c = try plan("name: a\nexperiment: toy\nbase: {total: 36}\naxes: {parts: [1, 2]}\n")
        #expect(a.baseDigest == b.baseDigest)
        #expect(a.baseDigest != c.baseDigest)
        #expect(a.baseDigest.count == 64)
    }

    @Test func largeGridsStayLazy() throws {
        let p = try plan("name: big\nexperiment: sleep\naxes: {sleep_ms: {from: 0, to: 999}}\nseeds: 100\n")
        #expect(p.count == 100_000)
        let last = p.task(at: 99_999)
        #expect(last.parameters.integer("seed") == 99 && last.parameters.real("sleep_ms") == 999)
        #expect(p.task(at: 1234).parameters.integer("seed") == 1 && p.task(at: 1234).parameters.real("sleep_ms") == 234)
    }
}
