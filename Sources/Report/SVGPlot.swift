import Foundation

// A small plotting layer that writes SVG text: linear and log2 axes with nice ticks, small
// multiples sharing their axes, polylines with markers, error bars or shaded interval bands,
// reference lines with bands, scatter plots, bar charts and a legend. Output depends only on the input (fixed number formatting, no dictionaries
// iterated), so the same figure always gives the same bytes.

/// How an axis maps values to positions.
enum AxisScale: Sendable {
    case linear
    /// Positions are log2 of the value; ticks at powers of two. Values <= 0 are not drawn.
    case log2
}

/// An axis of a figure; every panel of a figure shares it.
struct AxisSpec: Sendable {
    var label: String
    var scale: AxisScale = .linear
    /// When set, the axis covers at least this range (data outside widens it).
    var include: ClosedRange<Double>?
    /// Whole-number data (epochs): ticks at integers only.
    var integer = false
    /// Values cannot lie outside this range (accuracies: 0...1): error bars are cut at it and the
    /// axis never extends past it.
    var limits: ClosedRange<Double>?
    /// The narrowest span the axis shows: (nearly) constant data is widened to it, so that ticks
    /// do not land in the 6th decimal. 0.05 suits accuracies; bar charts use their bar width.
    var minimumSpan = 0.05

    func clamped(_ v: Double) -> Double {
        guard let limits else { return v }
        return min(max(v, limits.lowerBound), limits.upperBound)
    }
}

/// Marker shapes, cycled between series so that lines differ in more than their color.
enum MarkerShape: Sendable, CaseIterable {
    case circle, square, triangle, diamond
}

/// One point; `low`/`high` draw an error bar.
struct PlotPoint: Sendable {
    var x: Double
    var y: Double
    var low: Double?
    var high: Double?
    /// Hover text (an SVG `<title>`).
    var tooltip: String?
}

/// A named set of points: connected by a polyline (`connect`) or a scatter.
struct PlotSeries: Sendable {
    var label: String
    var color: String
    var marker: MarkerShape = .circle
    var connect = true
    var dashed = false
    var markerRadius = 3.5
    /// Draws the points' `low`/`high` as one shaded band along the line instead of error bars
    /// (for dense x values such as epochs, where bars would overlap).
    var band = false
    /// When set, each point is a bar from 0 to `y`, this wide in x units and centred on `x`
    /// (histograms, counts per time bin); no line and no markers.
    var barWidth: Double?
    var points: [PlotPoint]
}

/// A horizontal line across a panel (a baseline), with an optional shaded interval around it.
struct ReferenceLine: Sendable {
    var y: Double
    var color: String
    var label: String
    /// The interval drawn as a band behind the line (a 95% interval of the baseline's mean).
    var low: Double?
    var high: Double?
}

/// One panel of small multiples.
struct PlotPanel: Sendable {
    var title: String?
    var series: [PlotSeries]
    var references: [ReferenceLine] = []
}

/// One line of the legend.
struct LegendEntry: Sendable {
    enum Style: Sendable {
        case lineAndMarker(MarkerShape), dashedLineAndMarker(MarkerShape), marker(MarkerShape), dashedLine
        /// A line (dashed or not) over a shaded band: a mean with its interval.
        case lineWithBand(MarkerShape?, dashed: Bool)
        case bar
    }
    var label: String
    var color: String
    var style: Style
}

/// A figure: a title, shared axes, panels on a grid and a legend on the right.
struct FigureSpec: Sendable {
    /// File name stem (`figures/<name>.svg`) and element id.
    var name: String
    var title: String
    var x: AxisSpec
    var y: AxisSpec
    var panels: [PlotPanel]
    var legendTitle: String?
    var legend: [LegendEntry]
    var columns = 3
    /// Width of one panel; wider for a lone panel with many bars.
    var cellWidth = 340.0
}

/// Colors for unordered categories (Okabe–Ito, colorblind-safe, without yellow).
let categoricalColors = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#8C564B"]

/// Colors for ordered values, dark to light (viridis, stopping before its pale yellow end).
func sequentialColor(_ i: Int, of n: Int) -> String {
    let stops: [(Double, Double, Double)] = [
        (68, 1, 84), (72, 40, 120), (62, 74, 137), (49, 104, 142), (38, 130, 142),
        (31, 158, 137), (53, 183, 121), (109, 205, 89), (180, 222, 44),
    ]
    let t = n <= 1 ? 0 : Double(i) / Double(n - 1)
    let position = t * Double(stops.count - 1)
    let k = min(Int(position), stops.count - 2)
    let f = position - Double(k)
    func mix(_ a: Double, _ b: Double) -> Int { Int((a + (b - a) * f).rounded()) }
    let (r, g, b) = (mix(stops[k].0, stops[k + 1].0), mix(stops[k].1, stops[k + 1].1), mix(stops[k].2, stops[k + 1].2))
    return String(format: "#%02X%02X%02X", r, g, b)
}

/// Escapes text for HTML and XML (element content and attribute values).
func escapeXML(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for c in text.unicodeScalars {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.unicodeScalars.append(c)
        }
    }
    return out
}

/// A coordinate with one decimal (enough on screen, short and deterministic).
func coordinate(_ v: Double) -> String {
    let s = String(format: "%.1f", v)
    return s == "-0.0" ? "0.0" : s
}

/// A resolved axis: range in scale space, ticks and their labels.
struct ResolvedAxis {
    let scale: AxisScale
    let lower: Double
    let upper: Double
    let ticks: [(position: Double, label: String)]

    func position(_ value: Double) -> Double? {
        switch scale {
        case .linear: return value
        case .log2: return value > 0 ? Foundation.log2(value) : nil
        }
    }

    /// Maps a value to the pixel interval [from, to].
    func pixel(_ value: Double, from: Double, to: Double) -> Double? {
        guard let p = position(value) else { return nil }
        return from + (p - lower) / (upper - lower) * (to - from)
    }

    /// Fits an axis to values (scale space is computed here), with nice ticks.
    static func fit(_ spec: AxisSpec, values: [Double]) -> ResolvedAxis {
        var data = values.filter(\.isFinite)
        if let include = spec.include { data += [include.lowerBound, include.upperBound] }
        switch spec.scale {
        case .log2:
            let exponents = data.filter { $0 > 0 }.map { Foundation.log2($0) }
            var lo = (exponents.min() ?? 0).rounded(.down)
            var hi = (exponents.max() ?? 1).rounded(.up)
            if hi - lo < 1 { lo -= 0.5; hi += 0.5 }
            let span = hi - lo
            let pad = span * 0.06
            let step = max(1, Int((span / 8).rounded(.up)))
            var ticks: [(Double, String)] = []
            var e = Int(lo.rounded(.up))
            while Double(e) <= hi {
                if e % step == 0 || step == 1 {
                    let value = Foundation.pow(2.0, Double(e))
                    ticks.append((Double(e), value >= 1 ? String(Int(value)) : numberLabel(value, step: value)))
                }
                e += 1
            }
            return ResolvedAxis(scale: .log2, lower: lo - pad, upper: hi + pad, ticks: ticks)
        case .linear:
            var lo = data.min() ?? 0
            var hi = data.max() ?? 1
            // A (nearly) flat series gets a readable span instead of ticks in the 6th decimal.
            let minimumSpan = Swift.max(spec.minimumSpan, Swift.max(abs(lo), abs(hi)) * 0.05)
            if hi - lo < minimumSpan {
                let d = (minimumSpan - (hi - lo)) / 2
                lo -= d
                hi += d
            }
            let step = spec.integer ? Swift.max(1, niceStep((hi - lo) / 5)) : niceStep((hi - lo) / 5)
            let first = (lo / step).rounded(.down) * step
            let last = (hi / step).rounded(.up) * step
            var ticks: [(Double, String)] = []
            var k = 0
            while true {
                let t = first + Double(k) * step
                if t > last + step * 1e-9 { break }
                ticks.append((t, numberLabel(t, step: step)))
                k += 1
            }
            if let limits = spec.limits {
                let kept = ticks.filter { limits.contains($0.0) }
                return ResolvedAxis(
                    scale: .linear, lower: max(first, limits.lowerBound), upper: min(last, limits.upperBound), ticks: kept)
            }
            return ResolvedAxis(scale: .linear, lower: first, upper: last, ticks: ticks)
        }
    }

    /// 1, 2 or 5 times a power of ten, at least `raw`.
    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0, raw.isFinite else { return 1 }
        let magnitude = Foundation.pow(10, (Foundation.log10(raw)).rounded(.down))
        let f = raw / magnitude
        let nice: Double = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10
        return nice * magnitude
    }

    /// A tick label with as many decimals as the step needs.
    static func numberLabel(_ v: Double, step: Double) -> String {
        let decimals = Swift.max(0, Swift.min(6, Int((-Foundation.log10(step)).rounded(.up))))
        let s = String(format: "%.\(decimals)f", v)
        return s.hasPrefix("-") && Double(s) == 0 ? String(s.dropFirst()) : s
    }
}

/// Layout constants of a figure, in SVG user units (pixels at 100%).
private enum Layout {
    static let cellHeight = 270.0
    static let marginLeft = 62.0
    static let marginRight = 14.0
    static let marginTop = 30.0
    static let marginBottom = 48.0
    static let titleHeight = 34.0
    static let legendLine = 20.0
    static let font = "DejaVu Sans, Helvetica, Arial, sans-serif"
}

/// Renders a figure to a standalone SVG document (no XML prolog, so it can also be inlined in HTML).
func renderSVG(_ figure: FigureSpec) -> String {
    let allSeries = figure.panels.flatMap(\.series)
    let allPoints = allSeries.flatMap(\.points)
    // Bars span their width and start at 0.
    let barEdges = allSeries.flatMap { series in
        series.barWidth.map { w in series.points.flatMap { [$0.x - w / 2, $0.x + w / 2] } } ?? []
    }
    let xAxis = ResolvedAxis.fit(figure.x, values: allPoints.map(\.x) + barEdges)
    var yValues: [Double] = allPoints.flatMap { p -> [Double] in [p.y] + [p.low, p.high].compactMap { $0 } }.map(figure.y.clamped)
    for reference in figure.panels.flatMap(\.references) {
        yValues.append(reference.y)
        yValues += [reference.low, reference.high].compactMap { $0 }.map(figure.y.clamped)
    }
    if allSeries.contains(where: { $0.barWidth != nil }) { yValues.append(0) }
    let yAxis = ResolvedAxis.fit(figure.y, values: yValues)

    let columns = max(1, min(figure.columns, figure.panels.count))
    let rows = max(1, (figure.panels.count + columns - 1) / columns)
    let longestLabel = ([figure.legendTitle ?? ""] + figure.legend.map(\.label)).map(\.count).max() ?? 0
    let legendWidth = figure.legend.isEmpty ? 0 : Double(max(110, longestLabel * 7 + 44))
    let plotsWidth = Double(columns) * figure.cellWidth
    // Wide enough for the title (about 9 units a character at 15px bold).
    let width = max(plotsWidth + legendWidth + 10, Double(figure.title.count) * 9 + 24)
    let legendHeight = Double(figure.legend.count + (figure.legendTitle == nil ? 0 : 1)) * Layout.legendLine + 20
    let height = Layout.titleHeight + max(Double(rows) * Layout.cellHeight, legendHeight) + 8

    var svg = ""
    svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"fig-\(escapeXML(figure.name))\" class=\"figure\" "
    svg += "viewBox=\"0 0 \(coordinate(width)) \(coordinate(height))\" width=\"\(coordinate(width))\" height=\"\(coordinate(height))\" "
    svg += "font-family=\"\(Layout.font)\" font-size=\"12\">\n"
    svg += "<rect x=\"0\" y=\"0\" width=\"\(coordinate(width))\" height=\"\(coordinate(height))\" fill=\"#ffffff\"/>\n"
    svg += "<text class=\"title\" x=\"12\" y=\"22\" font-size=\"15\" font-weight=\"bold\">\(escapeXML(figure.title))</text>\n"

    for (index, panel) in figure.panels.enumerated() {
        let ox = Double(index % columns) * figure.cellWidth
        let oy = Layout.titleHeight + Double(index / columns) * Layout.cellHeight
        svg += renderPanel(panel, xAxis: xAxis, yAxis: yAxis, figure: figure, originX: ox, originY: oy)
    }

    if !figure.legend.isEmpty {
        var y = Layout.titleHeight + 16
        let x = plotsWidth + 4
        svg += "<g class=\"legend\">\n"
        if let title = figure.legendTitle {
            svg += "<text x=\"\(coordinate(x))\" y=\"\(coordinate(y + 4))\" font-weight=\"bold\">\(escapeXML(title))</text>\n"
            y += Layout.legendLine
        }
        for entry in figure.legend {
            switch entry.style {
            case .lineAndMarker(let shape):
                svg += "<line x1=\"\(coordinate(x))\" y1=\"\(coordinate(y))\" x2=\"\(coordinate(x + 28))\" y2=\"\(coordinate(y))\" stroke=\"\(entry.color)\" stroke-width=\"2\"/>"
                svg += marker(shape, x: x + 14, y: y, radius: 3.5, color: entry.color, tooltip: nil)
            case .dashedLineAndMarker(let shape):
                svg += "<line x1=\"\(coordinate(x))\" y1=\"\(coordinate(y))\" x2=\"\(coordinate(x + 28))\" y2=\"\(coordinate(y))\" stroke=\"\(entry.color)\" stroke-width=\"2\" stroke-dasharray=\"5 3\"/>"
                svg += marker(shape, x: x + 14, y: y, radius: 3.5, color: entry.color, tooltip: nil)
            case .marker(let shape):
                svg += marker(shape, x: x + 14, y: y, radius: 4, color: entry.color, tooltip: nil)
            case .dashedLine:
                svg += "<line x1=\"\(coordinate(x))\" y1=\"\(coordinate(y))\" x2=\"\(coordinate(x + 28))\" y2=\"\(coordinate(y))\" stroke=\"\(entry.color)\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/>"
            case .lineWithBand(let shape, let dashed):
                svg += "<rect x=\"\(coordinate(x))\" y=\"\(coordinate(y - 6))\" width=\"28\" height=\"12\" fill=\"\(entry.color)\" fill-opacity=\"\(bandOpacity)\"/>"
                let dash = dashed ? " stroke-dasharray=\"6 4\"" : ""
                svg += "<line x1=\"\(coordinate(x))\" y1=\"\(coordinate(y))\" x2=\"\(coordinate(x + 28))\" y2=\"\(coordinate(y))\" stroke=\"\(entry.color)\" stroke-width=\"2\"\(dash)/>"
                if let shape { svg += marker(shape, x: x + 14, y: y, radius: 3.5, color: entry.color, tooltip: nil) }
            case .bar:
                svg += "<rect x=\"\(coordinate(x + 6))\" y=\"\(coordinate(y - 6))\" width=\"16\" height=\"12\" fill=\"\(entry.color)\"/>"
            }
            svg += "<text x=\"\(coordinate(x + 36))\" y=\"\(coordinate(y + 4))\">\(escapeXML(entry.label))</text>\n"
            y += Layout.legendLine
        }
        svg += "</g>\n"
    }
    svg += "</svg>\n"
    return svg
}

private func renderPanel(
    _ panel: PlotPanel, xAxis: ResolvedAxis, yAxis: ResolvedAxis, figure: FigureSpec, originX: Double, originY: Double
) -> String {
    let left = originX + Layout.marginLeft
    let right = originX + figure.cellWidth - Layout.marginRight
    let top = originY + Layout.marginTop
    let bottom = originY + Layout.cellHeight - Layout.marginBottom
    var svg = "<g class=\"panel\">\n"
    if let title = panel.title {
        svg += "<text class=\"panel-title\" x=\"\(coordinate((left + right) / 2))\" y=\"\(coordinate(top - 10))\" text-anchor=\"middle\" font-size=\"13\">\(escapeXML(title))</text>\n"
    }
    svg += "<rect x=\"\(coordinate(left))\" y=\"\(coordinate(top))\" width=\"\(coordinate(right - left))\" height=\"\(coordinate(bottom - top))\" fill=\"#fafafa\" stroke=\"#999999\"/>\n"
    // Grid and ticks.
    for tick in xAxis.ticks {
        let px = left + (tick.position - xAxis.lower) / (xAxis.upper - xAxis.lower) * (right - left)
        svg += "<line x1=\"\(coordinate(px))\" y1=\"\(coordinate(top))\" x2=\"\(coordinate(px))\" y2=\"\(coordinate(bottom))\" stroke=\"#e3e3e3\"/>"
        svg += "<line x1=\"\(coordinate(px))\" y1=\"\(coordinate(bottom))\" x2=\"\(coordinate(px))\" y2=\"\(coordinate(bottom + 4))\" stroke=\"#666666\"/>"
        svg += "<text class=\"tick\" x=\"\(coordinate(px))\" y=\"\(coordinate(bottom + 17))\" text-anchor=\"middle\">\(escapeXML(tick.label))</text>\n"
    }
    for tick in yAxis.ticks {
        let py = bottom - (tick.position - yAxis.lower) / (yAxis.upper - yAxis.lower) * (bottom - top)
        svg += "<line x1=\"\(coordinate(left))\" y1=\"\(coordinate(py))\" x2=\"\(coordinate(right))\" y2=\"\(coordinate(py))\" stroke=\"#e3e3e3\"/>"
        svg += "<line x1=\"\(coordinate(left - 4))\" y1=\"\(coordinate(py))\" x2=\"\(coordinate(left))\" y2=\"\(coordinate(py))\" stroke=\"#666666\"/>"
        svg += "<text class=\"tick\" x=\"\(coordinate(left - 7))\" y=\"\(coordinate(py + 4))\" text-anchor=\"end\">\(escapeXML(tick.label))</text>\n"
    }
    // Axis labels.
    svg += "<text class=\"axis-label\" x=\"\(coordinate((left + right) / 2))\" y=\"\(coordinate(bottom + 36))\" text-anchor=\"middle\" font-size=\"12.5\">\(escapeXML(figure.x.label))</text>\n"
    let ly = (top + bottom) / 2
    svg += "<text class=\"axis-label\" x=\"\(coordinate(originX + 16))\" y=\"\(coordinate(ly))\" text-anchor=\"middle\" font-size=\"12.5\" transform=\"rotate(-90 \(coordinate(originX + 16)) \(coordinate(ly)))\">\(escapeXML(figure.y.label))</text>\n"

    func px(_ x: Double) -> Double? { xAxis.pixel(x, from: left, to: right) }
    func py(_ y: Double) -> Double? { yAxis.pixel(y, from: bottom, to: top) }

    for reference in panel.references {
        if let low = reference.low.map(figure.y.clamped), let high = reference.high.map(figure.y.clamped),
           let y0 = py(low), let y1 = py(high) {
            svg += "<rect class=\"reference-band\" x=\"\(coordinate(left))\" y=\"\(coordinate(min(y0, y1)))\" width=\"\(coordinate(right - left))\" height=\"\(coordinate(abs(y0 - y1)))\" fill=\"\(reference.color)\" fill-opacity=\"\(bandOpacity)\"><title>\(escapeXML(reference.label))</title></rect>\n"
        }
    }
    for reference in panel.references {
        guard let y = py(reference.y) else { continue }
        svg += "<line class=\"reference\" x1=\"\(coordinate(left))\" y1=\"\(coordinate(y))\" x2=\"\(coordinate(right))\" y2=\"\(coordinate(y))\" stroke=\"\(reference.color)\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"><title>\(escapeXML(reference.label))</title></line>\n"
    }
    // Lines with error bars at shared x values are shifted apart a little so the bars don't hide each other.
    let hasErrorBars = { (s: PlotSeries) in s.connect && !s.band && s.barWidth == nil && s.points.contains { $0.low != nil } }
    let barred = panel.series.filter(hasErrorBars).count
    var barredIndex = 0
    for series in panel.series {
        if let width = series.barWidth {
            svg += renderBars(series, width: width, figure: figure, px: px, py: py)
            continue
        }
        var dodge = 0.0
        if barred > 1, hasErrorBars(series) {
            dodge = (Double(barredIndex) - Double(barred - 1) / 2) * 4
            barredIndex += 1
        }
        let placed = series.points.compactMap { p -> (Double, Double, PlotPoint)? in
            guard let x = px(p.x), let y = py(p.y) else { return nil }
            return (x + dodge, y, p)
        }
        svg += "<g class=\"series\" data-series=\"\(escapeXML(series.label))\">"
        if series.band {
            // One polygon: along the upper ends left to right, back along the lower ends.
            let ends = series.points.compactMap { p -> (x: Double, low: Double, high: Double)? in
                guard let x = px(p.x), let low = p.low.map(figure.y.clamped), let high = p.high.map(figure.y.clamped),
                      let y0 = py(low), let y1 = py(high) else { return nil }
                return (x, y0, y1)
            }
            if ends.count >= 2 {
                let outline = (ends.map { ($0.x, $0.high) } + ends.reversed().map { ($0.x, $0.low) })
                    .map { "\(coordinate($0.0)),\(coordinate($0.1))" }.joined(separator: " ")
                svg += "<polygon class=\"band\" points=\"\(outline)\" fill=\"\(series.color)\" fill-opacity=\"\(bandOpacity)\" stroke=\"none\"/>"
            }
        }
        if series.connect, placed.count >= 1 {
            let list = placed.map { "\(coordinate($0.0)),\(coordinate($0.1))" }.joined(separator: " ")
            let dash = series.dashed ? " stroke-dasharray=\"6 4\"" : ""
            svg += "<polyline points=\"\(list)\" fill=\"none\" stroke=\"\(series.color)\" stroke-width=\"2\"\(dash)/>"
        }
        for (x, _, p) in placed where !series.band {
            guard let low = p.low.map(figure.y.clamped), let high = p.high.map(figure.y.clamped),
                  let y0 = py(low), let y1 = py(high) else { continue }
            svg += "<path class=\"errorbar\" d=\"M\(coordinate(x)) \(coordinate(y0))V\(coordinate(y1))M\(coordinate(x - 4)) \(coordinate(y0))H\(coordinate(x + 4))M\(coordinate(x - 4)) \(coordinate(y1))H\(coordinate(x + 4))\" stroke=\"\(series.color)\" stroke-width=\"1.3\" fill=\"none\"/>"
        }
        for (x, y, p) in placed {
            svg += marker(series.marker, x: x, y: y, radius: series.markerRadius, color: series.color, tooltip: p.tooltip)
        }
        svg += "</g>\n"
    }
    svg += "</g>\n"
    return svg
}

/// Opacity of interval bands: light enough that overlapping bands and the lines stay readable.
private let bandOpacity = "0.16"

/// Bars from 0 to each point's y, `width` x units wide, with the point's tooltip.
private func renderBars(
    _ series: PlotSeries, width: Double, figure: FigureSpec, px: (Double) -> Double?, py: (Double) -> Double?
) -> String {
    var svg = "<g class=\"series bars\" data-series=\"\(escapeXML(series.label))\">"
    for p in series.points {
        guard let x0 = px(p.x - width / 2), let x1 = px(p.x + width / 2), let y0 = py(figure.y.clamped(0)),
              let y1 = py(figure.y.clamped(p.y)) else { continue }
        svg += "<rect class=\"bar\" x=\"\(coordinate(min(x0, x1)))\" y=\"\(coordinate(min(y0, y1)))\" width=\"\(coordinate(abs(x1 - x0)))\" height=\"\(coordinate(abs(y0 - y1)))\" fill=\"\(series.color)\" stroke=\"#ffffff\" stroke-width=\"0.5\">"
        svg += p.tooltip.map { "<title>\(escapeXML($0))</title>" } ?? ""
        svg += "</rect>"
    }
    return svg + "</g>\n"
}

private func marker(_ shape: MarkerShape, x: Double, y: Double, radius r: Double, color: String, tooltip: String?) -> String {
    let body: String
    switch shape {
    case .circle:
        body = "<circle class=\"marker\" cx=\"\(coordinate(x))\" cy=\"\(coordinate(y))\" r=\"\(coordinate(r))\" fill=\"\(color)\""
    case .square:
        body = "<rect class=\"marker\" x=\"\(coordinate(x - r))\" y=\"\(coordinate(y - r))\" width=\"\(coordinate(2 * r))\" height=\"\(coordinate(2 * r))\" fill=\"\(color)\""
    case .triangle:
        let s = r * 1.25
        body = "<polygon class=\"marker\" points=\"\(coordinate(x)),\(coordinate(y - s)) \(coordinate(x - s)),\(coordinate(y + s * 0.8)) \(coordinate(x + s)),\(coordinate(y + s * 0.8))\" fill=\"\(color)\""
    case .diamond:
        let s = r * 1.3
        body = "<polygon class=\"marker\" points=\"\(coordinate(x)),\(coordinate(y - s)) \(coordinate(x + s)),\(coordinate(y)) \(coordinate(x)),\(coordinate(y + s)) \(coordinate(x - s)),\(coordinate(y))\" fill=\"\(color)\""
    }
    if let tooltip {
        return body + "><title>\(escapeXML(tooltip))</title></\(shape == .circle ? "circle" : shape == .square ? "rect" : "polygon")>"
    }
    return body + "/>"
}
