import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a key file could not be written or read: the path and what to do about it.
public struct CurveKeyFileError: Error, CustomStringConvertible, Sendable, Hashable {
    public let path: String
    public let reason: String
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
    public var description: String { "\(path): \(reason)" }
}

/// CURVE key files on disk.
///
/// Format (one key per file, UTF-8 text): lines starting with `#` and blank lines are comments;
/// exactly one other line holds the 40-character Z85 key, surrounding spaces ignored. `#` is a
/// Z85 character, but never a key's first: each group of 5 characters encodes 4 bytes, a value
/// below 2^32, so its first character is at most the 83rd of the alphabet (`%`), and `#` is the
/// 85th. For a pair named `NAME` in a directory:
/// - `NAME.key`: the secret key only (the public key is derived from it), mode 0600 (reading refuses a file that group or others can read,
///   as ssh does, and says how to fix it);
/// - `NAME.pub`: the public key, mode 0644, safe to copy to the coordinator's authorised-keys
///   directory (one `.pub` file per worker; the file name without `.pub` names the worker).
///
/// ```
/// # grainsweep CURVE public key "worker-a"
/// rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7
/// ```
public enum CurveKeyFiles {
    /// Generates a key pair and writes `NAME.key` (0600) and `NAME.pub` (0644) into `directory`,
    /// creating the directory (0700) if needed.
    ///
    /// - Parameters:
    ///   - name: the pair's name: letters, digits, `.`, `_`, `-`; no leading `.`.
    ///   - directory: where to write.
    ///   - overwrite: replace existing files instead of failing.
    /// - Returns: the pair written.
    /// - Throws: ``CurveKeyFileError`` (exists, permission, ...) or ``ZMQError`` (no CURVE support).
    @discardableResult
    public static func writeKeyPair(
        name: String, directory: String, overwrite: Bool = false
    ) throws -> (publicKey: String, secretKey: String) {
        guard isValidName(name) else {
            throw CurveKeyFileError(path: name, reason: "a key name uses letters, digits, '.', '_' and '-' only, and does not start with '.'")
        }
        if !FileManager.default.fileExists(atPath: directory) {
            do {
                try FileManager.default.createDirectory(
                    atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw CurveKeyFileError(path: directory, reason: "cannot create the directory: \(error)")
            }
        }
        let pair = try CurveKeys.generate()
        let secretPath = directory + "/" + name + ".key"
        let publicPath = directory + "/" + name + ".pub"
        try writeFile("# grainsweep CURVE secret key \"\(name)\": keep private (mode 0600)\n\(pair.secretKey)\n",
                  to: secretPath, mode: 0o600, overwrite: overwrite)
        try writeFile("# grainsweep CURVE public key \"\(name)\"\n\(pair.publicKey)\n",
                  to: publicPath, mode: 0o644, overwrite: overwrite)
        return pair
    }

    /// Reads a public key file (`NAME.pub`).
    /// - Throws: ``CurveKeyFileError`` if unreadable or not exactly one valid Z85 key.
    public static func readPublicKey(path: String) throws -> String {
        try readKey(path: path)
    }

    /// Reads a secret key file (`NAME.key`).
    /// - Throws: ``CurveKeyFileError`` if unreadable, readable by group or others, or not exactly
    ///   one valid Z85 key.
    public static func readSecretKey(path: String) throws -> String {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw CurveKeyFileError(path: path, reason: "cannot read: \(String(cString: strerror(errno)))")
        }
        guard st.st_mode & 0o077 == 0 else {
            throw CurveKeyFileError(path: path, reason: "secret key file is readable by others; run `chmod 600 \(path)`")
        }
        return try readKey(path: path)
    }

    /// Reads every `*.pub` file of a directory: the authorised client keys of a coordinator.
    ///
    /// - Returns: key name (file name without `.pub`) -> Z85 public key.
    /// - Throws: ``CurveKeyFileError`` for an unreadable directory or any invalid `.pub` file (a
    ///   typo must not silently lock a worker out, or worse, be skipped unnoticed).
    public static func readAuthorizedKeys(directory: String) throws -> [String: String] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw CurveKeyFileError(path: directory, reason: "cannot list the directory: \(error)")
        }
        var keys: [String: String] = [:]
        for file in names.sorted() where file.hasSuffix(".pub") && !file.hasPrefix(".") {
            keys[String(file.dropLast(4))] = try readKey(path: directory + "/" + file)
        }
        return keys
    }

    // MARK: Internals

    private static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 200 && !name.hasPrefix(".")
            && name.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2E || c == 0x5F || c == 0x2D
            }
    }

    static func parseKey(_ text: String) -> String? {
        var found: String?
        for line in text.split(whereSeparator: \.isNewline) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            if found != nil { return nil }
            found = trimmed
        }
        guard let key = found, CurveKeys.isValidZ85Key(key) else { return nil }
        return key
    }

    private static func readKey(path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CurveKeyFileError(path: path, reason: "cannot read the file")
        }
        guard data.count <= 64 * 1024, let text = String(data: data, encoding: .utf8) else {
            throw CurveKeyFileError(path: path, reason: "not a key file (binary or too large)")
        }
        guard let key = parseKey(text) else {
            throw CurveKeyFileError(path: path, reason: "expected exactly one 40-character Z85 key line ('#' lines are comments)")
        }
        return key
    }

    /// Writes with open(2) so the file never exists with wider permissions than `mode`.
    private static func writeFile(_ text: String, to path: String, mode: mode_t, overwrite: Bool) throws {
        let flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (overwrite ? 0 : O_EXCL)
        let fd = open(path, flags, mode)
        guard fd >= 0 else {
            let err = errno
            throw CurveKeyFileError(path: path, reason: err == EEXIST
                ? "already exists (grainsweep keygen --force replaces it)" : String(cString: strerror(err)))
        }
        defer { _ = close(fd) }
        // An existing file keeps its old mode through O_TRUNC, and umask may narrow ours: set it exactly.
        guard fchmod(fd, mode) == 0 else {
            throw CurveKeyFileError(path: path, reason: "chmod: \(String(cString: strerror(errno)))")
        }
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CurveKeyFileError(path: path, reason: "write: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
        guard fsync(fd) == 0 else {
            throw CurveKeyFileError(path: path, reason: "fsync: \(String(cString: strerror(errno)))")
        }
    }
}
