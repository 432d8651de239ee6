import ArgumentParser
import Experiments
import Foundation
import Lifecycle
import Report

/// `grainsweep report DIR [--out FILE.html] [--watch [--interval SECONDS]]`: writes the HTML
/// report of a results directory, once or, with `--watch`, again and again while its sweep runs.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write an HTML report (figures as inline SVG, grouped means with 95% intervals, operations, provenance) of a results directory.",
        discussion: """
            Works while a sweep is still running (it shows what is finished) and on an empty directory. Each figure is also \
            written as figures/<name>.svg beside the page. With --watch the page is rewritten every --interval seconds and \
            reloads itself in a browser; the watch ends (exit 0) after a final page once status.json says finished or \
            stopped (one already there at the start counts after 5 s, time for a resumed coordinator to replace it), or \
            on Ctrl-C/SIGTERM. Without status.json it keeps watching.
            """)

    /// The build's version and commit shown on the page as the report's maker: a development
    /// marker until the package records its version and commit at build time.
    static let provenance = ReportProvenance(version: grainsweepVersion, commit: nil)

    /// The figures a family of the catalog declares.
    static let figures: FigureCatalog = { ExperimentCatalog.family(named: $0)?.figures ?? [] }

    @Argument(help: "The sweep's results directory (holding results.csv).")
    var directory: String

    @Option(name: .customLong("out"), help: "The HTML file to write (default: DIRECTORY/report.html).")
    var output: String?

    @Flag(help: "Keep the report current while the sweep runs: rewrite it every --interval seconds until status.json says finished or stopped, or until Ctrl-C/SIGTERM.")
    var watch = false

    @Option(help: "Seconds between rewrites with --watch (default 5; above 0).")
    var interval: Double?

    func validate() throws {
        if let output, !output.hasSuffix(".html"), !output.hasSuffix(".htm") {
            throw ValidationError("--out names an HTML file (ending in .html), found '\(output)'")
        }
        if let interval {
            guard watch else { throw ValidationError("--interval only applies with --watch") }
            guard interval.isFinite, interval > 0 else {
                throw ValidationError("--interval must be a number of seconds above 0, found \(interval)")
            }
        }
    }

    func run() throws {
        guard watch else {
            let written = try writeReport(directory: directory, output: output, provenance: Self.provenance, figures: Self.figures)
            print("\(written.htmlPath): \(written.finishedText), \(written.figurePaths.count) figure(s)")
            return
        }
        let shutdown = ShutdownRequest()
        shutdown.installSignalHandlers()
        var watcher = ReportWatch(directory: directory, output: output, intervalSeconds: interval ?? 5, provenance: Self.provenance)
        watcher.figures = Self.figures
        var announced = false
        let (end, written) = try watcher.run(
            shouldStop: { shutdown.requests > 0 },
            onPage: { page in
                if !announced {
                    print("\(page.htmlPath): rewritten every \(watcher.refreshSeconds) s while the sweep runs (Ctrl-C to stop)")
                    fflush(nil)  // seen at once also when stdout is a file (nohup, a log)
                    announced = true
                }
            },
            onError: { error in FileHandle.standardError.write(Data("report --watch: \(error) (trying again)\n".utf8)) })
        let why = switch end {
        case .finished: "the sweep finished"
        case .stopped: "the sweep was stopped"
        case .interrupted: "watch interrupted"
        }
        print("\(written.htmlPath): \(written.finishedText), \(written.figurePaths.count) figure(s); final page (\(why))")
    }
}
