import ExperimentAPI
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The `command` experiment family: each task runs the user's program (a spec's
/// ``CommandDefinition``) and reads its metrics from JSON lines on its stdout.
///
/// The program's stdout protocol, one JSON object per line:
/// - `{"epoch": 3, "loss": 0.41, "accuracy": 0.87}` (optionally `"phase": "train"`): one point of
///   the learning curve, with the declared curve metrics;
/// - `{"result": {"loss": 0.12, "accuracy": 0.93}}`: the final metrics; the last such line counts.
///
/// Any other line (prints, warnings, progress bars) is ignored; lines over 1 MiB are dropped
/// without being held in memory. Metric values are JSON numbers, or `null`/"nan"/"inf"/"-inf"
/// (NaN and infinities; Python's json module writes bare `NaN`/`Infinity`, also accepted). A
/// task fails when the program cannot start, exits non-zero or by a signal, or exits 0 without a
/// result that has every declared final metric; the failure carries the end of its stderr.
///
/// The program runs in its own process group, in the definition's working directory, with the
/// worker's environment plus the definition's, the task's threads (`OMP_NUM_THREADS`,
/// `MKL_NUM_THREADS`, `OPENBLAS_NUM_THREADS`, `NUMEXPR_NUM_THREADS`, `VECLIB_MAXIMUM_THREADS`,
/// `GRAINSWEEP_THREADS`), `GRAINSWEEP_TASK_ID`, `GRAINSWEEP_SEED`, and `CUDA_VISIBLE_DEVICES` when
/// the worker slot has GPUs. A cancel (from the coordinator, a time limit, or the worker's own
/// shutdown) sends SIGTERM to the group and SIGKILL 5 s later.
public struct CommandExperiment: ExperimentFamily {
    public let definition: CommandDefinition
    public let parameters: [ParameterSpec]
    public let identity: String

    /// Seconds between SIGTERM and SIGKILL when a task is stopped.
    public static let terminationGrace = 5.0
    /// The longest stdout line read; longer lines are dropped.
    public static let maximumLineBytes = 1 << 20
    /// How much of stderr a failure reports (its end).
    public static let stderrTailBytes = 3000

    public init(_ definition: CommandDefinition) {
        self.definition = definition
        parameters = definition.parameters.map(\.spec)
        identity = definition.identity
    }

    public var name: String { "command" }
    public var summary: String { "runs " + (definition.argv.first ?? "a program") + " per task and reads its JSON-lines metrics" }
    public var resultMetricNames: [String] { definition.finalMetrics }
    public var curveMetricNames: [String] { definition.curveMetrics }
    public var commandDefinition: CommandDefinition? { definition }
    public func curveEpochs(_ parameters: ParameterSet) -> [String: Int] {
        definition.curveMetrics.isEmpty ? [:] : Dictionary(uniqueKeysWithValues: definition.phases.map { ($0, definition.maxEpoch) })
    }
    public func crossCheck(_ parameters: ParameterSet) -> [ParameterProblem] { [] }
    public func estimatedSeconds(_ parameters: ParameterSet) -> Double { definition.estimatedSeconds }

    /// Why a task of this family failed, with the end of the program's stderr.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public func run(_ parameters: ParameterSet, context: TaskContext, onEpoch: (CurvePoint) -> Void) throws -> [Metric] {
        let value: (String) -> String = { parameters[$0]?.canonicalText ?? "" }
        var argv: [String] = []
        for template in definition.argv {
            switch CommandTemplate.render(template, value) {
            case .success(let text): argv.append(text)
            case .failure(let problem): throw Failure(description: "argv template \(template): \(problem)")
            }
        }
        var environment = ProcessInfo.processInfo.environment
        for (key, template) in definition.env {
            if case .success(let text) = CommandTemplate.render(template, value) { environment[key] = text }
        }
        let threads = String(context.threads)
        for key in ["OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "GRAINSWEEP_THREADS"] {
            environment[key] = threads
        }
        environment["GRAINSWEEP_TASK_ID"] = TaskID.of(experiment: identity, parameters: parameters).description
        environment["GRAINSWEEP_SEED"] = value("seed")
        if !context.devices.isEmpty { environment["CUDA_VISIBLE_DEVICES"] = context.devices.joined(separator: ",") }
        try checkFileDigests()

        if context.cancellation.isCancelled { throw TaskCancelled() }
        let child: ChildProcess
        do {
            child = try ChildProcess(argv: argv, environment: environment, directory: definition.workdir)
        } catch {
            throw Failure(description: error.description)
        }
        var reader = OutputReader(curveMetrics: definition.curveMetrics, finalMetrics: definition.finalMetrics,
                                  phases: definition.phases, maxEpoch: definition.maxEpoch)
        var stdoutLines = LineSplitter(maximumLineBytes: Self.maximumLineBytes)
        var stderrTail = TailBuffer(capacity: Self.stderrTailBytes)
        var fds = [pollfd(fd: child.stdoutFD, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: child.stderrFD, events: Int16(POLLIN), revents: 0)]
        var open = [true, true]
        var exitedAt: Double?
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            if context.cancellation.isCancelled {
                child.terminate(grace: Self.terminationGrace)
                throw TaskCancelled()
            }
            if !open[0] && !open[1] { break }
            // After the program exits, its pipes may stay open in processes it left behind: read
            // what is there for a moment, then stop waiting for them.
            if child.poll() {
                if exitedAt == nil { exitedAt = monotonicNow() }
                if monotonicNow() - exitedAt! > 1 { break }
            }
            for i in 0..<2 { fds[i].fd = open[i] ? (i == 0 ? child.stdoutFD : child.stderrFD) : -1; fds[i].revents = 0 }
            let ready = Glibc.poll(&fds, 2, 50)
            if ready < 0 && errno != EINTR { break }
            for i in 0..<2 where open[i] && fds[i].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(fds[i].fd, $0.baseAddress!, $0.count) }
                if n > 0 {
                    let bytes = buffer[0..<n]
                    if i == 0 {
                        stdoutLines.append(bytes) { line in
                            if let point = reader.read(line) { onEpoch(point) }
                        }
                    } else {
                        stderrTail.append(bytes)
                    }
                } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                    open[i] = false
                }
            }
        }
        stdoutLines.finish { line in if let point = reader.read(line) { onEpoch(point) } }
        if !child.poll() {
            // Both pipes closed but the program still runs (it closed them itself): wait for it,
            // still answering a cancel.
            // Usually it is exiting right now: look again soon, then less often.
            var pause: UInt32 = 100
            while !child.poll() {
                if context.cancellation.isCancelled {
                    child.terminate(grace: Self.terminationGrace)
                    throw TaskCancelled()
                }
                usleep(pause)
                pause = min(pause * 2, 10_000)
            }
        }
        // Whatever the program left running in its group ends with it.
        child.signalGroup(SIGKILL)
        let tail = stderrTail.text.isEmpty ? "" : "; stderr ends: " + stderrTail.text
        let ignored = reader.ignoredLines + stdoutLines.droppedLines > 0
            ? " (\(reader.ignoredLines) stdout lines were not metrics, \(stdoutLines.droppedLines) longer than 1 MiB were dropped)" : ""
        guard child.succeeded else {
            throw Failure(description: "\(argv[0]) ended with \(child.exitDescription)\(ignored)\(tail)")
        }
        guard let result = reader.result else {
            throw Failure(description: "\(argv[0]) exited 0 without a result line ({\"result\": {...}} with \(definition.finalMetrics.joined(separator: ", ")))\(ignored)\(tail)")
        }
        var metrics: [Metric] = []
        for name in definition.finalMetrics {
            guard let v = result[name] else {
                throw Failure(description: "\(argv[0])'s result has no '\(name)' (it gave \(result.keys.sorted().joined(separator: ", ")); expected \(definition.finalMetrics.joined(separator: ", ")))\(tail)")
            }
            metrics.append(Metric(name, v))
        }
        return metrics
    }

    /// Checks the files named in the definition against the digests taken when the spec was
    /// loaded: a host with other code must not produce results under the same task ids.
    private func checkFileDigests() throws {
        for (file, digest) in definition.fileDigests.sorted(by: { $0.key < $1.key }) {
            let path = CommandDefinition.path(of: file, workdir: definition.workdir)
            guard let data = FileManager.default.contents(atPath: path) else {
                throw Failure(description: "\(file) (hash_files) cannot be read on this host (\(path))")
            }
            let here = SHA256.hash([UInt8](data)).description
            guard here == digest else {
                throw Failure(description: "\(file) on this host differs from the coordinator's (sha256 \(here.prefix(12))…, expected \(digest.prefix(12))…): run the same code everywhere")
            }
        }
    }
}

/// Splits a byte stream into lines, never holding more than `maximumLineBytes` of one line:
/// the rest of a longer line is skipped and the line counted as dropped.
struct LineSplitter {
    let maximumLineBytes: Int
    private var pending: [UInt8] = []
    private var skipping = false
    private(set) var droppedLines = 0

    init(maximumLineBytes: Int) { self.maximumLineBytes = maximumLineBytes }

    mutating func append(_ bytes: ArraySlice<UInt8>, _ line: (ArraySlice<UInt8>) -> Void) {
        var start = bytes.startIndex
        while let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) {
            if skipping {
                skipping = false
            } else if pending.isEmpty {
                line(bytes[start..<newline])
            } else if pending.count + (newline - start) <= maximumLineBytes {
                pending.append(contentsOf: bytes[start..<newline])
                line(pending[...])
            } else {
                droppedLines += 1
            }
            pending.removeAll(keepingCapacity: true)
            start = newline + 1
        }
        guard start < bytes.endIndex, !skipping else { return }
        if pending.count + (bytes.endIndex - start) > maximumLineBytes {
            pending.removeAll()
            skipping = true
            droppedLines += 1
        } else {
            pending.append(contentsOf: bytes[start...])
        }
    }

    /// Hands over a last line that had no newline.
    mutating func finish(_ line: (ArraySlice<UInt8>) -> Void) {
        if !pending.isEmpty && !skipping { line(pending[...]) }
        pending.removeAll()
        skipping = false
    }
}

/// The last `capacity` bytes of a stream, as text.
struct TailBuffer {
    let capacity: Int
    private var bytes: [UInt8] = []
    init(capacity: Int) { self.capacity = capacity }

    mutating func append(_ more: ArraySlice<UInt8>) {
        bytes.append(contentsOf: more.suffix(capacity))
        if bytes.count > capacity { bytes.removeFirst(bytes.count - capacity) }
    }

    var text: String {
        String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            .replacingOccurrences(of: "\u{FFFD}", with: "")
    }
}

/// Reads the program's JSON lines into curve points and the final result.
struct OutputReader {
    let curveMetrics: [String]
    let finalMetrics: [String]
    let phases: [String]
    let maxEpoch: Int
    private(set) var result: [String: Double]?
    private(set) var ignoredLines = 0

    init(curveMetrics: [String], finalMetrics: [String], phases: [String], maxEpoch: Int) {
        self.curveMetrics = curveMetrics
        self.finalMetrics = finalMetrics
        self.phases = phases
        self.maxEpoch = maxEpoch
    }

    /// A curve point for a curve line; records a result line; nil for anything else.
    mutating func read(_ line: ArraySlice<UInt8>) -> CurvePoint? {
        guard let first = line.firstIndex(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }), line[first] == UInt8(ascii: "{") else {
            if !line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { ignoredLines += 1 }
            return nil
        }
        guard let object = Self.parse(line[first...]) else {
            ignoredLines += 1
            return nil
        }
        if let final = object["result"] as? [String: Any] {
            var values: [String: Double] = [:]
            for (key, raw) in final { if let v = Self.number(raw) { values[key] = v } }
            result = values
            return nil
        }
        guard !curveMetrics.isEmpty, let epochValue = object["epoch"], let epochNumber = Self.number(epochValue),
              epochNumber == epochNumber.rounded(), epochNumber >= 1, epochNumber <= Double(maxEpoch) else {
            ignoredLines += 1
            return nil
        }
        let phase = (object["phase"] as? String) ?? phases[0]
        guard phases.contains(phase) else {
            ignoredLines += 1
            return nil
        }
        let metrics = curveMetrics.map { Metric($0, object[$0].flatMap(Self.number) ?? .nan) }
        return CurvePoint(phase: phase, epoch: Int(epochNumber), metrics: metrics)
    }

    /// A JSON object, accepting Python's bare NaN, Infinity and -Infinity.
    static func parse(_ bytes: ArraySlice<UInt8>) -> [String: Any]? {
        let data = Data(bytes)
        if let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] { return object }
        var text = String(decoding: bytes, as: UTF8.self)
        guard text.contains("NaN") || text.contains("Infinity") else { return nil }
        text = text.replacingOccurrences(of: "-Infinity", with: "\"-inf\"").replacingOccurrences(of: "Infinity", with: "\"inf\"")
            .replacingOccurrences(of: "NaN", with: "\"nan\"")
        return try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
    }

    /// A metric value: a JSON number, null (NaN), or "nan", "inf", "-inf".
    static func number(_ raw: Any) -> Double? {
        if raw is NSNull { return .nan }
        if let n = raw as? NSNumber { return n.doubleValue }  // true and false read as 1 and 0
        if let s = raw as? String {
            switch s.lowercased() {
            case "nan": return .nan
            case "inf", "+inf", "infinity": return .infinity
            case "-inf", "-infinity": return -.infinity
            default: return Double(s)
            }
        }
        return nil
    }
}
