import ExperimentAPI
import Foundation
import Results

#if canImport(Glibc)
import Glibc
#endif

/// Why `report --watch` ended.
public enum WatchEnd: String, Sendable, Equatable {
    /// `status.json` says `finished`: every task is finished or quarantined.
    case finished
    /// `status.json` says `stopped`: the coordinator stopped before the end.
    case stopped
    /// The caller asked to stop (SIGINT/SIGTERM).
    case interrupted
}

/// Keeps a results directory's report current while its sweep runs (`grainsweep report --watch`).
///
/// Every ``intervalSeconds`` it reads the directory and rewrites the page (atomically) with a
/// refresh tag, so that a browser showing it reloads itself. It ends after writing a final page,
/// without the tag, once `status.json` says `finished` or `stopped`, or when asked to stop. A
/// directory without `status.json` is watched on: its coordinator may not have started yet.
///
/// A final status already there when the watch starts may be left from an earlier session of a
/// sweep that is being resumed right now (`run … & report --watch`): its new coordinator rewrites
/// the file when it starts. So such a status ends the watch only once it is still the same
/// after ``startGraceSeconds``.
public struct ReportWatch: Sendable {
    public var directory: String
    public var output: String?
    public var intervalSeconds: Double
    public var provenance: ReportProvenance
    /// How long a final status found at the start is given to be replaced by a starting coordinator.
    public var startGraceSeconds: Double
    /// The figures the sweep's family declares, by family name (``writeReport(directory:output:provenance:generatedAt:mode:now:figures:)``).
    public var figures: FigureCatalog = { _ in [] }

    /// The default ``startGraceSeconds``: two of the coordinator's status write intervals and one more second.
    public static let defaultStartGraceSeconds = 2 * SweepStatus.writeIntervalSeconds + 1

    /// - Parameters:
    ///   - intervalSeconds: seconds between rewrites; must be finite and above 0.
    ///   - startGraceSeconds: see ``startGraceSeconds``.
    public init(
        directory: String, output: String? = nil, intervalSeconds: Double = 5, provenance: ReportProvenance,
        startGraceSeconds: Double = ReportWatch.defaultStartGraceSeconds
    ) {
        precondition(intervalSeconds.isFinite && intervalSeconds > 0, "the watch interval must be above 0")
        self.directory = directory
        self.output = output
        self.intervalSeconds = intervalSeconds
        self.provenance = provenance
        self.startGraceSeconds = startGraceSeconds
    }

    /// The refresh tag's period: the interval in whole seconds (a browser reads no fractions),
    /// at least 1.
    public var refreshSeconds: Int { max(1, Int(intervalSeconds.rounded(.up))) }

    /// Rewrites the report until the sweep ends or `shouldStop` says so, then writes the final page.
    ///
    /// - Parameters:
    ///   - shouldStop: polled about every 50 ms while waiting and before each page; true ends
    ///     the watch (with a final page) at once.
    ///   - onPage: called after each live page is written.
    ///   - onError: a cycle after the first that failed (a file caught unreadable); the watch
    ///     goes on and tries again next interval.
    /// - Returns: why the watch ended and the final page written.
    /// - Throws: ``ReportError`` when the first cycle fails (no such directory, an unwritable
    ///   output) or the final page can't be written.
    public func run(
        shouldStop: () -> Bool, onPage: (WrittenReport) -> Void = { _ in }, onError: (ReportError) -> Void = { _ in }
    ) throws(ReportError) -> (end: WatchEnd, report: WrittenReport) {
        var first = true
        let clock = ContinuousClock()
        let start = clock.now
        // The final status seen at the start, if any, told apart from later ones by writer, time and state.
        var initialFinal: (pid: Int32, updatedAt: String, state: SweepStatus.State)?
        while true {
            let data: SweepData
            do {
                data = try SweepData.load(directory: directory)
            } catch {
                if first || shouldStop() { throw error }
                onError(error)
                wait(shouldStop: shouldStop)
                continue
            }
            var end: WatchEnd? = shouldStop() ? .interrupted
                : data.status?.state == .finished ? .finished
                : data.status?.state == .stopped ? .stopped : nil
            if let status = data.status, end == .finished || end == .stopped {
                if first { initialFinal = (status.pid, status.updatedAt, status.state) }
                if let initial = initialFinal, initial.pid == status.pid, initial.updatedAt == status.updatedAt, initial.state == status.state,
                   start.duration(to: clock.now) < .milliseconds(Int64(startGraceSeconds * 1000)) {
                    end = nil
                }
            }
            if let end {
                let report = try writeReport(
                    data, output: output, provenance: provenance, generatedAt: utcTimestamp(), mode: .final(end), now: Date(),
                    figures: figures(data.experiment))
                return (end, report)
            }
            do {
                let report = try writeReport(
                    data, output: output, provenance: provenance, generatedAt: utcTimestamp(),
                    mode: .live(refreshSeconds: refreshSeconds), now: Date(), figures: figures(data.experiment))
                onPage(report)
            } catch {
                if first { throw error }
                onError(error)
            }
            first = false
            wait(shouldStop: shouldStop)
        }
    }

    /// Sleeps one interval, or less when `shouldStop` turns true.
    private func wait(shouldStop: () -> Bool) {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .milliseconds(Int64((intervalSeconds * 1000).rounded())))
        while !shouldStop() {
            let left = clock.now.duration(to: deadline)
            if left <= .zero { return }
            let (seconds, attoseconds) = left.components
            let microseconds = min(50_000, seconds * 1_000_000 + attoseconds / 1_000_000_000_000)
            usleep(UInt32(max(1, microseconds)))
        }
    }
}
