import Dispatch
import ExperimentAPI
import Foundation

/// Guard rails for loading specs.
public struct SweepLimits: Sendable {
    /// The largest grid (combinations before excludes, duplicates included) a spec may describe.
    /// Checked before anything is expanded.
    public var maximumTasks: Int
    /// How many example tasks a cross-check error lists.
    public var crossCheckExamples: Int

    public init(maximumTasks: Int = 10_000_000, crossCheckExamples: Int = 5) {
        self.maximumTasks = maximumTasks
        self.crossCheckExamples = crossCheckExamples
    }
}

/// One task of a sweep: its identity and its fully resolved parameters (seed included).
public struct PlannedTask: Sendable, Hashable {
    public let id: TaskID
    public let parameters: ParameterSet

    public init(id: TaskID, parameters: ParameterSet) {
        self.id = id
        self.parameters = parameters
    }
}

/// A validated sweep: the distinct tasks a spec expands into, in a fixed order, computed on demand.
///
/// The tasks form a mixed-radix grid of *dimensions*, slowest first: the seeds, then the sampled
/// points (if the spec has a `sample`), then each axis in the order written, then each zip group in
/// the order written; the last dimension varies fastest.
/// Excluded combinations are skipped. Task `i` is decoded from its index, so nothing per task is
/// stored except, when excludes remove something, the grid index of each task that is kept.
/// See sweeps/README.md for the format and the reasons behind the order.
public struct SweepPlan: Sendable {
    /// The sweep's name: a safe file name (letters, digits, `-`, `_`, `.`; no leading `.`).
    public let name: String
    /// The spec's free-text `description`, if any.
    public let descriptionText: String?
    /// The spec's `time_limit` (nil: not given; the coordinator's default applies). Not part of
    /// any task's identity.
    public internal(set) var timeLimit: TimeLimit?
    public let family: any ExperimentFamily
    public let specPath: String
    /// The spec file's text, for provenance.
    public let specText: String
    /// SHA-256 (64 hex digits) of the experiment name and every fixed (not swept) parameter,
    /// resolved, in the canonical encoding of ``ExperimentAPI/TaskID``: a resumed sweep compares it
    /// to tell whether the base changed.
    public let baseDigest: String
    /// The cartesian axes in the order written, each with its distinct values.
    public let axes: [(name: String, values: [ParameterValue])]
    /// The zip groups in the order written: parameters that vary together, with their distinct rows
    /// (`values[j]` of every member belongs to row `j`).
    public let zipGroups: [[(name: String, values: [ParameterValue])]]
    /// The replicate seeds, distinct, in the order written.
    public let seeds: [Int]
    /// The spec's `sample` (its points are one dimension, after the seeds), if any.
    public internal(set) var sample: SweepSample?
    /// The parameters given under `base`, coerced, in the order written.
    public let baseParameters: [(name: String, value: ParameterValue)]
    /// Every parameter that no axis, zip group or seed varies, resolved (from `base` or the family's
    /// default). Excludes `seed`.
    public let fixedParameters: ParameterSet
    /// Combinations of distinct values before excludes.
    public let gridCount: Int
    /// Combinations as written, repeated values included.
    public let writtenGridCount: Int
    /// One line per repeated value or row that was merged, e.g. `axes.rare_freq[3] (1.0) repeats axes.rare_freq[2]`.
    public let mergeNotes: [String]
    /// The sum of ``ExperimentAPI/ExperimentFamily/estimatedSeconds(_:)`` over all tasks.
    public let estimatedSeconds: Double

    let layout: GridLayout

    /// The family's parameters then `seed`: the CSV columns after `task_id`.
    public var parameterNames: [String] { family.allParameters.map(\.name) }
    /// The number of distinct tasks.
    public var count: Int { layout.kept?.count ?? gridCount }
    /// Grid combinations removed by `exclude`.
    public var excludedCount: Int { gridCount - count }
    /// Tasks of the grid as written that repeated another task and were merged into it.
    public var mergedCount: Int { writtenGridCount - gridCount }

    /// The task at `index` (0 ..< ``count``), in the plan's deterministic order.
    /// - Complexity: O(number of parameters): decodes the index and hashes one canonical encoding.
    public func task(at index: Int) -> PlannedTask {
        layout.withDigits(ofTask: index) { digits in
            PlannedTask(id: layout.identity.id(digits), parameters: layout.parameters(digits))
        }
    }

    /// The parameters of the task at `index`, without hashing its id (faster than ``task(at:)``).
    public func parameters(at index: Int) -> ParameterSet {
        layout.withDigits(ofTask: index) { layout.parameters($0) }
    }

    /// The id of the task at `index`, without building its parameter set (faster than ``task(at:)``).
    public func id(at index: Int) -> TaskID {
        layout.withDigits(ofTask: index) { layout.identity.id($0) }
    }

    /// The ids of all tasks, in plan order, computed on `threads` threads (the result does not
    /// depend on their number). For a coordinator that indexes tasks by id, this is much cheaper
    /// than calling ``task(at:)`` for each.
    ///
    /// The tasks are visited in the order of their canonical encodings (the dimension whose first
    /// parameter comes first in sorted name order outermost), so that consecutive encodings share
    /// all but their last bytes and SHA-256 resumes from the shared prefix
    /// (``ExperimentAPI/SHA256/hash(_:cache:)``): about one or two blocks per task, whatever order
    /// the spec writes its axes in.
    /// - Complexity: O(count) time; O(grid size) extra memory when excludes removed tasks.
    public func ids(threads: Int = ProcessInfo.processInfo.activeProcessorCount) -> [TaskID] {
        let n = count
        let layout = self.layout
        let dimensionCount = layout.dimensions.count
        let radices = layout.dimensions.map(\.rows.count)
        let total = layout.gridSize
        // Plan-order strides: grid index = sum of digit * stride.
        let strides = (0..<dimensionCount).map { d in radices[(d + 1)...].reduce(1, *) }
        // Plan index of each grid index when excludes removed some (-1: excluded).
        let planIndex: [Int32]? = layout.kept.map { kept in
            var map = [Int32](repeating: -1, count: total)
            for (p, g) in kept.enumerated() { map[g] = Int32(p) }
            return map
        }
        let order = layout.encodingOrder
        let pieces = total < 1 << 14 ? 1 : max(1, min(threads, 16))
        return [TaskID](unsafeUninitializedCapacity: n) { buffer, initialized in
            let out = IDSlots(base: buffer.baseAddress)
            let fill: @Sendable (Int) -> Void = { piece in
                let from = total * piece / pieces, to = total * (piece + 1) / pieces
                guard from < to else { return }
                var cache = SHA256.PrefixCache()
                // digits[d] is the row of plan dimension d; the counter runs over `order`, last fastest.
                var digits = [Int](repeating: 0, count: dimensionCount)
                var rest = from
                for d in order.reversed() {
                    digits[d] = rest % radices[d]
                    rest /= radices[d]
                }
                withUnsafeTemporaryAllocation(byteCount: layout.identity.maximumLength, alignment: 16) { encoding in
                    digits.withUnsafeMutableBufferPointer { digits in
                        for _ in from..<to {
                            var grid = 0
                            for d in 0..<dimensionCount { grid += digits[d] * strides[d] }
                            let p = planIndex.map { Int($0[grid]) } ?? grid
                            if p >= 0 {
                                let length = layout.identity.write(UnsafeBufferPointer(digits), to: encoding.baseAddress!)
                                (out.base! + p).initialize(to: TaskID.of(
                                    canonicalEncoding: UnsafeRawBufferPointer(start: encoding.baseAddress, count: length), cache: &cache))
                            }
                            var k = dimensionCount - 1
                            while k >= 0 {
                                let d = order[k]
                                digits[d] += 1
                                if digits[d] < radices[d] { break }
                                digits[d] = 0
                                k -= 1
                            }
                        }
                    }
                }
            }
            if pieces == 1 { fill(0) } else { DispatchQueue.concurrentPerform(iterations: pieces, execute: fill) }
            initialized = n
        }
    }

    /// The tasks as a random-access collection, computed on access.
    public var tasks: Tasks { Tasks(plan: self) }

    /// The tasks of a plan, computed on access.
    public struct Tasks: RandomAccessCollection, Sendable {
        let plan: SweepPlan
        public var startIndex: Int { 0 }
        public var endIndex: Int { plan.count }
        public subscript(position: Int) -> PlannedTask { plan.task(at: position) }
    }
}

/// How task indices map onto the grid and its values (internal to the plan).
struct GridLayout: Sendable {
    /// A set of parameters that vary together: one axis, one zip group, or the seeds.
    struct Dimension: Sendable {
        let names: [String]
        /// Distinct rows; `rows[r][c]` is the value of `names[c]`.
        let rows: [[ParameterValue]]
    }

    let dimensions: [Dimension]
    /// Grid indices of the kept tasks, when excludes removed some; nil when every combination is a task.
    let kept: [Int]?
    let fixed: ParameterSet
    /// `fixed` plus every swept parameter (at its first value): a task's set is a copy of it with
    /// the swept values replaced, which never grows the dictionary.
    let template: [String: ParameterValue]
    /// Dimension indices, outermost first, in the order their parameters appear in the canonical
    /// encoding (sorted names): iterating tasks in this order makes consecutive encodings share prefixes.
    let encodingOrder: [Int]
    let identity: EncodingTemplate
    let csvRow: EncodingTemplate

    init(dimensions: [Dimension], kept: [Int]?, fixed: ParameterSet, identity: EncodingTemplate, csvRow: EncodingTemplate) {
        self.dimensions = dimensions
        self.kept = kept
        self.fixed = fixed
        self.identity = identity
        self.csvRow = csvRow
        var template = fixed.values
        for dimension in dimensions {
            for (c, name) in dimension.names.enumerated() { template[name] = dimension.rows[0][c] }
        }
        self.template = template
        // Dimensions by the position of their first slot in the canonical encoding.
        var order: [Int] = []
        for slot in identity.slots where !order.contains(slot.dimension) { order.append(slot.dimension) }
        for d in dimensions.indices where !order.contains(d) { order.append(d) }
        self.encodingOrder = order
    }

    /// Runs `body` with the dimension digits (row indices, slowest dimension first) of task `index`.
    @inline(__always)
    func withDigits<R>(ofTask index: Int, _ body: (UnsafeBufferPointer<Int>) -> R) -> R {
        precondition(index >= 0 && index < (kept?.count ?? gridSize), "task index \(index) out of range")
        var rest = kept?[index] ?? index
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: dimensions.count) { digits in
            var d = dimensions.count
            while d > 0 {
                d -= 1
                let radix = dimensions[d].rows.count
                digits[d] = rest % radix
                rest /= radix
            }
            return body(UnsafeBufferPointer(digits))
        }
    }

    var gridSize: Int { dimensions.reduce(1) { $0 * $1.rows.count } }

    /// The resolved parameters of the task with these digits.
    func parameters(_ digits: UnsafeBufferPointer<Int>) -> ParameterSet {
        var values = template
        for (d, dimension) in dimensions.enumerated() {
            let row = dimension.rows[digits[d]]
            for (c, name) in dimension.names.enumerated() { values[name] = row[c] }
        }
        return ParameterSet(values)
    }
}

/// A byte template with holes: fixed chunks between *slots*, each slot filled from a table
/// indexed by one dimension's digit. It writes a task's canonical encoding (for its id) or its CSV
/// row by copying precomputed bytes, so per-task work is a few `memcpy`s and no allocation.
struct EncodingTemplate: Sendable {
    /// `chunks.count == slots.count + 1`: chunk 0, slot 0, chunk 1, ..., last chunk.
    private(set) var chunks: [[UInt8]] = [[]]
    /// For each slot: its dimension and, per row of that dimension, the bytes it writes.
    private(set) var slots: [(dimension: Int, rows: [[UInt8]])] = []
    /// An upper bound on the bytes one task writes.
    private(set) var maximumLength = 0

    mutating func appendFixed(_ text: String) {
        chunks[chunks.count - 1].append(contentsOf: Array(text.utf8))
        maximumLength += text.utf8.count
    }

    mutating func appendSlot(dimension: Int, rows: [String]) {
        let bytes = rows.map { Array($0.utf8) }
        slots.append((dimension, bytes))
        chunks.append([])
        maximumLength += bytes.map(\.count).max() ?? 0
    }

    /// Writes the task with these digits at `out` (at least ``maximumLength`` bytes); returns the length.
    @inline(__always)
    func write(_ digits: UnsafeBufferPointer<Int>, to out: UnsafeMutableRawPointer) -> Int {
        var length = 0
        func copy(_ bytes: [UInt8]) {
            bytes.withUnsafeBytes { source in
                if source.count > 0 { (out + length).copyMemory(from: source.baseAddress!, byteCount: source.count) }
                length += source.count
            }
        }
        for s in 0..<slots.count {
            copy(chunks[s])
            copy(slots[s].rows[digits[slots[s].dimension]])
        }
        copy(chunks[slots.count])
        return length
    }

    /// The SHA-256-based id of the encoding this template writes for these digits.
    func id(_ digits: UnsafeBufferPointer<Int>) -> TaskID {
        withUnsafeTemporaryAllocation(byteCount: maximumLength, alignment: 8) { buffer in
            let length = write(digits, to: buffer.baseAddress!)
            return TaskID.of(canonicalEncoding: UnsafeRawBufferPointer(start: buffer.baseAddress, count: length))
        }
    }
}

/// The output of ``SweepPlan/ids(threads:)``.
// @unchecked Sendable: each thread initialises a disjoint range of the buffer, which is read only
// after concurrentPerform returns.
private struct IDSlots: @unchecked Sendable {
    let base: UnsafeMutablePointer<TaskID>?
}
