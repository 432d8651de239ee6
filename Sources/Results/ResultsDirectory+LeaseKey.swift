import Foundation

extension ResultsDirectory {
    /// The path of the lease key: 32 random bytes that sign the leases a coordinator issues.
    public var leaseKeyPath: String { path + "/lease.key" }

    /// The directory's lease key, made on first use (32 bytes from the kernel's random source,
    /// file mode 0600). It lives with the results because a restarted coordinator must recognise
    /// the leases its predecessor issued on these results, and nothing else needs it.
    public func leaseKey() throws(ResultsError) -> [UInt8] {
        if let data = FileManager.default.contents(atPath: leaseKeyPath) {
            guard data.count == 32 else {
                throw ResultsError(path: leaseKeyPath, message: "a lease key has 32 bytes, found \(data.count); delete the file to make a new one (running workers' leases are then not adopted)")
            }
            return Array(data)
        }
        // SystemRandomNumberGenerator is the kernel's getrandom(2) on Linux: cryptographically secure.
        var random = SystemRandomNumberGenerator()
        let key = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &random) }
        try AppendOnlyCSV.writeAtomically(path: leaseKeyPath, key)
        guard chmod(leaseKeyPath, 0o600) == 0 else {
            throw ResultsError(path: leaseKeyPath, message: "cannot make the lease key private (chmod 0600: errno \(errno))")
        }
        return key
    }
}
