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
