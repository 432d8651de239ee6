import ExperimentAPI
import Experiments
import Report

/// The figures the catalog's families declare, as the executable hands them to the report: the
/// report itself knows no family, so tests of a family's figures pass these.
let catalogFigures: FigureCatalog = { ExperimentCatalog.family(named: $0)?.figures ?? [] }

/// The hierarchy family's declared figures (the synthetic sweeps of these tests are hierarchy sweeps).
let hierarchyFigures = catalogFigures("hierarchy")
