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
    }
    /// Tasks drawn as a reference rather than as a line: those whose `parameter` is `value`.
    public struct Reference: Sendable, Hashable {
        public let parameter: String
        public let value: String
        /// Legend text, e.g. "from scratch".
        public let label: String
        public init(parameter: String, value: String, label: String) {
            self.parameter = parameter
            self.value = value
            self.label = label
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
    /// Parameters whose value combinations make the panels.
    public let facets: [String]
    /// Only tasks whose parameter has one of the listed values (e.g. `model: [deep_linear]`).
    public let only: [String: [String]]
    public let reference: Reference?
    /// A sentence under the figure saying what to look for.
    public let caption: String

    public init(name: String, title: String, x: XAxis, y: String, yLog: Bool = false, series: String? = nil,
                facets: [String] = [], only: [String: [String]] = [:], reference: Reference? = nil, caption: String) {
        self.name = name
        self.title = title
        self.x = x
        self.y = y
        self.yLog = yLog
        self.series = series
        self.facets = facets
        self.only = only
        self.reference = reference
        self.caption = caption
    }
}
