import Foundation
import Results

/// A synthetic results directory written by hand (not through Results), so that the tests check
/// the reader against the file format rather than against itself.
struct SyntheticSweep {
    static let parameters = ["superclasses", "subclasses", "granularity", "rare_freq", "noise", "width", "dim", "patches", "alignment", "pretrain", "finetune"]
    static let metrics = ["easy_acc", "hard_acc", "pretrain_acc", "common_align", "fine_align", "steps"]
    static let header = ["task_id", "experiment"] + parameters + ["seed"] + metrics
        + ["attempt", "host", "threads", "wall_seconds", "finished_at", "extra_column"]
    static let curveHeader = ["task_id", "attempt", "phase", "epoch", "loss", "train_acc", "easy_acc", "hard_acc", "common_align", "fine_align"]

    var granularities = [1, 2, 4, 8, 16]
    var rareFrequencies = [0.1, 0.3]
    var noises = [0.5]
    var alignments = ["aligned"]
    var seeds = [0, 1, 2]
    var withBaseline = true
    /// When set, every task's easy accuracy (a metric that saturates).
    var constantEasyAccuracy: Double?
    /// Seeds of the from-scratch runs.
    var baselineSeeds: [Int]?
    var specText = "name: synthetic\nexperiment: hierarchy\n"

    /// A made-up accuracy, different for every setting and seed.
    static func hardAccuracy(g: Int, rf: Double, noise: Double, seed: Int) -> Double {
        0.5 + 0.04 * log2(Double(g)) + 0.3 * rf - 0.1 * noise + 0.013 * Double(seed * seed) - 0.002 * Double(g)
    }
    static func easyAccuracy(g: Int, rf: Double, noise: Double, seed: Int) -> Double {
        0.9 - 0.01 * log2(Double(g)) + 0.02 * rf + 0.007 * Double(seed) - 0.05 * noise
    }

    /// A made-up training loss: falls with the epoch, a little different per seed.
    static func loss(epoch: Int, seed: Double) -> Double { 1 / Double(epoch) + 0.01 * seed }

    struct Row { var id: String; var fields: [String] }

    func rows() -> [Row] {
        var rows: [Row] = []
        var n = 0
        func add(g: Int, rf: Double, noise: Double, alignment: String = "aligned", pretrain: String, seed: Int, hard: Double, easy: Double) {
            n += 1
            let id = String(format: "%016x", n * 7919)
            let common = 0.8 - 0.01 * Double(g) + 0.01 * Double(seed)
            let fine = 0.2 + 0.03 * Double(g) + 0.01 * Double(seed)
            let easy = constantEasyAccuracy ?? easy
            let fields = [id, "hierarchy", "2", "8", String(g), rf.description, noise.description, "16", "64", "8", alignment, pretrain, "probe", String(seed),
                          easy.description, hard.description, "0.7", common.description, fine.description, "100",
                          "1", seed % 2 == 0 ? "node-a" : "node-b", "2", "1.5", "2026-11-0\(1 + seed)T10:00:00Z", "x"]
            rows.append(Row(id: id, fields: fields))
        }
        for noise in noises {
            for rf in rareFrequencies {
                for alignment in alignments {
                    for g in granularities {
                        for seed in seeds {
                            let shift = alignment == "aligned" ? 0 : -0.1
                            add(g: g, rf: rf, noise: noise, alignment: alignment, pretrain: "supervised", seed: seed,
                                hard: Self.hardAccuracy(g: g, rf: rf, noise: noise, seed: seed) + shift,
                                easy: Self.easyAccuracy(g: g, rf: rf, noise: noise, seed: seed))
                        }
                    }
                }
                if withBaseline {
                    for seed in baselineSeeds ?? seeds {
                        add(g: 8, rf: rf, noise: noise, pretrain: "none", seed: seed, hard: 0.55 + rf * 0.1 + 0.01 * Double(seed), easy: 0.85)
                    }
                }
            }
        }
        return rows
    }

    static func csvLine(_ fields: [String]) -> String { fields.joined(separator: ",") + "\n" }

    /// Writes the directory and returns its path.
    func write(to directory: String, tornResults: String? = nil) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var results = Self.csvLine(Self.header)
        var curves = Self.csvLine(Self.curveHeader)
        for row in rows() {
            results += Self.csvLine(row.fields)
            for phase in ["pretrain", "finetune"] {
                for epoch in 1...3 {
                    let hard = Double(row.fields[Self.header.firstIndex(of: "hard_acc")!])! * Double(epoch) / 3
                    let seed = Double(row.fields[Self.header.firstIndex(of: "seed")!])!
                    let loss = Self.loss(epoch: epoch, seed: seed)
                    curves += Self.csvLine([row.id, "1", phase, String(epoch), loss.description, "0.9", "0.8", hard.description, "0.5", "0.4"])
                }
            }
        }
        // A running task's curve (no result yet) and a lost attempt: neither may be drawn.
        curves += Self.csvLine(["00000000deadbeef", "1", "finetune", "1", "0.5", "0.9", "0.8", "0.01", "0.5", "0.4"])
        if let torn = tornResults { results += torn }
        try results.write(toFile: directory + "/results.csv", atomically: true, encoding: .utf8)
        try curves.write(toFile: directory + "/curves.csv", atomically: true, encoding: .utf8)
        try "task_id,experiment,\(Self.parameters.joined(separator: ",")),seed,attempts,hosts,last_error,quarantined_at\n"
            .write(toFile: directory + "/failures.csv", atomically: true, encoding: .utf8)
        try specText.write(toFile: directory + "/spec.yaml", atomically: true, encoding: .utf8)
        let manifest = """
            {"baseDigest":"abc123","createdAt":"2026-11-01T09:00:00Z","experiment":"hierarchy","grainsweepVersion":"0.1.0","name":"synthetic"}
            """
        try manifest.write(toFile: directory + "/sweep.json", atomically: true, encoding: .utf8)
        return directory
    }
}

/// A fresh temporary directory for one test.
func temporaryDirectory(_ name: String = #function) -> String {
    let clean = name.filter { $0.isLetter || $0.isNumber }
    let path = NSTemporaryDirectory() + "/grainsweep-report-tests-\(getpid())-\(clean)-\(UInt32.random(in: 0...UInt32.max))"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Occurrences of `needle` in `text`.
func count(_ needle: String, in text: String) -> Int {
    text.components(separatedBy: needle).count - 1
}

/// The inline SVG of a figure, cut out of the page by its id.
func svgOfFigure(_ name: String, in html: String) -> String? {
    guard let start = html.range(of: "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"fig-\(name)\"") else { return nil }
    guard let end = html.range(of: "</svg>", range: start.upperBound..<html.endIndex) else { return nil }
    return String(html[start.lowerBound..<end.upperBound])
}

/// A coordinator's status as `status.json` holds it, with test defaults.
func sweepStatus(
    _ state: SweepStatus.State = .running, total: Int = 80, done: Int = 45, quarantined: Int = 1, running: Int = 4,
    retrying: Int = 2, updatedAt: String = "2026-12-02T07:00:00Z", etaSeconds: Double? = 175
) -> SweepStatus {
    SweepStatus(
        sweep: "synthetic", experiment: "hierarchy", state: state, startedAt: "2026-12-02T06:50:00Z", updatedAt: updatedAt,
        pid: 4242, total: total, done: done, quarantined: quarantined, running: running, retrying: retrying, ranThisSession: 30,
        tasksPerMinute: 12, etaSeconds: etaSeconds, workers: 3,
        hosts: [.init(host: "node-b", workers: 1, slots: 2, running: 1), .init(host: "node-a", workers: 2, slots: 4, running: 3)],
        droppedMessages: 7, deniedConnections: 1)
}

/// The text of the element with `id` in an HTML page or DOM dump (up to its first child tag).
func text(ofID id: String, in html: String) -> String? {
    guard let start = html.range(of: "id=\"\(id)\"") else { return nil }
    guard let close = html.range(of: ">", range: start.upperBound..<html.endIndex) else { return nil }
    return String(html[close.upperBound...].prefix { $0 != "<" })
}

/// 2026-12-02T07:00:00Z, the `updated_at` of ``sweepStatus(_:total:done:quarantined:running:retrying:updatedAt:etaSeconds:)``.
let statusTime = Date(timeIntervalSince1970: 1_796_194_800)
