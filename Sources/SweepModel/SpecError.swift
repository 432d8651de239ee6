/// One thing wrong with a sweep spec, located in its file.
///
/// Printed as `FILE:LINE:COLUMN: error: PATH: found FOUND, expected EXPECTED (HINT)`, the form
/// compilers use, so that editors jump to it.
public struct SpecError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of problem it is; a struct rather than an enum so that kinds can be added.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        public let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The file could not be read.
        public static let unreadable = Code("unreadable")
        /// Not YAML (the YAML parser's own message).
        public static let syntax = Code("syntax")
        /// A key that the spec format or the family does not know.
        public static let unknownKey = Code("unknownKey")
        /// The same key twice in one mapping.
        public static let duplicateKey = Code("duplicateKey")
        /// A required key is missing.
        public static let missing = Code("missing")
        /// A node of the wrong shape or kind (a list where a value belongs, text where a number belongs).
        public static let wrongType = Code("wrongType")
        /// A value outside its parameter's domain.
        public static let outOfDomain = Code("outOfDomain")
        /// NaN or an infinity.
        public static let nonFinite = Code("nonFinite")
        /// A parameter set in two places (base and axes, two zip groups...).
        public static let conflict = Code("conflict")
        /// A malformed range (`{linspace: ...}`, `{from: ...}`).
        public static let badRange = Code("badRange")
        /// Zip lists of different lengths.
        public static let zipLength = Code("zipLength")
        /// An exclude entry that names something that cannot match, or matches no task.
        public static let badExclude = Code("badExclude")
        /// The sweep name could escape an output directory or is otherwise unusable.
        public static let unsafeName = Code("unsafeName")
        /// The grid exceeds ``SweepLimits/maximumTasks``, or nothing is left.
        public static let gridSize = Code("gridSize")
        /// The family rejected a combination of values (``ExperimentAPI/ExperimentFamily/crossCheck(_:)``).
        public static let crossCheck = Code("crossCheck")
    }

    public let code: Code
    /// The spec's path as given to the loader.
    public let file: String
    /// 1-based line of the offending node; 0 when the file has no position (it could not be read).
    public let line: Int
    /// 1-based column (in Unicode scalars) of the offending node.
    public let column: Int
    /// Where in the spec: `axes.rare_freq[2]`, `zip[0].train_samples`, `exclude[1]`, `name`.
    public let path: String
    /// What was found, as written or described ("a list of 3 values").
    public let found: String
    /// What was expected, in words.
    public let expected: String
    /// A suggestion (did-you-mean, where to move a value), if any.
    public let hint: String?

    public init(
        code: Code, file: String, line: Int, column: Int, path: String, found: String, expected: String,
        hint: String? = nil
    ) {
        self.code = code
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        self.found = found
        self.expected = expected
        self.hint = hint
    }

    public var description: String {
        let position = line > 0 ? "\(file):\(line):\(column)" : file
        var text = "\(position): error: \(path): found \(found), expected \(expected)"
        if let hint { text += " (\(hint))" }
        return text
    }
}

/// All the errors of one spec, in file order: a loader reports every problem it finds at once.
public struct SpecErrors: Error, Sendable, CustomStringConvertible {
    public let errors: [SpecError]

    public init(_ errors: [SpecError]) { self.errors = errors }

    /// One error per line, then a count.
    public var description: String {
        let lines = errors.map(\.description)
        let count = errors.count == 1 ? "1 error" : "\(errors.count) errors"
        return (lines + ["\(count) in \(errors.first?.file ?? "the spec")"]).joined(separator: "\n")
    }
}
