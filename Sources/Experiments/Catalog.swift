import CommandExperiment
import ExperimentAPI

/// Every experiment family this build of grainsweep can run, by name.
///
/// The coordinator and the sweep model take families from here (through the executable), never
/// by importing a family's module, so adding a family is one line.
public enum ExperimentCatalog {
    /// All families; the first is the default when a spec names none.
    public static let all: [any ExperimentFamily] = [HierarchyExperiment(), SleepExperiment(), LinearTeachersExperiment()]

    /// The default family: the label-granularity experiment of SCIENCE.md.
    public static var defaultFamily: any ExperimentFamily { all[0] }

    /// The family called `name`, if any; a hyphen may stand for an underscore (`linear-teachers`),
    /// since names on the wire are snake_case (docs/PROTOCOL.md, section 2).
    public static func family(named name: String) -> (any ExperimentFamily)? {
        let snake = name.replacingOccurrences(of: "-", with: "_")
        return all.first { $0.name == name || $0.name == snake }
    }

    /// Makes the family of a spec with `experiment: command` (the user's own program) from the
    /// definition the spec writes.
    public static let commandFamily: CommandFamilyMaker = { CommandExperiment($0) }

    /// Families by name.
    public static var byName: [String: any ExperimentFamily] {
        Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
    }
}
