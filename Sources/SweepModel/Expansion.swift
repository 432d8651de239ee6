import Dispatch
import ExperimentAPI
import Foundation

/// One exclude entry, compiled: a task is excluded when, for every constrained dimension, its row
/// is allowed by that dimension's mask.
struct ExclusionMask: Sendable {
    let dimensions: [Int]
    let masks: [[Bool]]

    @inline(__always)
    func matches(_ digits: [Int]) -> Bool {
        for (k, d) in dimensions.enumerated() where !masks[k][digits[d]] { return false }
        return true
    }
}

/// Tasks a family rejected for one reason.
struct CrossCheckGroup: Sendable {
    let key: String
    let problem: ParameterProblem
    /// The digits of the first task with this problem (to locate the value in the file).
    let firstDigits: [Int]
    var count = 0
    /// Distinct combinations, at most ``Expansion/examples`` of them.
    var examples: [String] = []
}

/// Walks the grid: applies the excludes to every task, and asks the family to cross-check and
/// estimate every combination of values that some kept task has.
///
/// Dimension 0 is the seeds. A family's cross-check and cost estimate are computed once per
/// combination of the other dimensions (with the first seed) and count for each of its kept
/// seeds: a seed keys a task's random streams, and must not make a combination valid or invalid
/// or change its cost. That divides the family's work by the number of seeds.
///
/// Combinations are cut into a number of chunks that depends on their count only, processed in
/// parallel and merged in order, so the result (down to the bits of the summed estimate) does not
/// depend on the number of threads.
struct Expansion: Sendable {
    let dimensions: [GridLayout.Dimension]
    let fixed: [String: ParameterValue]
    let rules: [ExclusionMask]
    let family: any ExperimentFamily
    let examples: Int
    /// Distinct cross-check problems reported; tasks with further kinds are only counted.
    static let maximumGroups = 20
    /// Distinct problems a chunk keeps. Chunks start mid-grid, so each keeps far more kinds than
    /// are reported, for the merged first ``maximumGroups`` (in grid order) to have exact counts;
    /// only a family with more kinds of problem than this in one chunk makes those counts low.
    static let maximumChunkGroups = 1000

    struct Result {
        /// Grid indices of kept tasks, or nil when nothing was excluded.
        var kept: [Int]?
        var estimate = 0.0
        var groups: [CrossCheckGroup] = []
        var otherProblemTasks = 0
        /// Per exclude entry: how many grid combinations it matched.
        var matched: [Int]
    }

    /// How many seeds of each combination are kept.
    enum SeedCounts: Sendable {
        case all(Int)
        case each([Int32])

        subscript(combination: Int) -> Int {
            switch self {
            case .all(let n): return n
            case .each(let counts): return Int(counts[combination])
            }
        }
    }

    func run() -> Result {
        let seedCount = dimensions[0].rows.count
        let combinations = dimensions.dropFirst().reduce(1) { $0 * $1.rows.count }
        var result = Result(matched: [Int](repeating: 0, count: rules.count))

        // Excludes, task by task (the seeds outermost: task i has combination i % combinations).
        let seedCounts: SeedCounts
        if rules.isEmpty {
            seedCounts = .all(seedCount)
        } else {
            let gridCount = seedCount * combinations
            var counts = [Int32](repeating: 0, count: combinations)
            var kept: [Int]?
            var digits = [Int](repeating: 0, count: dimensions.count)
            let radices = dimensions.map(\.rows.count)
            var combination = 0
            for index in 0..<gridCount {
                var excluded = false
                for i in rules.indices where rules[i].matches(digits) {
                    result.matched[i] += 1
                    excluded = true
                }
                if excluded {
                    if kept == nil {
                        kept = Array(0..<index)
                        kept!.reserveCapacity(gridCount)
                    }
                } else {
                    kept?.append(index)
                    counts[combination] += 1
                }
                combination += 1
                if combination == combinations { combination = 0 }
                var d = dimensions.count - 1
                while d >= 0 {
                    digits[d] += 1
                    if digits[d] < radices[d] { break }
                    digits[d] = 0
                    d -= 1
                }
            }
            result.kept = kept
            seedCounts = .each(counts)
        }

        // Cross-checks and estimates, once per combination with a kept seed.
        let chunkCount = combinations < 1 << 14 ? 1 : 32
        let chunkSize = (combinations + chunkCount - 1) / chunkCount
        let ranges = (0..<chunkCount).map { c in min(c * chunkSize, combinations)..<min((c + 1) * chunkSize, combinations) }
        let parts = ResultSlots(count: chunkCount)
        if chunkCount == 1 {
            parts.store(0, check(ranges[0], seedCounts))
        } else {
            DispatchQueue.concurrentPerform(iterations: chunkCount) { c in parts.store(c, check(ranges[c], seedCounts)) }
        }
        var position: [String: Int] = [:]
        for chunk in parts.take() {
            result.estimate += chunk.estimate
            result.otherProblemTasks += chunk.otherProblemTasks
            for group in chunk.groups {
                if let p = position[group.key] {
                    result.groups[p].count += group.count
                    for example in group.examples where result.groups[p].examples.count < examples && !result.groups[p].examples.contains(example) {
                        result.groups[p].examples.append(example)
                    }
                } else if result.groups.count < Self.maximumGroups {
                    position[group.key] = result.groups.count
                    result.groups.append(group)
                } else {
                    result.otherProblemTasks += group.count
                }
            }
        }
        return result
    }

    struct Chunk {
        var estimate = 0.0
        var groups: [CrossCheckGroup] = []
        var otherProblemTasks = 0
    }

    /// Cross-checks and estimates the combinations `range` (of dimensions 1...), the last fastest.
    func check(_ range: Range<Int>, _ seedCounts: SeedCounts) -> Chunk {
        var chunk = Chunk()
        guard !range.isEmpty else { return chunk }
        let radices = dimensions.map(\.rows.count)
        var digits = [Int](repeating: 0, count: dimensions.count)
        var rest = range.lowerBound
        for d in dimensions.indices.dropFirst().reversed() {
            digits[d] = rest % radices[d]
            rest /= radices[d]
        }
        // Every key present up front, so that each combination's copy is only updated, never grown.
        var template = fixed
        for dimension in dimensions {
            for (c, name) in dimension.names.enumerated() { template[name] = dimension.rows[0][c] }
        }
        var position: [String: Int] = [:]
        for combination in range {
            let tasks = seedCounts[combination]
            if tasks > 0 {
                var values = template
                for d in dimensions.indices.dropFirst() {
                    let row = dimensions[d].rows[digits[d]]
                    for (c, name) in dimensions[d].names.enumerated() { values[name] = row[c] }
                }
                let set = ParameterSet(values)
                chunk.estimate += family.estimatedSeconds(set) * Double(tasks)
                for problem in family.crossCheck(set) {
                    let key = problem.description
                    let p: Int
                    if let known = position[key] {
                        p = known
                    } else if chunk.groups.count < Self.maximumChunkGroups {
                        p = chunk.groups.count
                        position[key] = p
                        chunk.groups.append(CrossCheckGroup(key: key, problem: problem, firstDigits: digits))
                    } else {
                        chunk.otherProblemTasks += tasks
                        continue
                    }
                    chunk.groups[p].count += tasks
                    if chunk.groups[p].examples.count < examples {
                        chunk.groups[p].examples.append(combinationText(digits))
                    }
                }
            }
            var d = dimensions.count - 1
            while d >= 1 {
                digits[d] += 1
                if digits[d] < radices[d] { break }
                digits[d] = 0
                d -= 1
            }
        }
        return chunk
    }

    /// `{granularity: 3, width: 16}`: the swept values of a task except its seed (dimension 0).
    func combinationText(_ digits: [Int]) -> String {
        var parts: [String] = []
        for d in dimensions.indices.dropFirst() {
            let row = dimensions[d].rows[digits[d]]
            for (c, name) in dimensions[d].names.enumerated() { parts.append("\(name): \(row[c].canonicalText)") }
        }
        return "{" + parts.joined(separator: ", ") + "}"
    }
}

/// One result slot per chunk, written by the thread that expands that chunk.
// @unchecked Sendable: each slot is written by exactly one iteration of concurrentPerform, and
// read only after it returns (which orders those writes before the reads).
private final class ResultSlots: @unchecked Sendable {
    private let base: UnsafeMutablePointer<Expansion.Chunk?>
    private let count: Int

    init(count: Int) {
        base = .allocate(capacity: count)
        base.initialize(repeating: nil, count: count)
        self.count = count
    }

    func store(_ index: Int, _ chunk: Expansion.Chunk) { base[index] = chunk }

    func take() -> [Expansion.Chunk] { (0..<count).map { base[$0]! } }

    deinit {
        base.deinitialize(count: count)
        base.deallocate()
    }
}
