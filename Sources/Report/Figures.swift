import Foundation

/// A figure ready for the page: its SVG and what it shows.
public struct RenderedFigure: Sendable {
    /// File name stem: the figure is written to `figures/<name>.svg`.
    public let name: String
    public let title: String
    /// A sentence under the figure saying how to read it.
    public let caption: String
    public let svg: String
}

/// A figure left out because it would be one flat line: its metric is the same, within
/// ``flatTolerance``, in every task it would plot (``flatValue(_:)``). The page shows its
/// sentence instead.
public struct OmittedFigure: Sendable, Equatable {
    /// The name the figure would have had (`figures/<name>.svg` is not written).
    public let name: String
    /// One sentence for the page, e.g. "… easy_acc is 1.000 in all 96 tasks."
    public let sentence: String
}

/// One place in the figures section: a figure, or the sentence replacing a flat one.
enum FigureSlot: Sendable {
    case drawn(RenderedFigure)
    case omitted(OmittedFigure)
}

/// Most panels one figure draws; further facet combinations are listed as left out.
let maximumPanels = 12

/// How far apart a metric's values may lie for its figure to count as flat: relative to the
/// values' magnitude, at least 1. For accuracies (0...1) that is a quarter of a percentage point:
/// 2 of 1000 test samples, below both the binomial noise of one accuracy and what a figure with
/// a 0.05-wide axis can show. For larger metrics (losses) it is 0.25% of the value.
let flatTolerance = 0.0025

/// The value (or narrow range) a metric has in every one of `values` when they are all within
/// ``flatTolerance`` of each other: "1.000", or "0.999 to 1.000" when they print differently.
/// Nil when they are farther apart, or there are fewer than two finite values (one task is no
/// evidence of a flat metric). Non-finite values are ignored. Complexity: O(n).
func flatValue(_ values: [Double]) -> String? {
    var count = 0
    var low = Double.infinity, high = -Double.infinity
    for v in values where v.isFinite {
        count += 1
        low = min(low, v)
        high = max(high, v)
    }
    guard count >= 2, high - low <= flatTolerance * max(1, abs(low), abs(high)) else { return nil }
    let (a, b) = (formatNumber(low), formatNumber(high))
    return a == b ? a : "\(a) to \(b)"
}

/// "n = 3", or "n = 2–3" when the counts differ.
func countRange(_ counts: [Int]) -> String {
    guard let low = counts.min(), let high = counts.max() else { return "n = 0" }
    return low == high ? "n = \(low)" : "n = \(low)–\(high)"
}

/// A number for tables and tooltips: 3 decimals below 10, fewer above.
func formatNumber(_ x: Double) -> String {
    guard x.isFinite else { return x.description }
    let a = abs(x)
    let s = String(format: a >= 1000 ? "%.0f" : a >= 100 ? "%.1f" : a >= 10 ? "%.2f" : "%.3f", x)
    return s.hasPrefix("-") && Double(s) == 0 ? String(s.dropFirst()) : s
}

/// `mean ± half-width` with the mean's decimals, or the mean alone for one replicate.
func formatSummary(_ s: ReplicateSummary) -> String {
    let mean = formatNumber(s.mean)
    guard let h = s.halfWidth else { return mean }
    let decimals = mean.split(separator: ".").dropFirst().first?.count ?? 0
    return "\(mean) ± \(String(format: "%.\(decimals)f", h))"
}

/// A parameter value short enough for a panel title: numbers to 4 significant digits
/// (`0.316227766017` -> `0.3162`), anything else as is.
func shortValue(_ text: String) -> String {
    guard let x = Double(text), x.isFinite, text.count > 6 else { return text }
    var s = String(format: "%.4g", x)
    if s.contains("e") { return s }
    if s.contains(".") { while s.hasSuffix("0") { s.removeLast() }; if s.hasSuffix(".") { s.removeLast() } }
    return s
}
