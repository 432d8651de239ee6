import ExperimentAPI
import Experiments
import Foundation
import Testing

/// docs/PROTOCOL.md section 6 says which parameters and metrics each family puts on the wire, so
/// that a worker can be written from the document alone: it must say what the code does.
@Suite struct ProtocolDocumentTests {
    static let document: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return (try? String(contentsOf: root.appendingPathComponent("docs/PROTOCOL.md"), encoding: .utf8)) ?? ""
    }()

    /// The text of section 6's subsection about `family`.
    static func section(_ family: String) -> String {
        guard let start = document.range(of: "### `\(family)`") else { return "" }
        let rest = document[start.upperBound...]
        let end = rest.range(of: "\n### ")?.lowerBound ?? rest.endIndex
        return String(rest[..<end])
    }

    @Test(arguments: ExperimentCatalog.all.map(\.name))
    func everyFamilyIsDocumentedWithItsParametersAndMetricsInOrder(name: String) throws {
        let family = try #require(ExperimentCatalog.byName[name])
        // Lines wrap anywhere: compare with runs of white space as one space.
        let text = Self.section(name).split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(!text.isEmpty, "docs/PROTOCOL.md has no section for \(name)")
        for parameter in family.allParameters.map(\.name) {
            #expect(text.contains("`\(parameter)`"), "\(name): parameter \(parameter) is not documented")
        }
        #expect(text.contains(family.resultMetricNames.map { "`\($0)`" }.joined(separator: ", ")),
                "\(name): the result metrics in order are \(family.resultMetricNames)")
        if family.curveMetricNames.count > 1 {
            #expect(text.contains(family.curveMetricNames.map { "`\($0)`" }.joined(separator: ", ")),
                    "\(name): the curve metrics in order are \(family.curveMetricNames)")
        } else {
            #expect(text.contains("metric `\(family.curveMetricNames.first ?? "")`"))
        }
    }

    @Test func sleepParametersHaveTheDocumentedDefaults() throws {
        let sleep = try #require(ExperimentCatalog.byName["sleep"])
        let text = Self.section("sleep")
        for spec in sleep.parameters {
            let row = text.split(separator: "\n").first { $0.hasPrefix("| `\(spec.name)` |") } ?? ""
            let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            let documented = cells.count > 3 ? cells[3].replacingOccurrences(of: "`", with: "") : ""
            let actual: String
            switch spec.defaultValue {
            case .integer(let i): actual = String(i)
            case .real(let r): actual = r == r.rounded() ? String(Int(r)) : String(r)
            case .text(let t): actual = t
            }
            #expect(documented == actual, "sleep.\(spec.name): documented default '\(documented)', code \(actual)")
        }
    }
}
