import Dispatch
import ExperimentAPI
import Foundation

extension SweepPlan {
    /// The human summary `grainsweep plan` prints: counts, the grid, the estimate.
    public func summary(cores: Int = 2) -> String {
        var lines: [String] = []
        lines.append("sweep \(name): experiment \(family.name), from \(specPath)")
        if let descriptionText, !descriptionText.isEmpty { lines.append("  " + descriptionText) }
        let sampleFactor = sample.map { ["\(formatCount($0.points.count)) sampled points (\($0.space.map(\.name).joined(separator: ", ")))"] } ?? []
        let factors = ["\(formatCount(seeds.count)) seeds"] + sampleFactor
            + axes.map { "\(formatCount($0.values.count)) \($0.name)" }
            + zipGroups.map { "\(formatCount($0.first?.values.count ?? 0)) (\($0.map(\.name).joined(separator: ", ")))" }
        lines.append("tasks: \(formatCount(count)) = \(factors.joined(separator: " × ")) = \(formatCount(gridCount)) combinations"
            + ", \(formatCount(excludedCount)) excluded, \(formatCount(mergedCount)) duplicates merged")
        let sweptNames = Set(["seed"] + axes.map(\.name) + zipGroups.flatMap { $0.map(\.name) } + (sample?.space.map(\.name) ?? []))
        lines.append("order: seeds outermost, then " + (sample == nil ? "" : "the sampled points, then ")
            + "axes in the order written, then zip groups; the last varies fastest")
        lines.append("seeds: " + listText(seeds.map(String.init)))
        if let sample { lines += sampleLines(sample) }
        if !axes.isEmpty {
            lines.append("axes:")
            let width = axes.map(\.name.count).max() ?? 0
            for axis in axes {
                lines.append("  " + axis.name.padding(width) + "  " + listText(axis.values.map(\.canonicalText)))
            }
        }
        for (g, group) in zipGroups.enumerated() {
            let rows = (0..<(group.first?.values.count ?? 0)).map { r in
                "(" + group.map { $0.values[r].canonicalText }.joined(separator: ", ") + ")"
            }
            lines.append("zip[\(g)] (\(group.map(\.name).joined(separator: ", "))): " + listText(rows))
        }
        let given = Set(baseParameters.map(\.name))
        let fixedText = family.parameters.filter { !sweptNames.contains($0.name) }.map { spec in
            "\(spec.name)=\(fixedParameters[spec.name]?.canonicalText ?? "?")" + (given.contains(spec.name) ? "" : "*")
        }
        var fixedLine = "fixed:"
        for item in fixedText {
            if fixedLine.count + 1 + item.count > 100 {
                lines.append(fixedLine)
                fixedLine = "      "
            }
            fixedLine += " " + item
        }
        lines.append(fixedLine)
        if fixedText.contains(where: { $0.hasSuffix("*") }) { lines.append("       (* the family's default)") }
        let perTask = count > 0 ? estimatedSeconds / Double(count) : 0
        lines.append("estimated work: \(durationText(estimatedSeconds)) of one core (\(durationText(perTask)) a task)"
            + "; about \(durationText(estimatedSeconds / Double(max(cores, 1)))) on \(cores) cores")
        lines.append("base digest: \(baseDigest)")
        for note in mergeNotes.prefix(10) { lines.append("merged: " + note) }
        if mergeNotes.count > 10 { lines.append("merged: … and \(mergeNotes.count - 10) more") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The summary's lines for a sample: how it was drawn, whether it grows, its space and points.
    private func sampleLines(_ sample: SweepSample) -> [String] {
        var lines = ["sample: \(sample.method.rawValue), n \(formatCount(sample.count)), seed \(sample.seed)"
            + (sample.points.count < sample.count ? " (\(formatCount(sample.count - sample.points.count)) repeated points merged)" : "")]
        switch sample.method {
        case .random, .sobol:
            lines.append("  grows: a larger n with the same seed and space keeps these points (their finished tasks are reused)")
        case .lhs:
            lines.append("  does not grow: lhs strata depend on n, so another n draws other points (no finished task is reused)")
        }
        if sample.method == .sobol, sample.count & (sample.count - 1) != 0 {
            let below = 1 << (Int.bitWidth - 1 - sample.count.leadingZeroBitCount)
            lines.append("  note: sobol points are balanced in blocks of powers of 2; n \(formatCount(sample.count)) is not one (\(formatCount(below)) or \(formatCount(below * 2)) is)")
        }
        let width = sample.space.map(\.name.count).max() ?? 0
        for (name, distribution) in sample.space {
            lines.append("  " + name.padding(width) + "  " + distribution.description)
        }
        let rows = sample.points.map { "(" + $0.map(\.canonicalText).joined(separator: ", ") + ")" }
        lines.append("  points (\(sample.space.map(\.name).joined(separator: ", "))): " + listText(rows, noun: "points"))
        return lines
    }

    /// `task_id` then ``parameterNames``, comma-separated, with a newline.
    public var csvHeader: String {
        (["task_id"] + parameterNames).map(csvField).joined(separator: ",") + "\n"
    }

    /// Writes the CSV (header, then one row per task in plan order) in chunks.
    ///
    /// The ids come from ``ids(threads:)``; rows are assembled from precomputed bytes. Large plans
    /// are rendered in batches, each cut into `threads` pieces rendered in parallel and written in
    /// order, so the output does not depend on the number of threads.
    /// - Parameters:
    ///   - threads: rendering threads (default: the active processors).
    ///   - write: receives the bytes in order; the buffer is valid only during the call.
    public func writeCSV(
        threads: Int = ProcessInfo.processInfo.activeProcessorCount, _ write: (UnsafeRawBufferPointer) throws -> Void
    ) rethrows {
        var header = csvHeader
        try header.withUTF8 { try write(UnsafeRawBufferPointer($0)) }
        let pieces = count < 1 << 14 ? 1 : max(1, min(threads, 16))
        let pieceTasks = 1 << 13
        let ids = self.ids(threads: threads)
        let rowMaximum = 32 + layout.csvRow.maximumLength
        let buffers = RenderBuffers(count: pieces, byteCount: pieceTasks * rowMaximum)
        var start = 0
        try ids.withUnsafeBufferPointer { ids in
            let idList = IDList(base: ids.baseAddress!)
            while start < count {
                let batchEnd = min(count, start + pieces * pieceTasks)
                let batchStart = start
                let render: @Sendable (Int) -> Void = { piece in
                    let from = batchStart + piece * pieceTasks
                    let to = min(batchEnd, from + pieceTasks)
                    buffers.lengths[piece] = from < to ? renderRows(from..<to, ids: idList, into: buffers.pointers[piece]) : 0
                }
                if pieces == 1 { render(0) } else { DispatchQueue.concurrentPerform(iterations: pieces, execute: render) }
                for piece in 0..<pieces where buffers.lengths[piece] > 0 {
                    try write(UnsafeRawBufferPointer(start: buffers.pointers[piece], count: buffers.lengths[piece]))
                }
                start = batchEnd
            }
        }
    }

    /// Renders the CSV rows of tasks `range` at `out`; returns the byte count.
    private func renderRows(_ range: Range<Int>, ids: IDList, into out: UnsafeMutableRawPointer) -> Int {
        var used = 0
        for index in range {
            layout.withDigits(ofTask: index) { digits in
                let id = ids.base[index]
                writeHex(id.high, to: out + used)
                writeHex(id.low, to: out + used + 16)
                used += 32
                used += layout.csvRow.write(digits, to: out + used)
            }
        }
        return used
    }

    /// The whole CSV as one string (for tests and small plans).
    public func csv() -> String {
        var bytes: [UInt8] = []
        writeCSV { bytes.append(contentsOf: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// 16 lowercase hex digits of `x` at `out`.
@inline(__always)
private func writeHex(_ x: UInt64, to out: UnsafeMutableRawPointer) {
    for i in 0..<16 {
        let nibble = UInt8(truncatingIfNeeded: x >> UInt64(60 - 4 * i)) & 0xf
        out.storeBytes(of: nibble < 10 ? 48 + nibble : 87 + nibble, toByteOffset: i, as: UInt8.self)
    }
}

/// `1, 2, 4` or, for long lists, the first and last few with a count.
private func listText(_ items: [String], noun: String = "values") -> String {
    if items.count <= 12 { return items.joined(separator: ", ") }
    return items.prefix(5).joined(separator: ", ") + ", …, " + items.suffix(3).joined(separator: ", ") + " (\(formatCount(items.count)) \(noun))"
}

/// `45s`, `12m 03s`, `3h 20m`, `2d 04h`.
func durationText(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "unknown" }
    if seconds < 1 { return seconds == 0 ? "0s" : "<1s" }
    let s = Int(seconds.rounded())
    func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
    if s < 60 { return "\(s)s" }
    if s < 3600 { return "\(s / 60)m \(two(s % 60))s" }
    if s < 86400 { return "\(s / 3600)h \(two(s % 3600 / 60))m" }
    return "\(s / 86400)d \(two(s % 86400 / 3600))h"
}

extension String {
    fileprivate func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}

/// Per-piece output buffers of ``SweepPlan/writeCSV(threads:_:)``.
// @unchecked Sendable: piece i's buffer and length are written only by the thread rendering piece
// i, and read after concurrentPerform returns.
private final class RenderBuffers: @unchecked Sendable {
    let pointers: [UnsafeMutableRawPointer]
    let lengths: UnsafeMutableBufferPointer<Int>

    init(count: Int, byteCount: Int) {
        pointers = (0..<count).map { _ in UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 16) }
        lengths = .allocate(capacity: count)
        lengths.initialize(repeating: 0)
    }

    deinit {
        for pointer in pointers { pointer.deallocate() }
        lengths.deallocate()
    }
}

/// The ids handed to the rendering threads.
// @unchecked Sendable: a read-only view of an array that outlives the threads reading it.
private struct IDList: @unchecked Sendable {
    let base: UnsafePointer<TaskID>
}
