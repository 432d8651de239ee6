import ExperimentAPI
import Foundation
import Yams

extension SpecReader {
    /// A dimension as read: its parameters and rows, with where each value came from.
    struct DraftDimension {
        /// `seeds`, `axes.width`, `zip[0]`.
        let label: String
        let names: [String]
        var rows: [[ParameterValue]] = []
        /// Per row, per column: the path and spot of the value, for messages.
        var sources: [[(path: String, spot: Spot)]] = []
        /// When set, every value is at this spot and row `r` has path `label[r]` (`seeds: 1000`
        /// would otherwise keep a thousand copies of one position).
        var sharedSpot: Spot?
        /// When set (the sample), row `r` is point `points[r]` and column `c` was written at
        /// `spots[c]` (its entry under sample.space).
        var sampled: (spots: [Spot], points: [Int])?

        func source(_ row: Int, _ column: Int) -> (path: String, spot: Spot) {
            if let sharedSpot { return ("\(label)[\(row)]", sharedSpot) }
            if let sampled { return ("\(label)[\(sampled.points[row])]", sampled.spots[column]) }
            return sources[row][column]
        }

        /// Keeps the rows at `indices` (increasing), with their sources.
        mutating func keepRows(_ indices: [Int]) {
            rows = indices.map { rows[$0] }
            if let sampled {
                self.sampled = (sampled.spots, indices.map { sampled.points[$0] })
            } else {
                sources = indices.map { sources[$0] }
            }
        }
    }

    /// One exclude entry, compiled: the task is excluded when, for every constrained dimension,
    /// its row is allowed by that dimension's mask.
    struct ExcludeRule {
        let path: String
        let spot: Spot
        let dimensions: [Int]
        let masks: [[Bool]]
        var matched = 0
    }

    /// Reads, validates and expands the spec; nil when it has errors (see ``errors``).
    func read() -> SweepPlan? {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                fail(.missing, at: .start, "(document)", found: "an empty file",
                     expected: "a mapping with name, axes and seeds (see sweeps/README.md)")
                return nil
            }
            root = node
        } catch let error as YamlError {
            reportSyntax(error)
            return nil
        } catch {
            fail(.syntax, at: .start, "(document)", found: "\(error)", expected: "valid YAML")
            return nil
        }
        guard case .mapping = root else {
            fail(.wrongType, root, "(document)", expected: "a mapping with name, axes and seeds (see sweeps/README.md)")
            return nil
        }

        // Top level.
        var top: [String: (keyNode: Node, value: Node)] = [:]
        for (key, keyNode, value) in entries(root, "") {
            guard SweepLoader.topLevelKeys.contains(key) else {
                fail(.unknownKey, keyNode, key, found: key, expected: "a top-level key (\(SweepLoader.topLevelKeys.joined(separator: ", ")))",
                     hint: closestName(to: key, among: SweepLoader.topLevelKeys).map { "did you mean '\($0)'?" })
                continue
            }
            top[key] = (keyNode, value)
        }

        let name = readName(top["name"]?.value)
        var descriptionText: String?
        if let node = top["description"]?.value {
            if case .scalar(let s) = node { descriptionText = s.string } else { fail(.wrongType, node, "description", expected: "text") }
        }

        var timeLimit: TimeLimit?
        if let node = top["time_limit"]?.value {
            if case .scalar(let s) = node, let parsed = TimeLimit(parsing: s.string) {
                timeLimit = parsed
            } else {
                fail(.wrongType, node, "time_limit", expected: "auto, none, or a positive duration in seconds or with a unit: 90, 90s, 15m, 2h")
            }
        }

        // The family.
        let family: any ExperimentFamily
        let isCommand: Bool = { if case .scalar(let s)? = top["experiment"]?.value { return s.string == "command" } else { return false } }()
        if !isCommand {
            for key in Self.commandKeys {
                if let entry = top[key] {
                    fail(.unknownKey, entry.keyNode, key, found: key, expected: "\(key) only in a spec with experiment: command")
                }
            }
        }
        if isCommand {
            guard let makeCommandFamily else {
                fail(.unknownKey, top["experiment"]!.value, "experiment", found: "command",
                     expected: "an experiment family of this build: " + families.keys.sorted().joined(separator: ", "))
                return nil
            }
            guard let definition = readCommandDefinition(top, root: root) else { return nil }
            family = makeCommandFamily(definition)
        } else if let node = top["experiment"]?.value {
            let known = (families.keys + (makeCommandFamily == nil ? [] : ["command"])).sorted()
            // Names are snake_case on the wire and in CSV; `linear-teachers` is read as `linear_teachers`.
            guard case .scalar(let s) = node,
                  let f = families[s.string] ?? families[s.string.replacingOccurrences(of: "-", with: "_")] else {
                fail(.unknownKey, node, "experiment", expected: "an experiment family: " + known.joined(separator: ", "),
                     hint: node.string.flatMap { closestName(to: $0, among: known) }.map { "did you mean '\($0)'?" })
                return nil
            }
            family = f
        } else if let f = families[defaultExperiment] {
            family = f
        } else {
            fail(.missing, root, "experiment", found: "no experiment", expected: "an experiment family: " + families.keys.sorted().joined(separator: ", "))
            return nil
        }
        let specs = Dictionary(uniqueKeysWithValues: family.parameters.map { ($0.name, $0) })
        let parameterNames = family.parameters.map(\.name)

        // The grid size, from the sizes of the lists and ranges alone, before any value is read or expanded.
        guard checkGridSize(top) else { return nil }

        /// Where each parameter is set so far: `base.width`, `axes.width`, `zip[0].width`.
        var setAt: [String: (path: String, spot: Spot)] = [:]

        /// Checks a parameter name used as a key in base, axes or zip.
        func parameter(_ key: String, _ keyNode: Node, _ path: String) -> ParameterSpec? {
            if key == "seed" {
                fail(.conflict, keyNode, path, found: "seed", expected: "a parameter of \(family.name) other than seed",
                     hint: "replicates are set by the top-level 'seeds'")
                return nil
            }
            guard let spec = specs[key] else {
                fail(.unknownKey, keyNode, path, found: key, expected: "a parameter of \(family.name)",
                     hint: suggestion(for: key, among: parameterNames))
                return nil
            }
            if let earlier = setAt[key] {
                fail(.conflict, keyNode, path, found: "\(key) set again", expected: "each parameter in one place",
                     hint: "already set by \(earlier.path) at line \(earlier.spot.line)")
                return nil
            }
            setAt[key] = (path, Spot(keyNode))
            return spec
        }

        // base
        var base: [(name: String, value: Sourced)] = []
        if let node = top["base"]?.value {
            if case .mapping = node {
                for (key, keyNode, value) in entries(node, "base") {
                    let path = "base." + key
                    guard let spec = parameter(key, keyNode, path) else { continue }
                    if case .scalar = value {
                        if let v = readParameterValue(value, spec, path) { base.append((key, v)) }
                    } else {
                        fail(.wrongType, value, path, expected: "one value (\(spec.expectation))", hint: "to sweep \(key), move it to axes")
                    }
                }
            } else if node.scalarReading.map({ if case .null = $0 { false } else { true } }) ?? true {
                fail(.wrongType, node, "base", expected: "a mapping of parameter: value")
            }
        }

        // seeds (the outermost dimension)
        var dimensions: [DraftDimension] = [readSeeds(top["seeds"]?.value)]

        // axes
        if let node = top["axes"]?.value {
            if case .mapping = node {
                for (key, keyNode, value) in entries(node, "axes") {
                    let path = "axes." + key
                    guard let spec = parameter(key, keyNode, path) else { continue }
                    guard let values = readValueList(value, spec, path) else { continue }
                    var dimension = DraftDimension(label: path, names: [key])
                    for v in values {
                        dimension.rows.append([v.value])
                        dimension.sources.append([(v.path, v.spot)])
                    }
                    dimensions.append(dimension)
                }
            } else if !isNull(node) {
                fail(.wrongType, node, "axes", expected: "a mapping of parameter: [values]")
            }
        }

        // zip
        if let node = top["zip"]?.value {
            if case .sequence(let groups) = node {
                for (g, group) in groups.enumerated() {
                    let groupPath = "zip[\(g)]"
                    guard case .mapping = group, !entries(group, groupPath).isEmpty else {
                        fail(.wrongType, group, groupPath, expected: "a mapping of parameter: [values], the lists of equal length")
                        continue
                    }
                    var members: [(name: String, values: [Sourced], node: Node)] = []
                    var ok = true
                    for (key, keyNode, value) in entries(group, groupPath) {
                        let path = groupPath + "." + key
                        guard let spec = parameter(key, keyNode, path), let values = readValueList(value, spec, path) else {
                            ok = false
                            continue
                        }
                        members.append((key, values, value))
                    }
                    guard ok, let first = members.first else { continue }
                    if let odd = members.first(where: { $0.values.count != first.values.count }) {
                        fail(.zipLength, odd.node, groupPath + "." + odd.name, found: "\(odd.values.count) values",
                             expected: "\(first.values.count) values, as many as \(groupPath).\(first.name)",
                             hint: "zip pairs the n-th values of each list")
                        continue
                    }
                    var dimension = DraftDimension(label: groupPath, names: members.map(\.name))
                    for r in 0..<first.values.count {
                        dimension.rows.append(members.map { $0.values[r].value })
                        dimension.sources.append(members.map { ($0.values[r].path, $0.values[r].spot) })
                    }
                    dimensions.append(dimension)
                }
            } else if case .mapping = node {
                fail(.wrongType, node, "zip", expected: "a list of groups", hint: "write '- {a: [...], b: [...]}' under zip")
            } else if !isNull(node) {
                fail(.wrongType, node, "zip", expected: "a list of groups, each a mapping of parameter: [values]")
            }
        }

        // sample: one dimension of n points, right after the seeds.
        let sampled = readSample(top["sample"]?.value, claim: parameter)
        if let sampled { dimensions.insert(sampled.dimension, at: 1) }

        // The grid as written (its size was checked before any value was read).
        var written = 1
        for dimension in dimensions { written *= dimension.rows.count }

        // Merge repeated values (after coercion 1 and 1.0 are one value) within each dimension.
        // Dimensions set disjoint parameters, so distinct rows in every dimension give distinct
        // tasks: the product of distinct rows has no duplicates left.
        var mergeNotes: [String] = []
        for d in dimensions.indices where dimensions[d].sharedSpot == nil {
            var firstRow: [[ParameterValue]: Int] = [:]
            var kept: [Int] = []
            for (r, row) in dimensions[d].rows.enumerated() {
                if let earlier = firstRow[row] {
                    let shown = row.map(\.canonicalText).joined(separator: ", ")
                    mergeNotes.append("\(dimensions[d].source(r, 0).path) (\(shown)) repeats \(dimensions[d].source(earlier, 0).path)")
                    continue
                }
                firstRow[row] = r
                kept.append(r)
            }
            if kept.count < dimensions[d].rows.count { dimensions[d].keepRows(kept) }
        }

        // exclude (checked even when other parts failed, skipping parameters whose values did not read)
        let unread = Set(setAt.keys).subtracting(dimensions.flatMap(\.names)).subtracting(base.map(\.name))
        var rules = readExcludes(top["exclude"]?.value, dimensions: dimensions, specs: specs, family: family, unread: unread)
        // The combination checks below still run when the problems so far leave every written
        // value known (a misspelled key, a bad name): one typo must not hide a rejected
        // combination elsewhere. Values that did not read, or excludes that did not, stop here.
        guard unread.isEmpty, errors.allSatisfy(Self.leavesValuesKnown) else { return nil }
        let gridCount = dimensions.reduce(1) { $0 * $1.rows.count }

        // The fixed parameters.
        var fixedValues: [String: ParameterValue] = [:]
        let baseByName = Dictionary(base.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
        let swept = Set(dimensions.flatMap(\.names))
        for spec in family.parameters where !swept.contains(spec.name) {
            if let given = baseByName[spec.name] {
                fixedValues[spec.name] = given.value
            } else {
                switch spec.coerce(spec.defaultValue) {
                case .success(let v): fixedValues[spec.name] = v
                case .failure(let problem):
                    fail(.outOfDomain, at: .start, "(default of \(spec.name))", found: problem.found,
                         expected: problem.expected, hint: "the family's default is invalid; set \(spec.name) in base")
                }
            }
        }
        guard errors.allSatisfy(Self.leavesValuesKnown) else { return nil }

        // Expand: check every combination the family will see, sum the estimates, find the kept ones.
        let fixed = ParameterSet(fixedValues)
        let gridDimensions = dimensions.map { GridLayout.Dimension(names: $0.names, rows: $0.rows) }
        let expansion = Expansion(
            dimensions: gridDimensions, fixed: fixedValues, rules: rules.map { ExclusionMask(dimensions: $0.dimensions, masks: $0.masks) },
            family: family, examples: limits.crossCheckExamples
        ).run()
        let kept = expansion.kept
        for i in rules.indices { rules[i].matched = expansion.matched[i] }

        for rule in rules where rule.matched == 0 {
            fail(.badExclude, at: rule.spot, rule.path, found: "an entry that matches no task",
                 expected: "an entry that matches a combination of the grid",
                 hint: "its values never occur together (zip rows pair values)")
        }
        let count = kept?.count ?? gridCount
        if count == 0 {
            fail(.gridSize, at: top["exclude"].map { Spot($0.keyNode) } ?? .start, "exclude",
                 found: "every one of the \(formatCount(gridCount)) tasks excluded", expected: "at least one task left")
        }
        var lastSpot = Spot.start
        for group in expansion.groups {
            lastSpot = reportCrossCheck(group, family: family, dimensions: dimensions, base: baseByName, root: root)
        }
        if expansion.otherProblemTasks > 0 {
            fail(.crossCheck, at: lastSpot, "(tasks)", found: "\(formatCount(expansion.otherProblemTasks)) more rejected combinations of other kinds",
                 expected: "combinations \(family.name) accepts", hint: "fix the ones above first")
        }
        guard errors.isEmpty, let name else { return nil }

        // Templates for ids and CSV rows.
        var identity = EncodingTemplate()
        identity.appendFixed(family.identity + "\n")
        var location: [String: (dimension: Int, column: Int)] = [:]
        for (d, dimension) in dimensions.enumerated() {
            for (c, parameterName) in dimension.names.enumerated() { location[parameterName] = (d, c) }
        }
        let allNames = family.allParameters.map(\.name)
        for parameterName in allNames.sorted() {
            if let (d, c) = location[parameterName] {
                identity.appendSlot(dimension: d, rows: dimensions[d].rows.map { parameterName + "=" + $0[c].canonicalText + "\n" })
            } else {
                identity.appendFixed(parameterName + "=" + fixedValues[parameterName]!.canonicalText + "\n")
            }
        }
        var csvRow = EncodingTemplate()
        for parameterName in allNames {
            if let (d, c) = location[parameterName] {
                csvRow.appendSlot(dimension: d, rows: dimensions[d].rows.map { "," + csvField($0[c].canonicalText) })
            } else {
                csvRow.appendFixed("," + csvField(fixedValues[parameterName]!.canonicalText))
            }
        }
        csvRow.appendFixed("\n")

        let layout = GridLayout(
            dimensions: gridDimensions,
            kept: kept, fixed: fixed, identity: identity, csvRow: csvRow)
        let axisDimensions = dimensions.filter { $0.label.hasPrefix("axes.") }
        let zipDimensions = dimensions.filter { $0.label.hasPrefix("zip[") }
        var plan = SweepPlan(
            name: name, descriptionText: descriptionText, family: family, specPath: file, specText: text,
            baseDigest: SHA256.hash(TaskID.canonicalEncoding(experiment: family.identity, parameters: fixed)).description,
            axes: axisDimensions.map { ($0.names[0], $0.rows.map { $0[0] }) },
            zipGroups: zipDimensions.map { dimension in
                dimension.names.enumerated().map { c, n in (n, dimension.rows.map { $0[c] }) }
            },
            seeds: dimensions[0].rows.map { if case .integer(let s) = $0[0] { s } else { 0 } },
            baseParameters: base.map { ($0.name, $0.value.value) },
            fixedParameters: fixed, gridCount: gridCount, writtenGridCount: written, mergeNotes: mergeNotes,
            estimatedSeconds: expansion.estimate, layout: layout)
        plan.timeLimit = timeLimit
        if var sample = sampled?.sample, let d = dimensions.firstIndex(where: { $0.sampled != nil }) {
            sample.points = dimensions[d].rows
            plan.sample = sample
        }
        return plan
    }

    // MARK: - Pieces

    /// Refuses a grid over ``SweepLimits/maximumTasks`` (duplicates and excludes included), computing
    /// its size from the sizes of the lists and ranges only.
    func checkGridSize(_ top: [String: (keyNode: Node, value: Node)]) -> Bool {
        muted = true
        func size(_ node: Node) -> Int {
            switch node {
            case .sequence(let items): return items.count
            case .mapping: return readRange(node, "").map(\.count) ?? 1
            default: return 1
            }
        }
        var factors: [(label: String, size: Int)] = []
        if let node = top["seeds"]?.value {
            if case .value(.integer(let n))? = node.scalarReading { factors.append(("seeds", max(n, 1))) } else { factors.append(("seeds", size(node))) }
        } else {
            factors.append(("seeds", 1))
        }
        if let node = top["axes"]?.value, case .mapping = node {
            for (key, _, value) in entries(node, "axes") { factors.append(("axes." + key, size(value))) }
        }
        if let node = top["zip"]?.value, case .sequence(let groups) = node {
            for (g, group) in groups.enumerated() {
                if let first = entries(group, "").first { factors.append(("zip[\(g)]", size(first.value))) }
            }
        }
        // An n outside 1...maximumTasks is reported by readSample, at sample.n.
        if let node = top["sample"]?.value, let n = entries(node, "").first(where: { $0.key == "n" })?.value,
           case .value(.integer(let points))? = n.scalarReading, points >= 1, points <= limits.maximumTasks {
            factors.insert(("sample", points), at: 1)
        }
        muted = false
        var total = 1
        var overflow = false
        for factor in factors {
            let (p, o) = total.multipliedReportingOverflow(by: factor.size)
            overflow = overflow || o
            total = o ? Int.max : p
        }
        guard overflow || total > limits.maximumTasks else { return true }
        let text = factors.map { "\($0.size) \($0.label)" }.joined(separator: " × ")
        let spot = top["axes"].map { Spot($0.keyNode) } ?? top["sample"].map { Spot($0.keyNode) } ?? top["seeds"].map { Spot($0.keyNode) } ?? .start
        fail(.gridSize, at: spot, "axes", found: "\(overflow ? "more than \(formatCount(Int.max))" : formatCount(total)) tasks (\(text))",
             expected: "at most \(formatCount(limits.maximumTasks)) tasks", hint: "narrow an axis, or raise the limit (plan --max-tasks)")
        return false
    }

    func isNull(_ node: Node) -> Bool {
        if case .null? = node.scalarReading { return true }
        return false
    }

    /// Whether an error leaves every value the spec writes known, so that later checks can still
    /// run: keys that are misspelled or repeated (the first is kept), and the name, description
    /// and time limit, which no combination depends on.
    static func leavesValuesKnown(_ error: SpecError) -> Bool {
        [.unknownKey, .duplicateKey, .unsafeName].contains(error.code)
            || ["name", "description", "time_limit"].contains(error.path)
    }

    func reportSyntax(_ error: YamlError) {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            let explained = explainSyntax(problem, line: mark.line, column: mark.column)
            let found = explained.found + " (YAML: " + problem + (context.map { ", \($0.text) at line \($0.mark.line)" } ?? "") + ")"
            fail(.syntax, at: Spot(line: mark.line, column: mark.column), "(document)", found: found,
                 expected: "valid YAML", hint: explained.hint)
        default:
            fail(.syntax, at: .start, "(document)", found: "\(error)", expected: "valid YAML")
        }
    }

    /// The common YAML mistakes in words: libyaml's messages describe its parser, not the file.
    func explainSyntax(_ problem: String, line: Int, column: Int) -> (found: String, hint: String?) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let lineText = line >= 1 && line <= lines.count ? lines[line - 1] : ""
        let leading = lineText.prefix { $0 == " " || $0 == "\t" }
        if leading.contains("\t") || problem.contains("cannot start any token") && lineText.contains("\t") {
            return ("a tab character in the indentation", "YAML indents with spaces only: replace the tabs with spaces")
        }
        if problem.contains("mapping values are not allowed") {
            return ("a 'key: value' where none can start",
                    "usually wrong indentation (a key indented further than the keys above it), or a colon inside an unquoted value: quote the value")
        }
        if problem.contains("did not find expected key") || problem.contains("did not find expected '-' indicator") {
            return ("a line indented differently from the keys or list items around it",
                    "keys of one mapping, and items of one list, start in the same column")
        }
        if problem.contains("could not find expected ':'") {
            return ("a line that is not 'key: value'", "a missing colon, or a space missing after it")
        }
        if problem.contains("found unexpected end of stream") || problem.contains("found unknown escape") {
            return ("an unterminated or malformed quoted text", "close the quote, or drop the quotes")
        }
        return ("a YAML syntax error", nil)
    }

    /// The sweep name: required, and safe as a file name inside an output directory.
    func readName(_ node: Node?) -> String? {
        let expected = "a name of letters, digits, '-', '_' and '.', not starting with '.', at most 128 characters"
        guard let node else {
            fail(.missing, at: .start, "name", found: "no name", expected: expected, hint: "add 'name: my-sweep' (it names the output directory)")
            return nil
        }
        guard case .scalar(let scalar) = node, !scalar.string.isEmpty else {
            fail(.wrongType, node, "name", expected: expected)
            return nil
        }
        let name = scalar.string
        let allowed = name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" || $0 == "."
        }
        guard allowed, !name.hasPrefix("."), name.unicodeScalars.count <= 128 else {
            fail(.unsafeName, node, "name", expected: expected, hint: "it becomes a directory name, so it may not contain '/' or start with '.'")
            return nil
        }
        return name
    }

    /// `seeds`: absent (seed 0), a count n (0..<n), a list, or {from, to, step}.
    func readSeeds(_ node: Node?) -> DraftDimension {
        var dimension = DraftDimension(label: "seeds", names: ["seed"])
        let spec = ParameterSpec.seed
        func add(_ value: ParameterValue, _ path: String, _ spot: Spot, found: String) {
            if let v = coerce(value, spec, at: spot, path, found: found) {
                dimension.rows.append([v])
                dimension.sources.append([(path, spot)])
            }
        }
        guard let node, !isNull(node) else {
            dimension.rows = [[.integer(0)]]
            dimension.sources = [[("seeds", .start)]]
            return dimension
        }
        let expected = "a number of replicates n (seeds 0..n-1), a list of seeds, or {from: a, to: b}"
        switch node {
        case .scalar:
            guard let n = readInteger(node, "seeds", expected: expected) else { break }
            guard n >= 1, n <= limits.maximumTasks, n - 1 <= Int(Int32.max) else {
                fail(.outOfDomain, node, "seeds", expected: "a number of replicates in 1...\(min(limits.maximumTasks, Int(Int32.max)))")
                break
            }
            dimension.rows = (0..<n).map { [.integer($0)] }
            dimension.sharedSpot = Spot(node)
        case .sequence(let items):
            if items.isEmpty { fail(.wrongType, node, "seeds", expected: "at least one seed") }
            for (i, item) in items.enumerated() {
                let path = "seeds[\(i)]"
                guard let raw = readScalar(item, path, expected: spec.expectation) else { continue }
                add(raw, path, Spot(item), found: item.foundText)
            }
        default:
            guard case .mapping = node else {
                fail(.wrongType, node, "seeds", expected: expected)
                break
            }
            guard let range = readRange(node, "seeds") else { break }
            guard range.isStepped else {
                fail(.badRange, node, "seeds", expected: "{from: a, to: b} or {from: a, to: b, step: s} for seeds")
                break
            }
            for (i, v) in range.values.enumerated() { add(v, "seeds[\(i)]", Spot(node), found: "\(v) (value \(i) of the range)") }
        }
        return dimension
    }

    /// Compiles `exclude` entries against the (merged) dimensions.
    func readExcludes(
        _ node: Node?, dimensions: [DraftDimension], specs: [String: ParameterSpec], family: any ExperimentFamily, unread: Set<String>
    ) -> [ExcludeRule] {
        guard let node, !isNull(node) else { return [] }
        guard case .sequence(let items) = node else {
            fail(.wrongType, node, "exclude", expected: "a list of entries, each a mapping of parameter: value or [values]",
                 hint: "write '- {a: 1, b: 2}' under exclude")
            return []
        }
        var location: [String: (dimension: Int, column: Int)] = [:]
        for (d, dimension) in dimensions.enumerated() {
            for (c, name) in dimension.names.enumerated() { location[name] = (d, c) }
        }
        var rules: [ExcludeRule] = []
        for (i, item) in items.enumerated() {
            let entryPath = "exclude[\(i)]"
            let fields = entries(item, entryPath)
            guard case .mapping = item, !fields.isEmpty else {
                fail(.wrongType, item, entryPath, expected: "a mapping of parameter: value or [values]")
                continue
            }
            var masks: [Int: [Bool]] = [:]
            var ok = true
            for (key, keyNode, value) in fields {
                let path = entryPath + "." + key
                let spec: ParameterSpec
                if unread.contains(key) {
                    ok = false  // its axis or zip group is already reported
                    continue
                } else if key == "seed" {
                    spec = .seed
                } else if let s = specs[key] {
                    spec = s
                } else {
                    fail(.unknownKey, keyNode, path, found: key, expected: "a swept parameter of \(family.name)",
                         hint: suggestion(for: key, among: Array(location.keys).sorted() + family.parameters.map(\.name).filter { location[$0] == nil }))
                    ok = false
                    continue
                }
                guard let (d, c) = location[key] else {
                    fail(.badExclude, keyNode, path, found: "\(key), which no axis, zip group or seeds varies",
                         expected: "a swept parameter (\(location.keys.sorted().joined(separator: ", ")))",
                         hint: "a fixed parameter would make this entry exclude all tasks or none")
                    ok = false
                    continue
                }
                let valueNodes: [Node]
                if case .sequence(let list) = value { valueNodes = Array(list) } else { valueNodes = [value] }
                var allowed = Set<ParameterValue>()
                let column = Set(dimensions[d].rows.map { $0[c] })
                for (j, valueNode) in valueNodes.enumerated() {
                    let valuePath = valueNodes.count == 1 && !(value.sequence != nil) ? path : "\(path)[\(j)]"
                    guard let v = readParameterValue(valueNode, spec, valuePath) else {
                        ok = false
                        continue
                    }
                    guard column.contains(v.value) else {
                        let values = dimensions[d].rows.map { $0[c].canonicalText }
                        var seen = Set<String>()
                        let shown = values.filter { seen.insert($0).inserted }.prefix(20).joined(separator: ", ")
                        fail(.badExclude, valueNode, valuePath, found: "\(key)=\(v.value)",
                             expected: "one of the values of \(dimensions[d].label): \(shown)")
                        ok = false
                        continue
                    }
                    allowed.insert(v.value)
                }
                var mask = masks[d] ?? [Bool](repeating: true, count: dimensions[d].rows.count)
                for r in mask.indices where !allowed.contains(dimensions[d].rows[r][c]) { mask[r] = false }
                masks[d] = mask
            }
            guard ok else { continue }
            let ordered = masks.keys.sorted()
            rules.append(ExcludeRule(path: entryPath, spot: Spot(item), dimensions: ordered, masks: ordered.map { masks[$0]! }))
        }
        return rules
    }

    /// Reports one kind of rejected combination at the value the family named; returns that spot.
    @discardableResult
    func reportCrossCheck(_ group: CrossCheckGroup, family: any ExperimentFamily, dimensions: [DraftDimension], base: [String: Sourced], root: Node) -> Spot {
        let parameter = group.problem.parameter
        var path = "(default of \(parameter))"
        var spot = Spot(root)
        if let d = dimensions.firstIndex(where: { $0.names.contains(parameter) }) {
            let c = dimensions[d].names.firstIndex(of: parameter)!
            (path, spot) = dimensions[d].source(group.firstDigits[d], c)
        } else if let given = base[parameter] {
            (path, spot) = (given.path, given.spot)
        }
        let tasks = group.count == 1 ? "1 task" : "\(formatCount(group.count)) tasks"
        let more = group.examples.count < group.count && group.examples.count >= limits.crossCheckExamples ? ", …" : ""
        fail(.crossCheck, at: spot, path,
             found: "\(parameter)=\(group.problem.found) rejected by \(family.name) in \(tasks): \(group.examples.joined(separator: "; "))\(more)",
             expected: group.problem.expected,
             hint: "change the values, or list these combinations under exclude, e.g. '- \(group.examples[0])'")
        return spot
    }
}

/// `1,234,567`.
func formatCount(_ n: Int) -> String {
    let digits = Array(String(n.magnitude))
    var out = ""
    for (i, ch) in digits.enumerated() {
        if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(ch)
    }
    return (n < 0 ? "-" : "") + out
}
