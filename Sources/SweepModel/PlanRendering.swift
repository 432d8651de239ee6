import ExperimentAPI

extension SweepPlan {
    /// The human summary `grainsweep plan` prints: counts, the grid, the estimate.
    public func summary(cores: Int = 2) -> String {
        var lines: [String] = []
        lines.append("sweep \(name): experiment \(family.name), from \(specPath)")
        if let descriptionText, !descriptionText.isEmpty { lines.append("  " + descriptionText) }
        let factors = ["\(seeds.count) seeds"]
            + axes.map { "\($0.values.count) \($0.name)" }
            + zipGroups.map { "\($0.first?.values.count ?? 0) (\($0.map(\.name).joined(separator: ", ")))" }
        lines.append("tasks: \(formatCount(count)) = \(factors.joined(separator: " × ")) = \(formatCount(gridCount)) combinations"
            + ", \(formatCount(excludedCount)) excluded, \(formatCount(mergedCount)) duplicates merged")
        let sweptNames = Set(["seed"] + axes.map(\.name) + zipGroups.flatMap { $0.map(\.name) })
        lines.append("order: seeds outermost, then axes in the order written, then zip groups; the last varies fastest")
        lines.append("seeds: " + listText(seeds.map(String.init)))
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
        lines.append("fixed: " + fixedText.joined(separator: " ") + (fixedText.contains { $0.hasSuffix("*") } ? "   (* family default)" : ""))
        let perTask = count > 0 ? estimatedSeconds / Double(count) : 0
        lines.append("estimated work: \(durationText(estimatedSeconds)) of one core (\(durationText(perTask)) a task)"
            + "; about \(durationText(estimatedSeconds / Double(max(cores, 1)))) on \(cores) cores")
        lines.append("base digest: \(baseDigest)")
        for note in mergeNotes.prefix(10) { lines.append("merged: " + note) }
        if mergeNotes.count > 10 { lines.append("merged: … and \(mergeNotes.count - 10) more") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `task_id` then ``parameterNames``, comma-separated, with a newline.
    public var csvHeader: String {
        (["task_id"] + parameterNames).map(csvField).joined(separator: ",") + "\n"
    }

    /// Writes the CSV (header, then one row per task in plan order) in chunks of about 1 MB.
    ///
    /// Rows are assembled from precomputed bytes: a task costs one SHA-256 and a few copies.
    public func writeCSV(chunkSize: Int = 1 << 20, _ write: (UnsafeRawBufferPointer) -> Void) {
        var header = csvHeader
        header.withUTF8 { write(UnsafeRawBufferPointer($0)) }
        let rowMaximum = 32 + layout.csvRow.maximumLength
        let capacity = max(chunkSize, rowMaximum) + rowMaximum
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        defer { buffer.deallocate() }
        let identityBuffer = UnsafeMutableRawPointer.allocate(byteCount: layout.identity.maximumLength, alignment: 16)
        defer { identityBuffer.deallocate() }
        var used = 0
        for index in 0..<count {
            layout.withDigits(ofTask: index) { digits in
                let length = layout.identity.write(digits, to: identityBuffer)
                let id = TaskID.of(canonicalEncoding: UnsafeRawBufferPointer(start: identityBuffer, count: length))
                writeHex(id.high, to: buffer + used)
                writeHex(id.low, to: buffer + used + 16)
                used += 32
                used += layout.csvRow.write(digits, to: buffer + used)
            }
            if used >= chunkSize {
                write(UnsafeRawBufferPointer(start: buffer, count: used))
                used = 0
            }
        }
        if used > 0 { write(UnsafeRawBufferPointer(start: buffer, count: used)) }
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
private func listText(_ items: [String]) -> String {
    if items.count <= 12 { return items.joined(separator: ", ") }
    return items.prefix(5).joined(separator: ", ") + ", …, " + items.suffix(3).joined(separator: ", ") + " (\(formatCount(items.count)) values)"
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
