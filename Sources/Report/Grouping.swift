/// Runs that differ only in their seed: the replicates of one point of the grid.
public struct ReplicateGroup: Sendable {
    /// The shared parameter values (every parameter but `seed`).
    public let parameters: [String: String]
    public let runs: [TaskRun]

    /// Mean and 95% t-interval of a final metric over the group's seeds, nil when no run has it.
    public func summary(_ metric: String) -> ReplicateSummary? {
        ReplicateSummary(runs.compactMap { $0.metrics[metric] })
    }

    /// Mean and interval of the runs' wall time.
    public var wallSeconds: ReplicateSummary? { ReplicateSummary(runs.compactMap(\.wallSeconds)) }
}

/// Orders parameter values: numerically when both parse as numbers, else as text.
func parameterValueLess(_ a: String, _ b: String) -> Bool {
    switch (Double(a), Double(b)) {
    case let (x?, y?): return x != y ? x < y : a < b
    case (_?, nil): return true
    case (nil, _?): return false
    default: return a < b
    }
}

/// Orders tuples of parameter values lexicographically with ``parameterValueLess(_:_:)``.
func parameterTupleLess(_ a: [String], _ b: [String]) -> Bool {
    for (x, y) in zip(a, b) where x != y { return parameterValueLess(x, y) }
    return a.count < b.count
}

extension SweepData {
    /// Groups the runs into replicates: runs identical in every parameter but `seed`, ordered by
    /// their parameter values (numerically where numeric), seeds within a group in file order.
    /// Complexity: O(n log n) in the number of runs.
    public func replicateGroups(of runs: [TaskRun]? = nil) -> [ReplicateGroup] {
        let runs = runs ?? self.runs
        var order: [[String]] = []
        var members: [[String]: [TaskRun]] = [:]
        for run in runs {
            let key = parameterNames.map { run.parameters[$0] ?? "" }
            if members[key] == nil { order.append(key) }
            members[key, default: []].append(run)
        }
        return order.sorted(by: parameterTupleLess).map { key in
            ReplicateGroup(parameters: members[key]![0].parameters, runs: members[key]!)
        }
    }

    /// Parameters that take more than one value among the runs, in column order.
    public var varyingParameters: [String] {
        parameterNames.filter { name in Set(runs.map { $0.parameters[name] ?? "" }).count > 1 }
    }

    /// The distinct values of a parameter among `runs`, sorted.
    func values(of parameter: String, in runs: [TaskRun]) -> [String] {
        Set(runs.map { $0.parameters[parameter] ?? "" }).sorted(by: parameterValueLess)
    }
}
