import Foundation
import Results
import Testing

/// The grainsweep executable SwiftPM built next to this test bundle.
let grainsweepBinary: String = {
    var url = Bundle.main.bundleURL
    for candidate in [Bundle.main.bundleURL, URL(fileURLWithPath: CommandLine.arguments[0])] {
        var dir = candidate
        for _ in 0..<4 {
            dir = dir.deletingLastPathComponent()
            let exe = dir.appendingPathComponent("grainsweep").path
            if FileManager.default.isExecutableFile(atPath: exe) { return exe }
        }
        url = candidate
    }
    Issue.record("grainsweep executable not found near \(url.path)")
    return "grainsweep"
}()

/// A temporary directory for one test.
func scratchDirectory(_ name: String) -> String {
    let path = NSTemporaryDirectory() + "grainsweep-it-\(name)-\(UUID().uuidString.prefix(8))"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func write(_ text: String, to path: String) {
    try! Data(text.utf8).write(to: URL(fileURLWithPath: path))
}

/// A grainsweep child process with its output in files.
final class Child: @unchecked Sendable {
    // @unchecked: used from one test at a time; Process is thread-safe for the calls made here.
    let process = Process()
    let stdoutPath: String
    let stderrPath: String

    /// - Parameter cwd: the child's working directory (default: the test process's).
    init(_ arguments: [String], in directory: String, tag: String, cwd: String? = nil) throws {
        stdoutPath = directory + "/\(tag).out"
        stderrPath = directory + "/\(tag).err"
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: grainsweepBinary)
        process.arguments = arguments
        if let cwd { process.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var stdout: String { String(decoding: FileManager.default.contents(atPath: stdoutPath) ?? Data(), as: UTF8.self) }
    var stderr: String { String(decoding: FileManager.default.contents(atPath: stderrPath) ?? Data(), as: UTF8.self) }

    func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// Waits for exit; returns the status, or nil (after SIGKILL) on time-out.
    @discardableResult
    func wait(timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// Runs grainsweep to completion and returns (status, stdout, stderr).
func grainsweep(_ arguments: [String], in directory: String, timeout: Double = 120) throws -> (status: Int32?, out: String, err: String) {
    let child = try Child(arguments, in: directory, tag: "cmd-\(UUID().uuidString.prefix(6))")
    let status = child.wait(timeout: timeout)
    return (status, child.stdout, child.stderr)
}

/// Reads a CSV file as header + rows.
func readCSV(_ path: String) throws -> (header: [String], rows: [[String]]) {
    try AppendOnlyCSV.readRows(path: path)
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes.
func eventually(timeout: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        usleep(20_000)
    }
    return condition()
}

/// A free TCP port on 127.0.0.1 (bound then released).
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// The task ids of a spec, from `grainsweep plan --format csv`.
func plannedTaskIDs(_ spec: String, in directory: String) throws -> [String] {
    let r = try grainsweep(["plan", spec, "--format", "csv"], in: directory)
    #expect(r.status == 0, "plan failed: \(r.err)")
    return r.out.split(separator: "\n").dropFirst().map { String($0.split(separator: ",")[0]) }
}

/// The package's root directory (holding Package.swift), found from the built binary's path.
let packageRoot: String = {
    var dir = URL(fileURLWithPath: grainsweepBinary).deletingLastPathComponent()
    for _ in 0..<6 {
        if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) { return dir.path }
        dir = dir.deletingLastPathComponent()
    }
    return FileManager.default.currentDirectoryPath
}()
