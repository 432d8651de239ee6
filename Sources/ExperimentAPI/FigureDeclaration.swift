/// A figure a family asks the report to draw: a metric against a parameter (or per epoch), one
/// line per value of a series parameter, one panel per combination of facet parameters, and a
/// reference (e.g. the from-scratch baseline) drawn dashed in the color of the line it matches.
///
/// Families declare figures through ``ExperimentFamily/figures``; one that declares none gets the
/// report's generic figures (each metric against each varying parameter, each curve per epoch).
/// Every point is the mean over seeds of the finished tasks it pools, with its 95% t-interval.
public struct FigureDeclaration: Sendable, Hashable {
    /// What the x axis is.
    public enum XAxis: Sendable, Hashable {
        /// A numeric parameter; `log2` draws it on a log2 scale.
        case parameter(String, log2: Bool)
        /// The epochs of a curve phase (the y metric is then a curve metric).
        case epoch(phase: String)
        /// Another final metric: a scatter, one point per task (no averaging).
        case metric(String)
    }
    /// How lines are colored: distinct hues, or a dark-to-light ramp for an ordered series.
    public enum Palette: Sendable, Hashable {
        case categorical, sequential
    }
    /// Tasks drawn as a reference rather than as a line: those whose `parameter` is `value`.
    ///
    /// A reference run belongs to a panel when it matches the panel's facets that vary among the
    /// reference runs, except those in `ignoring` (a from-scratch baseline run at one alignment
    /// serves the panels of every alignment); with `matchesEveryFacet`, every facet but those.
    public struct Reference: Sendable, Hashable {
        public let parameter: String
        public let value: String
        /// Legend text, e.g. "from scratch (pretrain: none)".
        public let label: String
        /// The prefix of each reference line's own label and tooltip, e.g. "from scratch".
        public let lineLabel: String
        public let ignoring: [String]
        /// The color of a reference not drawn per series.
        public let color: String
        public let matchesEveryFacet: Bool
        public init(parameter: String, value: String, label: String, lineLabel: String? = nil, ignoring: [String] = [],
                    color: String = "#555555", matchesEveryFacet: Bool = false) {
            self.matchesEveryFacet = matchesEveryFacet
            self.parameter = parameter
            self.value = value
            self.label = label
            self.lineLabel = lineLabel ?? label
            self.ignoring = ignoring
            self.color = color
        }
    }

    /// How the figure is labelled where the defaults (parameter and metric names) are not enough.
    public struct Presentation: Sendable, Hashable {
        /// Axis labels; nil: the parameter or metric name.
        public var xLabel: String?
        public var yLabel: String?
        /// The y metric's possible values (accuracies: 0...1): intervals are cut at it.
        public var yLimits: ClosedRange<Double>?
        /// The legend's title; "%n" becomes the number of tasks per point ("n = 3").
        public var legendTitle: String?
        /// How a series value is named in labels and tooltips ("g" for "g 8"); nil: the parameter.
        public var seriesName: String?
        /// The sentence replacing the figure when its metric is flat: "%metric", "%value" and
        /// "%tasks" are filled in. Nil: "<title> is not drawn: %metric is %value in all %tasks tasks."
        public var flatSentence: String?
        public var palette: Palette
        /// How x and y are named in tooltips ("g 8", "common 0.97"); nil: the parameter or metric.
        public var xName: String?
        public var yName: String?
        /// The width of one panel in pixels; nil: 520 for a single panel, 340 for several.
        public var panelWidth: Double?
        /// The whole caption, replacing the declared caption and the report's sentences on how
        /// points are made: "%n" becomes the tasks per point ("n = 3"), "%refn" the reference's,
        /// "%panels" the panels sentence (empty for one panel). `captionWithoutReference` is used
        /// instead when no reference task is drawn.
        public var captionTemplate: String?
        public var captionWithoutReference: String?
        public init(xLabel: String? = nil, yLabel: String? = nil, yLimits: ClosedRange<Double>? = nil, legendTitle: String? = nil,
                    seriesName: String? = nil, flatSentence: String? = nil, palette: Palette = .categorical,
                    xName: String? = nil, yName: String? = nil, panelWidth: Double? = nil,
                    captionTemplate: String? = nil, captionWithoutReference: String? = nil) {
            self.captionTemplate = captionTemplate
            self.captionWithoutReference = captionWithoutReference
            self.xName = xName
            self.yName = yName
            self.panelWidth = panelWidth
            self.xLabel = xLabel
            self.yLabel = yLabel
            self.yLimits = yLimits
            self.legendTitle = legendTitle
            self.seriesName = seriesName
            self.flatSentence = flatSentence
            self.palette = palette
        }
    }

    /// File name stem (`figures/<name>.svg`); unique within a family.
    public let name: String
    public let title: String
    public let x: XAxis
    /// A final metric (or, with an epoch axis, a curve metric).
    public let y: String
    /// Draw y on a log10 scale (for risks spanning decades).
    public let yLog: Bool
    /// The parameter whose values make the lines (nil: one line).
    public let series: String?
    /// Parameters whose value combinations make the panels (those that vary).
    public let facets: [String]
    /// Also one panel per value of every other parameter that varies (after `facets`), except
    /// the x axis, the series and the reference's parameters.
    public let otherFacets: Bool
    /// Only tasks whose parameter has one of the listed values (e.g. `model: [deep_linear]`).
    public let only: [String: [String]]
    public let reference: Reference?
    /// A sentence under the figure saying what to look for.
    public let caption: String
    public let presentation: Presentation

    public init(name: String, title: String, x: XAxis, y: String, yLog: Bool = false, series: String? = nil,
                facets: [String] = [], otherFacets: Bool = false, only: [String: [String]] = [:], reference: Reference? = nil,
                caption: String, presentation: Presentation = Presentation()) {
        self.name = name
        self.title = title
        self.x = x
        self.y = y
        self.yLog = yLog
        self.series = series
        self.facets = facets
        self.otherFacets = otherFacets
        self.only = only
        self.reference = reference
        self.caption = caption
        self.presentation = presentation
    }
}
