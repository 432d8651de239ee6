import Foundation

/// Done/total, rate and ETA for the progress bar and the periodic log lines.
///
/// The rate is measured over the completions of the last minute (all of this run's completions
/// before a minute has passed), so it follows the sweep as workers join or leave.
struct ProgressMeter {
    let total: Int
    private var window: [Double] = []
    private var windowHead = 0
    private var firstCompletion: Double?

    init(total: Int) { self.total = total }

    mutating func completed(at time: Double) {
        if firstCompletion == nil { firstCompletion = time }
        window.append(time)
    }

    /// Tasks per minute over the last minute.
    mutating func rate(now: Double) -> Double {
        while windowHead < window.count && window[windowHead] < now - 60 { windowHead += 1 }
        if windowHead > 65_536 {
            window.removeFirst(windowHead)
            windowHead = 0
        }
        let count = window.count - windowHead
        guard count > 0, let first = firstCompletion else { return 0 }
        let span = min(60, max(now - first, 1))
        return Double(count) / span * 60
    }

    /// Seconds left at the current rate: 0 when nothing is left, nil before any rate is known.
    mutating func etaSeconds(now: Double, left: Int) -> Double? {
        if left <= 0 { return 0 }
        let perMinute = rate(now: now)
        return perMinute > 0 ? Double(left) / perMinute * 60 : nil
    }

    mutating func line(now: Double, done: Int, running: Int, failed: Int, retrying: Int = 0, workers: Int, dropped: Int,
                       denied: Int) -> String {
        let perMinute = rate(now: now)
        let eta = etaSeconds(now: now, left: total - done - failed).map(Self.duration) ?? "?"
        let fraction = total == 0 ? 1 : Double(done + failed) / Double(total)
        let width = 24
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        return "[\(bar)] \(done)/\(total) done, \(running) running, \(failed) failed"
            + (retrying > 0 ? " (\(retrying) being retried)" : "") + ", \(workers) workers, "
            + "\(String(format: "%.1f", perMinute)) tasks/min, ETA \(eta), \(dropped) dropped"
            + (denied > 0 ? ", \(denied) denied" : "")
    }

    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let s = Int(seconds.rounded())
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
        return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m"
    }
}
