import Testing
@testable import Report

@Suite struct SVGPlotTests {
    @Test func niceLinearTicks() {
        let axis = ResolvedAxis.fit(AxisSpec(label: "y"), values: [0.12, 0.87])
        #expect(axis.ticks.map(\.label) == ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"])
        #expect(axis.lower == 0 && axis.upper == 1)
    }

    @Test func log2TicksArePowersOfTwo() {
        let axis = ResolvedAxis.fit(AxisSpec(label: "g", scale: .log2), values: [1, 2, 4, 8, 16, 32])
        #expect(axis.ticks.map(\.label) == ["1", "2", "4", "8", "16", "32"])
        #expect(axis.pixel(4, from: 0, to: 100)! > axis.pixel(2, from: 0, to: 100)!)
        #expect(axis.pixel(0, from: 0, to: 100) == nil)
    }

    @Test func constantDataStillHasARange() {
        let axis = ResolvedAxis.fit(AxisSpec(label: "y"), values: [0.5, 0.5])
        #expect(axis.lower < 0.5 && axis.upper > 0.5)
        #expect(axis.ticks.count >= 2)
    }

    @Test func figureHasSeriesErrorBarsReferenceAndLegend() {
        let figure = FigureSpec(
            name: "t", title: "A <title>", x: AxisSpec(label: "x axis", scale: .log2), y: AxisSpec(label: "y axis"),
            panels: [
                PlotPanel(
                    title: "panel", series: [
                        PlotSeries(label: "a", color: "#000000", points: [PlotPoint(x: 1, y: 0.2, low: 0.1, high: 0.3), PlotPoint(x: 4, y: 0.4)]),
                        PlotSeries(label: "b", color: "#ff0000", marker: .square, connect: false, points: [PlotPoint(x: 2, y: 0.3)]),
                    ], references: [ReferenceLine(y: 0.25, color: "#000000", label: "base")]),
            ],
            legendTitle: "legend", legend: [LegendEntry(label: "a", color: "#000000", style: .lineAndMarker(.circle))])
        let svg = renderSVG(figure)
        #expect(count("<polyline", in: svg) == 1)
        #expect(count("class=\"errorbar\"", in: svg) == 1)
        #expect(count("class=\"reference\"", in: svg) == 1)
        #expect(count("class=\"marker\"", in: svg) == 4)  // 3 points + 1 legend marker
        #expect(svg.contains("A &lt;title&gt;"))
        #expect(svg.contains(">x axis<") && svg.contains(">y axis<"))
        #expect(svg == renderSVG(figure))
    }
}

@Suite struct SVGPlotBandTests {
    /// y from 0 to 1 over the panel's 192 units: a band of ±0.1 around 0.5 is 38.4 units high.
    @Test func referenceBandSpansItsInterval() {
        let figure = FigureSpec(
            name: "b", title: "bands", x: AxisSpec(label: "x"), y: AxisSpec(label: "y", limits: 0...1),
            panels: [PlotPanel(
                title: nil, series: [PlotSeries(label: "a", color: "#000000", points: [PlotPoint(x: 0, y: 0), PlotPoint(x: 1, y: 1)])],
                references: [ReferenceLine(y: 0.5, color: "#ff0000", label: "base", low: 0.4, high: 0.6)])],
            legendTitle: nil, legend: [])
        let svg = renderSVG(figure)
        #expect(svg.contains("class=\"reference-band\" x=\"62.0\" y=\"140.8\" width=\"264.0\" height=\"38.4\""))
        #expect(svg.contains("class=\"reference\" x1=\"62.0\" y1=\"160.0\""))
    }

    @Test func seriesBandReplacesErrorBars() {
        let points = (1...4).map { PlotPoint(x: Double($0), y: 0.5, low: 0.4, high: 0.6) }
        let figure = FigureSpec(
            name: "c", title: "curve", x: AxisSpec(label: "epoch", integer: true), y: AxisSpec(label: "y", limits: 0...1),
            panels: [PlotPanel(title: nil, series: [PlotSeries(label: "a", color: "#000000", band: true, points: points)])],
            legendTitle: nil, legend: [LegendEntry(label: "a", color: "#000000", style: .lineWithBand(.circle, dashed: false))])
        let svg = renderSVG(figure)
        #expect(count("<polygon class=\"band\"", in: svg) == 1)
        #expect(count("class=\"errorbar\"", in: svg) == 0)
        // 4 points along the top, back along the bottom.
        let band = svg.components(separatedBy: "<polygon class=\"band\" points=\"")[1].prefix { $0 != "\"" }
        #expect(band.split(separator: " ").count == 8)
    }

    @Test func barsStartAtZero() {
        let figure = FigureSpec(
            name: "h", title: "bars", x: AxisSpec(label: "x"), y: AxisSpec(label: "n", integer: true, limits: 0...Double.greatestFiniteMagnitude),
            panels: [PlotPanel(title: nil, series: [PlotSeries(label: "n", color: "#000000", barWidth: 1, points: [PlotPoint(x: 0.5, y: 2), PlotPoint(x: 1.5, y: 4)])])],
            legendTitle: nil, legend: [])
        let svg = renderSVG(figure)
        #expect(count("<rect class=\"bar\"", in: svg) == 2)
        let axis = ResolvedAxis.fit(figure.y, values: [0, 2, 4])
        #expect(axis.lower == 0)
    }
}
