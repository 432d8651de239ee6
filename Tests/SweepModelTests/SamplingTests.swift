import BitStableMath
import ExperimentAPI
import Experiments
import Foundation
@testable import SweepModel
import Testing

/// `sample:` specs: drawing, growing, validation, and the sampled dimension in the grid.
@Suite struct SamplingTests {
    /// A toy spec with a sample over rate (real) and total (integer) and mode (a list).
    static func toy(n: Int, method: String = "random", seed: Int = 0, extra: String = "") -> String {
        """
        name: t
        experiment: toy
        base: {parts: 1}
        sample:
          n: \(n)
          method: \(method)
          seed: \(seed)
          space:
            rate: {loguniform: [0.001, 1]}
            total: {int: [1, 1000]}
            mode: [fast, slow]
        \(extra)
        """
    }

    // MARK: - Drawing

    @Test(arguments: ["random", "sobol", "lhs"])
    func drawingIsDeterministicAndKeyedByTheSeed(method: String) throws {
        let a = try plan(Self.toy(n: 40, method: method))
        let b = try plan(Self.toy(n: 40, method: method))
        #expect(a.ids() == b.ids())
        #expect(a.sample?.points == b.sample?.points)
        let other = try plan(Self.toy(n: 40, method: method, seed: 1))
        #expect(Set(other.ids()).isDisjoint(with: a.ids()))
        #expect(a.count == 40)
    }

    @Test(arguments: ["random", "sobol"])
    func aGrownSampleKeepsItsFirstPoints(method: String) throws {
        let small = try plan(Self.toy(n: 50, method: method))
        let grown = try plan(Self.toy(n: 80, method: method))
        #expect(small.count == 50 && grown.count == 80)
        // The sample comes right after the seeds, so with one seed the first 50 tasks are the old ones.
        #expect(Array(grown.ids().prefix(50)) == small.ids())
        #expect(Array(grown.sample!.points.prefix(50)) == small.sample!.points)
        // Crossed with axes and seeds, every old task is still in the grown plan.
        func crossed(_ n: Int) throws -> SweepPlan {
            try plan("""
                name: t
                experiment: toy
                axes: {parts: [1, 2]}
                sample: {n: \(n), method: \(method), space: {rate: {uniform: [0.1, 1]}, mode: [fast, slow]}}
                seeds: 2
                """)
        }
        let crossedSmall = try crossed(50), crossedGrown = try crossed(80)
        #expect(Set(crossedSmall.ids()).isSubset(of: crossedGrown.ids()))
        #expect(crossedGrown.count - crossedSmall.count == 30 * 2 * 2)
    }

    @Test func lhsDoesNotKeepItsPointsAndPlanSaysSo() throws {
        let small = try plan(Self.toy(n: 50, method: "lhs"))
        let grown = try plan(Self.toy(n: 80, method: "lhs"))
        #expect(Set(small.ids()).isDisjoint(with: grown.ids()))
        #expect(!SweepSample.Method.lhs.keepsPointsWhenGrown)
        #expect(small.summary().contains("does not grow: lhs strata depend on n"))
        #expect(try plan(Self.toy(n: 50, method: "sobol")).summary().contains("grows: a larger n with the same seed and space keeps these points"))
    }

    @Test(arguments: [1, 7, 100, 1000])
    func lhsHasOnePointPerStratumInEveryDimension(n: Int) {
        let points = SweepSample.unitCoordinates(method: .lhs, seed: 3, count: n, dimensions: 5)
        for j in 0..<5 {
            let strata = points.map { Int(($0[j] * Double(n)).rounded(.down)) }
            #expect(strata.sorted() == Array(0..<n), "dimension \(j)")
        }
    }

    @Test func sobolPointsAreBalancedInBlocksOfPowersOfTwo() {
        // A digital shift keeps the net property: every 2^m consecutive points from 0, in each
        // dimension, put one point into each interval [k/2^m, (k+1)/2^m).
        let points = SweepSample.unitCoordinates(method: .sobol, seed: 11, count: 256, dimensions: 64)
        for m in [1, 4, 8] {
            let block = 1 << m
            for j in 0..<64 {
                let cells = points.prefix(block).map { Int(($0[j] * Double(block)).rounded(.down)) }
                #expect(cells.sorted() == Array(0..<block), "m \(m), dimension \(j)")
            }
        }
        // Two-dimensional projection of dimensions 0 and 1: 16 points, one in each 4 × 4 cell.
        let cells = points.prefix(16).map { Int($0[0] * 4) * 4 + Int($0[1] * 4) }
        #expect(Set(cells).count == 16)
    }

    @Test func randomCoordinatesLookUniformAndIndependent() {
        let n = 20_000
        let points = SweepSample.unitCoordinates(method: .random, seed: 5, count: n, dimensions: 3)
        for j in 0..<3 {
            let column = points.map { $0[j] }
            #expect(column.allSatisfy { $0 >= 0 && $0 < 1 })
            let mean = column.reduce(0, +) / Double(n)
            #expect(abs(mean - 0.5) < 0.01)  // standard error 0.002
            var histogram = [Int](repeating: 0, count: 10)
            for u in column { histogram[Int(u * 10)] += 1 }
            #expect(histogram.allSatisfy { abs($0 - n / 10) < 200 })  // standard deviation 42
        }
        let correlation = points.reduce(0.0) { $0 + ($1[0] - 0.5) * ($1[1] - 0.5) } / Double(n) * 12
        #expect(abs(correlation) < 0.03)
        // Point i does not depend on how many points are drawn.
        #expect(SweepSample.unitCoordinates(method: .random, seed: 5, count: 10, dimensions: 3) == Array(points.prefix(10)))
    }

    // Reference points of the unscrambled sequence, computed once with SciPy 1.17.1:
    //     from scipy.stats import qmc
    //     s = qmc.Sobol(d=D, scramble=False, bits=30); s.fast_forward(I); s.random(K) * 2**30
    // (exact integers: each coordinate is a multiple of 2^-30). SciPy's direction numbers are
    // new-joe-kuo-6.21201, the table SobolDirections holds.
    static let sobolFirst16In8Dimensions: [[UInt64]] = [
        [0, 0, 0, 0, 0, 0, 0, 0],
        [536870912, 536870912, 536870912, 536870912, 536870912, 536870912, 536870912, 536870912],
        [805306368, 268435456, 268435456, 268435456, 805306368, 805306368, 268435456, 805306368],
        [268435456, 805306368, 805306368, 805306368, 268435456, 268435456, 805306368, 268435456],
        [402653184, 402653184, 671088640, 939524096, 402653184, 134217728, 402653184, 939524096],
        [939524096, 939524096, 134217728, 402653184, 939524096, 671088640, 939524096, 402653184],
        [671088640, 134217728, 939524096, 671088640, 671088640, 939524096, 134217728, 134217728],
        [134217728, 671088640, 402653184, 134217728, 134217728, 402653184, 671088640, 671088640],
        [201326592, 335544320, 1006632960, 469762048, 603979776, 335544320, 469762048, 1006632960],
        [738197504, 872415232, 469762048, 1006632960, 67108864, 872415232, 1006632960, 469762048],
        [1006632960, 67108864, 738197504, 201326592, 335544320, 603979776, 201326592, 201326592],
        [469762048, 603979776, 201326592, 738197504, 872415232, 67108864, 738197504, 738197504],
        [335544320, 201326592, 335544320, 603979776, 1006632960, 469762048, 67108864, 67108864],
        [872415232, 738197504, 872415232, 67108864, 469762048, 1006632960, 603979776, 603979776],
        [603979776, 469762048, 67108864, 872415232, 201326592, 738197504, 335544320, 872415232],
        [67108864, 1006632960, 603979776, 335544320, 738197504, 201326592, 872415232, 335544320],
    ]

    /// Single points of the 64-dimensional sequence (index, coordinates * 2^30).
    static let sobolFarPointsIn64Dimensions: [(index: UInt64, point: [UInt64])] = [
        (100, [444596224, 276824064, 830472192, 780140544, 947912704, 796917760, 25165824, 511705088, 679477248, 746586112, 494927872, 729808896, 511705088, 914358272, 343932928, 528482304, 729808896, 796917760, 897581056, 360710144, 813694976, 427819008, 8388608, 528482304, 25165824, 8388608, 1015021568, 713031680, 260046848, 780140544, 763363328, 444596224, 276824064, 276824064, 394264576, 713031680, 1048576000, 511705088, 964689920, 142606336, 763363328, 713031680, 444596224, 528482304, 276824064, 645922816, 293601280, 763363328, 780140544, 713031680, 947912704, 864026624, 75497472, 897581056, 411041792, 830472192, 92274688, 293601280, 444596224, 176160768, 528482304, 25165824, 494927872, 696254464]),
        (1000, [235929600, 103809024, 556793856, 726663168, 300941312, 974127104, 49283072, 965738496, 537919488, 74448896, 91226112, 273678336, 173015040, 412090368, 154140672, 397410304, 772800512, 370147328, 1064304640, 779091968, 560988160, 590348288, 1020264448, 579862528, 625999872, 974127104, 42991616, 1051721728, 63963136, 365953024, 158334976, 156237824, 317718528, 636485632, 860880896, 827326464, 911212544, 892338176, 330301440, 514850816, 980418560, 273678336, 1030750208, 753926144, 902823936, 99614720, 936378368, 986710016, 1072693248, 514850816, 378535936, 554696704, 808452096, 470810624, 135266304, 957349888, 487587840, 84934656, 948961280, 613416960, 479199232, 646971392, 277872640, 479199232]),
        (12345, [688193536, 873398272, 172163072, 565641216, 954007552, 63242240, 136642560, 121700352, 860946432, 461307904, 79757312, 642973696, 999620608, 1011286016, 37027840, 688062464, 67174400, 54722560, 342949888, 368771072, 213975040, 87228416, 651755520, 926351360, 473890816, 317521920, 393019392, 517537792, 94175232, 434307072, 308084736, 710868992, 539688960, 710082560, 204275712, 977731584, 2818048, 346095616, 1030684672, 1018101760, 231407616, 859504640, 818348032, 614662144, 310181888, 512294912, 1054277632, 257490944, 712048640, 658046976, 828309504, 486866944, 9502720, 661192704, 930021376, 591724544, 479002624, 1044316160, 496304128, 1041170432, 116064256, 673906688, 1041432576, 499974144]),
        (1048583, [134219264, 905977344, 863903232, 1029123584, 560741888, 551566848, 445104640, 763160064, 24561152, 418504192, 538791424, 429901312, 730760704, 420039168, 27061760, 191310336, 312642048, 981703168, 912628224, 480309760, 1049277952, 826470912, 1046318592, 614062592, 133573120, 763379200, 276913664, 539323904, 222011904, 44817920, 926573056, 931575296, 47826432, 887879168, 392329728, 339373568, 677434880, 620364288, 811106816, 503429632, 661355008, 20739584, 302865920, 557892096, 420209152, 626970112, 734124544, 499571200, 734067200, 80656896, 697611776, 784210432, 924322304, 185075200, 99092992, 665716224, 286133760, 485099008, 445877760, 533827072, 859341312, 62293504, 726306304, 366772736]),
    ]

    @Test func sobolMatchesSciPyReferencePoints() {
        let sobol = SobolSequence(dimensions: SobolSequence.maximumDimensions)
        // Indices below 2^30 use direction numbers v_1..v_30, which occupy the top 30 bits only.
        for (i, expected) in Self.sobolFirst16In8Dimensions.enumerated() {
            let got = (0..<8).map { sobol.point(UInt64(i), dimension: $0) }
            #expect(got.map { $0 >> 34 } == expected, "point \(i)")
            #expect(got.allSatisfy { $0 & (1 << 34 - 1) == 0 })
        }
        for (index, expected) in Self.sobolFarPointsIn64Dimensions {
            let got = (0..<64).map { sobol.point(index, dimension: $0) >> 34 }
            #expect(got == expected, "point \(index)")
        }
    }

    @Test func pinnedPointsKeepExistingSweepsIds() throws {
        // The generators, the mapping and the portable log/exp decide every sampled task's id: a
        // change here would make a resumed sampled sweep rerun everything. These are the first
        // points of the toy spec as drawn when sampling was introduced.
        let random = try plan(Self.toy(n: 3, method: "random")).sample!.points.map { $0.map(\.canonicalText) }
        let sobol = try plan(Self.toy(n: 3, method: "sobol")).sample!.points.map { $0.map(\.canonicalText) }
        #expect(random == Self.pinnedRandom)
        #expect(sobol == Self.pinnedSobol)
    }

    static let pinnedRandom = [
        ["0.1935147966699432", "716", "slow"], ["0.03968888372381676", "996", "fast"], ["0.001753772220191109", "654", "slow"],
    ]
    static let pinnedSobol = [
        ["0.0036609823242909354", "311", "slow"], ["0.11577042618376533", "811", "fast"], ["0.6510249487803008", "61", "slow"],
    ]

    // MARK: - Mapping

    @Test func unitCoordinatesMapOntoTheDistributions() {
        let below1 = 1 - 0x1p-53
        #expect(SweepSample.Distribution.uniform(lower: 2, upper: 6).value(at: 0) == .real(2))
        #expect(SweepSample.Distribution.uniform(lower: 2, upper: 6).value(at: 0.25) == .real(3))
        #expect(SweepSample.Distribution.uniform(lower: 2, upper: 6).value(at: below1) == .real(6 - 4 * 0x1p-53))
        #expect(SweepSample.Distribution.integer(lower: 4, upper: 64).value(at: 0) == .integer(4))
        #expect(SweepSample.Distribution.integer(lower: 4, upper: 64).value(at: below1) == .integer(64))
        #expect(SweepSample.Distribution.integer(lower: 4, upper: 64).value(at: 0.5) == .integer(34))  // 4 + floor(30.5)
        #expect(SweepSample.Distribution.integer(lower: Int.min, upper: Int.max).value(at: 0.5) == .integer(0))
        let words = SweepSample.Distribution.choice([.text("a"), .text("b"), .text("c")])
        #expect([0, 0.33, 0.34, 0.66, 0.67, below1].map { words.value(at: $0) } == [.text("a"), .text("a"), .text("b"), .text("b"), .text("c"), .text("c")])
        // Log-uniform: the portable exp/log agree with libm, and the values stay in [lo, hi].
        let log = SweepSample.Distribution.logUniform(lower: 1e-4, upper: 1)
        #expect(log.value(at: 0) == .real(1e-4))
        #expect(log.value(at: below1).numericValue! <= 1)
        for u in stride(from: 0.0, to: 1.0, by: 0.001) {
            let x = log.value(at: u).numericValue!
            let reference = Foundation.exp(Foundation.log(1e-4) + u * (Foundation.log(1.0) - Foundation.log(1e-4)))
            // An ULP of the exponent (about 9.2) is 2e-15 of the result, in both computations.
            #expect(abs(x - reference) <= 1e-14 * reference, "u \(u)")
        }
        let wide = SweepSample.Distribution.logUniform(lower: 1e-300, upper: 1e300)
        for u in stride(from: 0.0, to: 1.0, by: 0.01) {
            let x = wide.value(at: u).numericValue!
            let reference = Foundation.exp(Foundation.log(1e-300) + u * (Foundation.log(1e300) - Foundation.log(1e-300)))
            #expect(abs(x - reference) <= 1e-12 * reference, "u \(u)")  // the exponent's own rounding dominates
        }
    }

    @Test func portableLogAndExpAgreeWithLibm() {
        var x = 1e-300
        while x < 1e300 {
            let log = BitStableMath.log(x)
            #expect(abs(log - Foundation.log(x)) <= 2 * Foundation.log(x).ulp, "log \(x)")
            x *= 1.37
        }
        for y in stride(from: -700.0, through: 700.0, by: 0.173) {
            #expect(abs(BitStableMath.exp(y) - Foundation.exp(y)) <= 2 * Foundation.exp(y).ulp, "exp \(y)")
        }
        #expect(BitStableMath.exp(0) == 1 && BitStableMath.log(1) == 0)
        #expect(BitStableMath.exp(-740) > 0 && BitStableMath.exp(-740) < Double.leastNormalMagnitude)  // subnormal
        #expect(abs(BitStableMath.exp(-740) - Foundation.exp(-740)) <= Foundation.exp(-740).ulp)
        #expect(BitStableMath.exp(710) == .infinity && BitStableMath.exp(-746) == 0)
    }

    @Test func realsAreWrittenAtFullPrecision() throws {
        let p = try plan(Self.toy(n: 20))
        for point in p.sample!.points {
            guard case .real(let x) = point[0] else { Issue.record("rate is not a real"); continue }
            #expect(Double(point[0].canonicalText) == x)
            #expect((1e-3...1).contains(x))
            guard case .integer(let total) = point[1] else { Issue.record("total is not an integer"); continue }
            #expect((1...1000).contains(total))
        }
    }

    // MARK: - In the grid

    @Test func theSampleIsOneDimensionCrossedWithSeedsAndAxes() throws {
        let p = try plan("""
            name: t
            experiment: toy
            axes: {parts: [1, 2]}
            sample:
              n: 3
              method: sobol
              space: {rate: {uniform: [0.5, 1]}, mode: [fast, slow]}
            seeds: 2
            """)
        #expect(p.count == 2 * 3 * 2)
        let points = p.sample!.points
        // Seeds outermost, then the points, then the axes.
        var expected: [String] = []
        for seed in 0..<2 {
            for point in points {
                for parts in [1, 2] {
                    expected.append("seed=\(seed) rate=\(point[0].canonicalText) mode=\(point[1].canonicalText) parts=\(parts)")
                }
            }
        }
        #expect(rows(p, ["seed", "rate", "mode", "parts"]) == expected)
        for i in 0..<p.count {
            let task = p.task(at: i)
            #expect(task.id == TaskID.of(experiment: "toy", parameters: task.parameters))
            #expect(p.id(at: i) == task.id)
        }
        #expect(Set(p.ids()).count == p.count)
        #expect(p.axes.map(\.name) == ["parts"] && p.zipGroups.isEmpty)
    }

    @Test func excludesMayNameSampledParameters() throws {
        let p = try plan("""
            name: t
            experiment: toy
            axes: {parts: [1, 2]}
            sample:
              n: 8
              method: sobol
              space: {rate: {uniform: [0.5, 1]}, mode: [fast, slow]}
            exclude:
              - {mode: slow, parts: 2}
            """)
        let slow = p.sample!.points.filter { $0[1] == .text("slow") }.count
        #expect(slow > 0 && slow < 8)
        #expect(p.excludedCount == slow)
        #expect(p.tasks.allSatisfy { !($0.parameters["mode"] == .text("slow") && $0.parameters["parts"] == .integer(2)) })
        // A value the sample never drew cannot be excluded.
        let e = try #require(onlyError("""
            name: t
            experiment: toy
            sample:
              n: 4
              space: {rate: {uniform: [0.5, 1]}, total: {int: [1, 1000]}}
            exclude:
              - {total: 1000}
            """))
        #expect(e.path == "exclude[0].total" && e.code == .badExclude, "\(e)")
    }

    @Test func repeatedPointsAreMergedAndNoted() throws {
        let p = try plan("""
            name: t
            experiment: toy
            sample:
              n: 10
              space: {mode: [fast, slow]}
            """)
        #expect(p.count == 2 && p.mergedCount == 8 && p.writtenGridCount == 10)
        #expect(p.sample!.points.count == 2 && p.sample!.count == 10)
        #expect(p.mergeNotes.count == 8)
        #expect(p.mergeNotes.allSatisfy { $0.hasPrefix("sample[") && $0.contains(" repeats sample[") })
        #expect(p.summary().contains("sample: random, n 10, seed 0 (8 repeated points merged)"))
    }

    @Test func rejectedCombinationsPointAtTheSampleEntry() throws {
        // toy rejects a parts that does not divide total (12): one error per value (5, 7, 8...).
        let all = errors("""
            name: t
            experiment: toy
            sample:
              n: 20
              method: sobol
              space:
                parts: {int: [1, 12]}
            """)
        #expect(!all.isEmpty)
        for e in all {
            #expect(e.code == .crossCheck)
            #expect(e.path.hasPrefix("sample[") && e.line == 7 && e.column == 5, "\(e)")
        }
    }

    @Test func planShowsTheSampleAndCSVListsEveryTask() throws {
        let p = try plan(Self.toy(n: 5, method: "sobol", extra: "seeds: 2\n"))
        let summary = p.summary()
        #expect(summary.contains("tasks: 10 = 2 seeds × 5 sampled points (rate, total, mode) = 10 combinations"))
        #expect(summary.contains("order: seeds outermost, then the sampled points, then axes"))
        #expect(summary.contains("sample: sobol, n 5, seed 0"))
        #expect(summary.contains("note: sobol points are balanced in blocks of powers of 2; n 5 is not one (4 or 8 is)"))
        #expect(summary.contains("  rate   loguniform [0.001, 1.0]"))
        #expect(summary.contains("  total  int [1, 1000]"))
        #expect(summary.contains("  mode   one of fast, slow"))
        #expect(summary.contains("  points (rate, total, mode): (" + p.sample!.points[0].map(\.canonicalText).joined(separator: ", ") + ")"))
        // The sampled parameters are not listed as fixed.
        let fixed = summary.split(separator: "\n").first { $0.hasPrefix("fixed:") }!
        #expect(fixed.contains("parts=1") && !fixed.contains("rate=") && !fixed.contains("mode="))

        let lines = p.csv().split(separator: "\n").map(String.init)
        #expect(lines[0] == "task_id,parts,total,rate,mode,seed")
        #expect(lines.count == 11)
        for (i, line) in lines.dropFirst().enumerated() {
            let task = p.task(at: i)
            let fields = ["parts", "total", "rate", "mode", "seed"].map { task.parameters[$0]!.canonicalText }
            #expect(line == task.id.description + "," + fields.joined(separator: ","))
        }
    }

    @Test func hierarchyThroughTheCatalog() throws {
        let p = try SweepLoader.load(text: """
            name: h
            experiment: hierarchy
            axes: {granularity: [1, 8]}
            sample:
              n: 16
              method: sobol
              seed: 2
              space:
                learning_rate: {loguniform: [1.0e-4, 1.0]}
                noise: {uniform: [0, 1]}
                width: {int: [4, 64]}
                alignment: [aligned, misaligned]
            """, path: "h.yaml", families: ExperimentCatalog.byName)
        #expect(p.count == 32)
        for task in p.tasks {
            #expect(task.id == TaskID.of(experiment: "hierarchy", parameters: task.parameters))
            #expect((1e-4...1).contains(task.parameters.real("learning_rate")))
            #expect((0...1).contains(task.parameters.real("noise")))
            #expect((4...64).contains(task.parameters.integer("width")))
            #expect((try? HierarchyExperiment().resolve(task.parameters.values).get()) == task.parameters)
        }
    }

    // MARK: - Validation

    @Test func everyProblemIsReportedAtOnceWithItsPlace() throws {
        let all = errors("""
            name: t
            experiment: toy
            base: {mode: fast}
            sample:
              n: 0
              method: sobel
              seed: 1.5
              space:
                rate: {uniform: [0, 2]}
                totl: {int: [1, 10]}
                mode: [fast, slow]
                parts: {uniform: [1, 10]}
            """)
        let byPath = Dictionary(all.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(all.count == 8, "\(all)")
        #expect(byPath["sample.n"]?.code == .outOfDomain && byPath["sample.n"]?.line == 5)
        #expect(byPath["sample.method"]?.hint == "did you mean 'sobol'?")
        #expect(byPath["sample.seed"]?.code == .wrongType && byPath["sample.seed"]?.line == 7)
        #expect(byPath["sample.space.rate.uniform[0]"]?.code == .outOfDomain)
        #expect(byPath["sample.space.rate.uniform[1]"]?.expected == "a number in (0, 1]")
        #expect(byPath["sample.space.totl"]?.hint == "did you mean 'total'?")
        #expect(byPath["sample.space.mode"]?.code == .conflict)
        #expect(byPath["sample.space.mode"]?.hint == "already set by base.mode at line 3")
        #expect(byPath["sample.space.parts.uniform"]?.expected == "int or a list of values for an integer parameter")
        #expect(all.map(\.line) == all.map(\.line).sorted())
    }

    @Test(arguments: [
        // (the sample section, path, code, part of expected or hint)
        ("sample: 5", "sample", SpecError.Code.wrongType, "a mapping {n, method, seed, space}"),
        ("sample: {n: 5, spce: {rate: [0.5]}, space: {rate: [0.5]}}", "sample.spce", .unknownKey, "did you mean 'space'?"),
        ("sample: {space: {rate: [0.5]}}", "sample.n", .missing, "the number of points to draw"),
        ("sample: {n: ten, space: {rate: [0.5]}}", "sample.n", .wrongType, "a number of points in 1...10,000,000"),
        ("sample: {n: -3, space: {rate: [0.5]}}", "sample.n", .outOfDomain, "a number of points in 1...10,000,000"),
        ("sample: {n: 20000000, space: {rate: [0.5]}}", "sample.n", .gridSize, "plan --max-tasks"),
        ("sample: {n: 5, method: grid, space: {rate: [0.5]}}", "sample.method", .unknownKey, "random, sobol, lhs"),
        ("sample: {n: 5, seed: -1, space: {rate: [0.5]}}", "sample.seed", .outOfDomain, "an integer >= 0"),
        ("sample: {n: 5, seed: x, space: {rate: [0.5]}}", "sample.seed", .wrongType, "an integer >= 0"),
        ("sample: {n: 5}", "sample.space", .missing, "the parameters to sample"),
        ("sample: {n: 5, space: {}}", "sample.space", .wrongType, "a mapping of parameter: distribution"),
        ("sample: {n: 5, space: [rate]}", "sample.space", .wrongType, "a mapping of parameter: distribution"),
        ("sample: {n: 5, space: {seed: [1, 2]}}", "sample.space.seed", .conflict, "replicates are set by the top-level 'seeds'"),
        ("sample: {n: 5, space: {rate: 0.5}}", "sample.space.rate", .wrongType, "to fix rate at 0.5, move it to base"),
        ("sample: {n: 5, space: {rate: []}}", "sample.space.rate", .wrongType, "at least one value"),
        ("sample: {n: 5, space: {rate: [0.5, 1.5]}}", "sample.space.rate[1]", .outOfDomain, "a number in (0, 1]"),
        ("sample: {n: 5, space: {rate: [0.5, 0.50]}}", "sample.space.rate[1]", .conflict, "drawn twice as often"),
        ("sample: {n: 5, space: {rate: {normal: [0, 1]}}}", "sample.space.rate.normal", .unknownKey, "a distribution (uniform, loguniform, int)"),
        ("sample: {n: 5, space: {rate: {unifrom: [0.1, 1]}}}", "sample.space.rate.unifrom", .unknownKey, "did you mean 'uniform'?"),
        ("sample: {n: 5, space: {rate: {linspace: [0.1, 1], num: 3}}}", "sample.space.rate", .badRange, "exactly one of"),
        ("sample: {n: 5, space: {rate: {log10: [0.1, 1]}}}", "sample.space.rate.log10", .unknownKey, "ranges of values are written under axes"),
        ("sample: {n: 5, space: {rate: {uniform: [0.1]}}}", "sample.space.rate.uniform", .badRange, "a list of two values [lo, hi]"),
        ("sample: {n: 5, space: {rate: {uniform: 0.1}}}", "sample.space.rate.uniform", .badRange, "a list of two values [lo, hi]"),
        ("sample: {n: 5, space: {rate: {uniform: [0.8, 0.2]}}}", "sample.space.rate.uniform", .badRange, "swap the ends"),
        ("sample: {n: 5, space: {rate: {uniform: [0.5, 0.5]}}}", "sample.space.rate.uniform", .badRange, "move it to base"),
        ("sample: {n: 5, space: {rate: {uniform: [a, 1]}}}", "sample.space.rate.uniform[0]", .outOfDomain, "a number in (0, 1]"),
        ("sample: {n: 5, space: {rate: {uniform: [.nan, 1]}}}", "sample.space.rate.uniform[0]", .nonFinite, "a finite number"),
        ("sample: {n: 5, space: {rate: {int: [1, 2]}}}", "sample.space.rate.int", .wrongType, "uniform or loguniform for a real parameter"),
        ("sample: {n: 5, space: {total: {uniform: [1, 2]}}}", "sample.space.total.uniform", .wrongType, "write total: {int: [lo, hi]}"),
        ("sample: {n: 5, space: {total: {int: [1, 2000]}}}", "sample.space.total.int[1]", .outOfDomain, "an integer in 1...1000"),
        ("sample: {n: 5, space: {total: {int: [1.5, 20]}}}", "sample.space.total.int[0]", .outOfDomain, "an integer in 1...1000"),
        ("sample: {n: 5, space: {mode: {int: [1, 2]}}}", "sample.space.mode.int", .wrongType, "write mode: [fast, slow]"),
        ("sample: {n: 5, space: {mode: [fast, medium]}}", "sample.space.mode[1]", .outOfDomain, "one of fast, slow"),
    ])
    func invalidSamplesAreNamed(section: String, path: String, code: SpecError.Code, text: String) throws {
        let e = try #require(onlyError("name: t\nexperiment: toy\n\(section)\n"))
        #expect(e.path == path, "\(e)")
        #expect(e.code == code, "\(e)")
        #expect(e.expected.contains(text) || (e.hint ?? "").contains(text), "\(e)")
        #expect(e.line == 3, "\(e)")
    }

    @Test func loguniformNeedsAPositiveLowerEnd() throws {
        let e = try #require(onlyError("name: t\nexperiment: hierarchy\nsample: {n: 5, space: {noise: {loguniform: [0, 1]}}}\n"))
        #expect(e.path == "sample.space.noise.loguniform[0]" && e.code == .outOfDomain && e.hint == "use uniform to include 0")
    }

    @Test func aParameterIsSetInOnePlaceOnly() throws {
        for other in ["axes: {rate: [0.5]}", "zip: [{rate: [0.5], parts: [1]}]", "base: {rate: 0.5}"] {
            let all = errors("name: t\nexperiment: toy\n\(other)\nsample: {n: 5, space: {rate: {uniform: [0.1, 1]}}}\n")
            #expect(all.count == 1 && all[0].code == .conflict && all[0].path == "sample.space.rate", "\(other): \(all)")
        }
        #expect(onlyError("name: t\nexperiment: toy\nsample: {n: 5, space: {prts: {int: [1, 2]}}}\n")?.hint == "did you mean 'parts'?")
    }

    @Test func theSampleCountsTowardsTheGridLimit() throws {
        let e = try #require(onlyError(
            "name: t\nexperiment: toy\naxes: {parts: [1, 2]}\nsample: {n: 30, space: {rate: {uniform: [0.1, 1]}}}\nseeds: 2\n",
            limits: SweepLimits(maximumTasks: 100)))
        #expect(e.code == .gridSize && e.found == "120 tasks (2 seeds × 30 sample × 2 axes.parts)")
        let n = try #require(onlyError("name: t\nexperiment: toy\nsample: {n: 101, space: {rate: {uniform: [0.1, 1]}}}\n",
                                      limits: SweepLimits(maximumTasks: 100)))
        #expect(n.path == "sample.n" && n.code == .gridSize)
    }

    @Test func sobolHasAtMost64Dimensions() throws {
        let wide = WideFamily()
        let space = wide.parameters.map { "    \($0.name): {uniform: [0, 1]}" }.joined(separator: "\n")
        let spec = "name: t\nexperiment: wide\nsample:\n  n: 4\n  method: sobol\n  space:\n\(space)\n"
        do {
            _ = try SweepLoader.load(text: spec, path: "w.yaml", families: ["wide": wide])
            Issue.record("65 sobol dimensions loaded")
        } catch {
            #expect(error.errors.count == 1 && error.errors[0].path == "sample.space" && error.errors[0].found == "65 parameters")
        }
        let random = spec.replacingOccurrences(of: "method: sobol", with: "method: random")
        #expect(try SweepLoader.load(text: random, path: "w.yaml", families: ["wide": wide]).count == 4)
    }
}

/// A family with 65 real parameters (one more than Sobol has direction numbers for).
struct WideFamily: ExperimentFamily {
    var name: String { "wide" }
    var summary: String { "many parameters" }
    var parameters: [ParameterSpec] {
        (0..<65).map {
            ParameterSpec(name: "p\($0)", domain: .real(lower: 0, lowerInclusive: true, upper: 1, upperInclusive: true),
                          defaultValue: .real(0), help: "a coordinate")
        }
    }
    var resultMetricNames: [String] { [] }
    var curveMetricNames: [String] { [] }
    func crossCheck(_ p: ParameterSet) -> [ParameterProblem] { [] }
    func estimatedSeconds(_ p: ParameterSet) -> Double { 0 }
    func curveEpochs(_ p: ParameterSet) -> [String: Int] { [:] }
    func run(_ p: ParameterSet, context: TaskContext, onEpoch: (CurvePoint) -> Void) throws -> [Metric] { [] }
}
