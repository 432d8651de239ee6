import ExperimentAPI
import SweepModel
import Testing

@Suite struct ValidationTests {
    @Test func messageNamesFileLineColumnPathFoundAndExpected() throws {
        let e = try #require(onlyError("""
            name: t
            experiment: toy
            axes:
              rate: [0.1, 0.3, 1.5]
            """))
        #expect(e.code == .outOfDomain)
        #expect((e.file, e.line, e.column, e.path) == ("test.yaml", 4, 20, "axes.rate[2]"))
        #expect(e.found == "1.5")
        #expect(e.expected == "a number in (0, 1]")
        #expect(e.description == "test.yaml:4:20: error: axes.rate[2]: found 1.5, expected a number in (0, 1]")
    }

    @Test func yamlSyntaxErrorsAreLocated() throws {
        let e = try #require(onlyError("name: t\naxes: {parts: [1, 2}\n"))
        #expect(e.code == .syntax)
        #expect(e.line == 2)
        #expect(e.expected == "valid YAML")
    }

    @Test func emptyFileAndNonMappingDocument() throws {
        #expect(onlyError("")?.code == .missing)
        let list = try #require(onlyError("- a\n- b\n"))
        #expect(list.code == .wrongType && list.path == "(document)")
    }

    @Test func timeLimitParsesAndBadOnesAreNamed() throws {
        #expect(try plan("name: t\nexperiment: toy\ntime_limit: 15m\n").timeLimit == .seconds(900))
        #expect(try plan("name: t\nexperiment: toy\ntime_limit: none\n").timeLimit == TimeLimit.none)
        #expect(try plan("name: t\nexperiment: toy\ntime_limit: 90\n").timeLimit == .seconds(90))
        #expect(try plan("name: t\nexperiment: toy\n").timeLimit == nil)
        // Not part of any task's identity.
        #expect(try plan("name: t\nexperiment: toy\ntime_limit: 2h\n").ids() == plan("name: t\nexperiment: toy\n").ids())
        for bad in ["-5s", "soon", "[1]", "0s"] {
            let e = try #require(onlyError("name: t\nexperiment: toy\ntime_limit: \(bad)\n"))
            #expect(e.code == .wrongType && e.path == "time_limit" && e.line == 3, "\(bad): \(e)")
        }
    }

    @Test func unknownTopLevelKeyGetsDidYouMean() throws {
        let e = try #require(onlyError("name: t\nexperiment: toy\naxis: {parts: [1]}\n"))
        #expect(e.code == .unknownKey)
        #expect((e.line, e.column, e.path) == (3, 1, "axis"))
        #expect(e.hint == "did you mean 'axes'?")
        #expect(e.description.hasSuffix("(did you mean 'axes'?)"))
    }

    @Test(arguments: [
        ("base: {prts: 2}", "base.prts"),
        ("axes: {prts: [2]}", "axes.prts"),
        ("zip: [{prts: [2], rate: [0.1]}]", "zip[0].prts"),
    ])
    func unknownParameterGetsDidYouMean(line: String, path: String) throws {
        let e = try #require(onlyError("name: t\nexperiment: toy\n\(line)\n"))
        #expect(e.code == .unknownKey)
        #expect(e.path == path)
        #expect(e.found == "prts")
        #expect(e.expected == "a parameter of toy")
        #expect(e.hint == "did you mean 'parts'?")
    }

    @Test func unknownParameterInExcludeGetsDidYouMean() throws {
        let e = try #require(onlyError("name: t\nexperiment: toy\naxes: {parts: [1, 2]}\nexclude: [{prts: 2}]\n"))
        #expect(e.code == .unknownKey && e.path == "exclude[0].prts" && e.hint == "did you mean 'parts'?")
    }

    @Test func farOffNamesListTheKnownOnes() throws {
        let e = try #require(onlyError("name: t\nexperiment: toy\nbase: {zzzzzzzzzz: 1}\n"))
        #expect(e.hint == "known: parts, total, rate, mode")
    }

    @Test func unknownExperimentGetsDidYouMean() throws {
        let e = try #require(onlyError("name: t\nexperiment: slep\n"))
        #expect(e.path == "experiment" && e.hint == "did you mean 'sleep'?")
        #expect(e.expected.contains("hierarchy") && e.expected.contains("sleep"))
    }

    @Test func duplicateKeys() throws {
        let e = try #require(onlyError("name: t\nexperiment: toy\naxes:\n  parts: [1]\n  parts: [2]\n"))
        #expect(e.code == .duplicateKey && e.path == "axes.parts" && e.line == 5 && e.hint == "first given at line 4")
    }

    @Test func wrongShapes() throws {
        let scalarAxis = try #require(onlyError("name: t\nexperiment: toy\naxes: {parts: 3}\n"))
        #expect(scalarAxis.code == .wrongType && scalarAxis.path == "axes.parts")
        #expect(scalarAxis.hint == "write [3] for one value, or move it to base")
        let listInBase = try #require(onlyError("name: t\nexperiment: toy\nbase: {parts: [1, 2]}\n"))
        #expect(listInBase.code == .wrongType && listInBase.found == "a list of 2 items")
        #expect(listInBase.hint == "to sweep parts, move it to axes")
        let emptyAxis = try #require(onlyError("name: t\nexperiment: toy\naxes: {parts: []}\n"))
        #expect(emptyAxis.code == .wrongType && emptyAxis.found == "an empty list")
        let zipMapping = try #require(onlyError("name: t\nexperiment: toy\nzip: {parts: [1]}\n"))
        #expect(zipMapping.code == .wrongType && zipMapping.path == "zip")
    }

    @Test func valuesOutsideTheirDomain() throws {
        let word = try #require(onlyError("name: t\nexperiment: toy\naxes: {mode: [fast, quick]}\n"))
        #expect(word.path == "axes.mode[1]" && word.found == "quick" && word.expected == "one of fast, slow")
        let fraction = try #require(onlyError("name: t\nexperiment: toy\nbase: {parts: 2.5}\n"))
        #expect(fraction.path == "base.parts" && fraction.expected == "an integer in 1...100")
        let quoted = try #require(onlyError("name: t\nexperiment: toy\naxes: {mode: ['1']}\n"))
        #expect(quoted.found == "\"1\" (quoted text)")
        let null = try #require(onlyError("name: t\nexperiment: toy\nbase: {rate: ~}\n"))
        #expect(null.code == .missing && null.found == "nothing (null)")
    }

    @Test(arguments: ["[.nan]", "[.inf]", "[-.Inf]", "[nan]", "[-inf]", "{linspace: [0.1, .inf], num: 3}"])
    func nanAndInfinitiesAreRejected(values: String) throws {
        let e = try #require(onlyError("name: t\nexperiment: toy\naxes: {rate: \(values)}\n"))
        #expect(e.code == .nonFinite)
        #expect(e.expected == "a finite number (NaN and infinities are not allowed)")
    }

    @Test func parameterSetInTwoPlaces() throws {
        let baseAndAxis = try #require(onlyError("name: t\nexperiment: toy\nbase: {parts: 2}\naxes: {parts: [1, 2]}\n"))
        #expect(baseAndAxis.code == .conflict && baseAndAxis.path == "axes.parts")
        #expect(baseAndAxis.hint == "already set by base.parts at line 3")
        let twoZips = try #require(onlyError("name: t\nexperiment: toy\nzip:\n  - {parts: [1]}\n  - {parts: [2]}\n"))
        #expect(twoZips.code == .conflict && twoZips.path == "zip[1].parts")
        let seed = try #require(onlyError("name: t\nexperiment: toy\naxes: {seed: [1, 2]}\n"))
        #expect(seed.code == .conflict && seed.hint == "replicates are set by the top-level 'seeds'")
    }

    @Test func malformedRanges() throws {
        let noNum = try #require(onlyError("name: t\nexperiment: toy\naxes: {rate: {linspace: [0.1, 1]}}\n"))
        #expect(noNum.code == .badRange && noNum.hint == "add num: n")
        let typo = try #require(onlyError("name: t\nexperiment: toy\naxes: {rate: {linspace: [0.1, 1], nm: 3}}\n"))
        #expect(typo.code == .unknownKey && typo.path == "axes.rate.nm" && typo.hint == "did you mean 'num'?")
        let threeEnds = try #require(onlyError("name: t\nexperiment: toy\naxes: {rate: {log10: [-2, -1, 0], num: 3}}\n"))
        #expect(threeEnds.code == .badRange && threeEnds.path == "axes.rate.log10")
        let unreached = try #require(onlyError("name: t\nexperiment: toy\naxes: {parts: {from: 1, to: 10, step: 4}}\n"))
        #expect(unreached.code == .badRange && unreached.path == "axes.parts.to" && unreached.hint == "use to: 9 or 13")
        let backwards = try #require(onlyError("name: t\nexperiment: toy\naxes: {parts: {from: 5, to: 1, step: 1}}\n"))
        #expect(backwards.code == .badRange && backwards.path == "axes.parts.step")
        let realStep = try #require(onlyError("name: t\nexperiment: toy\naxes: {rate: {from: 0.1, to: 1}}\n"))
        #expect(realStep.path == "axes.rate.from" && realStep.expected == "an integer (use linspace for reals)")
        let mixed = try #require(onlyError("name: t\nexperiment: toy\naxes: {rate: {linspace: [0.1, 1], num: 3, step: 1}}\n"))
        #expect(mixed.code == .badRange && mixed.expected.contains("{from: a, to: b, step: s}"))
    }

    @Test func nonIntegerRangeOnAnIntegerAxis() throws {
        let all = errors("name: t\nexperiment: toy\naxes: {parts: {linspace: [1, 4], num: 4}, total: {linspace: [10, 11], num: 3}}\n")
        #expect(all.count == 1)
        #expect(all.first?.path == "axes.total[1]")
        #expect(all.first?.found == "10.5 (value 1 of the range)")
        #expect(all.first?.hint == "the range gives non-integers; use {from, to, step} or log2 for integer axes")
    }

    @Test func zipListsOfDifferentLengths() throws {
        let e = try #require(onlyError("name: t\nexperiment: toy\nzip:\n  - parts: [1, 2]\n    total: [4, 8, 12]\n"))
        #expect(e.code == .zipLength && e.path == "zip[0].total" && e.line == 5)
        #expect(e.found == "3 values" && e.expected == "2 values, as many as zip[0].parts")
    }

    @Test func excludesThatCannotMatch() throws {
        let fixed = try #require(onlyError("name: t\nexperiment: toy\naxes: {parts: [1, 2]}\nexclude: [{parts: 1, total: 12}]\n"))
        #expect(fixed.code == .badExclude && fixed.path == "exclude[0].total")
        #expect(fixed.hint == "a fixed parameter would make this entry exclude all tasks or none")
        let absent = try #require(onlyError("name: t\nexperiment: toy\naxes: {parts: [1, 2]}\nexclude: [{parts: 3}]\n"))
        #expect(absent.code == .badExclude && absent.found == "parts=3" && absent.expected == "one of the values of axes.parts: 1, 2")
        let never = try #require(onlyError("""
            name: t
            experiment: toy
            zip: [{parts: [1, 2], total: [4, 8]}]
            exclude: [{parts: 1, total: 8}]
            """))
        #expect(never.code == .badExclude && never.path == "exclude[0]" && never.found == "an entry that matches no task")
    }

    @Test(arguments: ["../escape", ".hidden", "a/b", "with space", "ünïcode"])
    func unsafeNamesAreRefused(name: String) throws {
        let e = try #require(onlyError("name: '\(name)'\nexperiment: toy\n"))
        #expect(e.code == .unsafeName && e.path == "name" && e.line == 1)
    }

    @Test func safeNamesAreAccepted() throws {
        #expect(try plan("name: granularity-vs-rarity_v2.1\nexperiment: toy\n").name == "granularity-vs-rarity_v2.1")
    }

    @Test func missingName() throws {
        let e = try #require(onlyError("experiment: toy\n"))
        #expect(e.code == .missing && e.path == "name")
    }

    @Test func badSeeds() throws {
        #expect(onlyError("name: t\nexperiment: toy\nseeds: 0\n")?.code == .outOfDomain)
        let negative = try #require(onlyError("name: t\nexperiment: toy\nseeds: [1, -1]\n"))
        #expect(negative.path == "seeds[1]" && negative.expected == ParameterSpec.seed.expectation)
        #expect(onlyError("name: t\nexperiment: toy\nseeds: {linspace: [0, 1], num: 2}\n")?.code == .badRange)
        #expect(onlyError("name: t\nexperiment: toy\nseeds: many\n")?.code == .wrongType)
    }

    @Test func crossCheckFailuresNameTheCombinations() throws {
        let e = try #require(onlyError("""
            name: t
            experiment: toy
            axes:
              parts: [1, 2, 5, 4]
              mode: [fast, slow]
            seeds: 3
            """, limits: SweepLimits(crossCheckExamples: 1)))
        #expect(e.code == .crossCheck)
        // Located at the value the family named (parts = 5, the third value).
        #expect((e.line, e.column, e.path) == (4, 17, "axes.parts[2]"))
        #expect(e.found == "parts=5 rejected by toy in 6 tasks: {parts: 5, mode: fast}, …")
        #expect(e.expected == "a divisor of total (12)")
        #expect(e.hint == "change the values, or list these combinations under exclude, e.g. '- {parts: 5, mode: fast}'")
    }

    /// Cross-checks and estimates are computed per combination and count once per kept seed.
    @Test func crossCheckCountsAndEstimatesFollowExcludedSeeds() throws {
        let e = try #require(onlyError("name: t\nexperiment: toy\naxes: {parts: [1, 5]}\nexclude: [{parts: 5, seed: 0}]\nseeds: 3\n"))
        #expect(e.found == "parts=5 rejected by toy in 2 tasks: {parts: 5}")
        let p = try plan("name: t\nexperiment: toy\naxes: {parts: [1, 2, 5]}\nexclude: [{parts: 5}, {parts: 2, seed: [0, 2]}]\nseeds: 3\n")
        #expect(p.count == 3 + 1)
        #expect(p.estimatedSeconds == 1 * 3 + 2 * 1)
    }

    @Test func crossCheckFailuresCanBeExcluded() throws {
        let p = try plan("name: t\nexperiment: toy\naxes: {parts: [1, 2, 5, 4]}\nexclude: [{parts: 5}]\n")
        #expect(p.count == 3)
    }

    @Test func allErrorsOfAFileAtOnceInFileOrder() throws {
        let all = errors("""
            name: ../x
            experiment: toy
            bases: {}
            base: {rate: 2}
            axes:
              parts: [0, 1]
              mode: [fast, quick]
            zip: [{total: [1, 2], rate: [0.1]}]
            exclude: [{prts: 1}]
            seeds: -1
            """)
        #expect(all.map(\.path) == ["name", "bases", "base.rate", "axes.parts[0]", "axes.mode[1]", "zip[0].rate", "exclude[0].prts", "seeds"])
        #expect(all.map(\.line) == [1, 3, 4, 6, 7, 8, 9, 10])
        let text = SpecErrors(all).description
        #expect(text.hasSuffix("8 errors in test.yaml"))
    }

    /// A family whose default is outside its own domain is reported, not trapped on.
    @Test func invalidFamilyDefault() throws {
        struct BadDefault: ExperimentFamily {
            var name: String { "bad" }
            var summary: String { "" }
            var parameters: [ParameterSpec] {
                [ParameterSpec(name: "k", domain: .integer(1...3), defaultValue: .integer(9), help: "")]
            }
            var resultMetricNames: [String] { [] }
            var curveMetricNames: [String] { [] }
            func crossCheck(_ p: ParameterSet) -> [ParameterProblem] { _ = p.integer("k"); return [] }
            func estimatedSeconds(_ p: ParameterSet) -> Double { 0 }
            func curveEpochs(_ p: ParameterSet) -> [String: Int] { [:] }
            func run(_ p: ParameterSet, context: TaskContext, onEpoch: (CurvePoint) -> Void) throws -> [Metric] { [] }
        }
        do {
            _ = try SweepLoader.load(text: "name: t\nexperiment: bad\n", path: "b.yaml", families: ["bad": BadDefault()])
            Issue.record("loaded")
        } catch {
            #expect(error.errors.map(\.path) == ["(default of k)"])
            #expect(error.errors.first?.hint == "the family's default is invalid; set k in base")
        }
        #expect(try SweepLoader.load(text: "name: t\nexperiment: bad\nbase: {k: 2}\n", path: "b.yaml", families: ["bad": BadDefault()]).count == 1)
    }

    @Test func unreadableFile() throws {
        do {
            _ = try SweepLoader.load(path: "/nonexistent/sweep.yaml", families: families)
            Issue.record("loaded a missing file")
        } catch {
            #expect(error.errors.count == 1)
            #expect(error.errors[0].code == .unreadable)
            #expect(error.description.hasPrefix("/nonexistent/sweep.yaml: error: (file): found no such file, expected"))
        }
    }

    @Test func aDirectoryIsNamedAsOne() throws {
        do {
            _ = try SweepLoader.load(path: "/tmp", families: families)
            Issue.record("loaded a directory")
        } catch {
            #expect(error.errors.map(\.code) == [.unreadable])
            #expect(error.description.hasPrefix("/tmp: error: (file): found a directory, expected"))
            #expect(!error.description.contains("NSCocoaErrorDomain"))
        }
    }

    @Test func tabIndentationIsExplained() throws {
        let e = try #require(onlyError("name: t\nbase:\n\tparts: 2\n"))
        #expect(e.code == .syntax && e.line == 3)
        #expect(e.found.hasPrefix("a tab character in the indentation"))
        #expect(e.hint == "YAML indents with spaces only: replace the tabs with spaces")
    }

    @Test func badIndentationIsExplained() throws {
        let e = try #require(onlyError("name: t\nbase:\n  parts: 2\n   total: 4\n"))
        #expect(e.code == .syntax && e.line == 4)
        #expect(e.found.hasPrefix("a 'key: value' where none can start"))
        #expect(e.hint?.contains("indentation") == true)
    }

    /// A misspelled key elsewhere does not hide a rejected combination: both are reported.
    @Test func aTypoDoesNotHideACombinationError() throws {
        let all = errors("name: t\nexperiment: toy\nbase: {totl: 12}\naxes:\n  parts: [5]\n")
        #expect(all.map(\.code) == [.unknownKey, .crossCheck])
        #expect(all.first?.path == "base.totl")
    }

    /// A value that does not read stops before the combination checks (its default would be
    /// checked instead of what was written).
    @Test func anUnreadValueSkipsCombinationChecks() throws {
        let all = errors("name: t\nexperiment: toy\nbase: {total: abc}\naxes:\n  parts: [5]\n")
        #expect(all.map(\.code) == [.outOfDomain])
    }
}

/// Family names are snake_case on the wire; a spec may spell them with hyphens.
@Suite struct FamilyNameSpellingTests {
    @Test func aHyphenatedFamilyNameReadsAsItsSnakeCaseName() throws {
        let p = try plan("name: t\nexperiment: linear-teachers\nseeds: 1\n")
        #expect(p.family.name == "linear_teachers")
        #expect(p.ids() == (try plan("name: t\nexperiment: linear_teachers\nseeds: 1\n").ids()))
    }
}
