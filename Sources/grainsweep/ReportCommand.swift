import ArgumentParser
import Report

/// `grainsweep report DIR [--out FILE.html]`: writes the HTML report of a results directory.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write an HTML report (figures as inline SVG, grouped means with 95% intervals, provenance) of a results directory.",
        discussion: "Works while a sweep is still running (it shows what is finished) and on an empty directory. Each figure is also written as figures/<name>.svg beside the page.")

    /// The build's version and commit shown on the page as the report's maker: a development
    /// marker until the package records its version and commit at build time.
    static let provenance = ReportProvenance(version: grainsweepVersion, commit: nil)

    @Argument(help: "The sweep's results directory (holding results.csv).")
    var directory: String

    @Option(name: .customLong("out"), help: "The HTML file to write (default: DIRECTORY/report.html).")
    var output: String?

    func validate() throws {
        if let output, !output.hasSuffix(".html"), !output.hasSuffix(".htm") {
            throw ValidationError("--out names an HTML file (ending in .html), found '\(output)'")
        }
    }

    func run() throws {
        let written = try writeReport(directory: directory, output: output, provenance: Self.provenance)
        print("\(written.htmlPath): \(written.taskCount) finished task(s), \(written.figurePaths.count) figure(s)")
    }
}
