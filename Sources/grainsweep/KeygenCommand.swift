import ArgumentParser
import Foundation
import ZeroMQ

/// `grainsweep keygen`: makes a CURVE key pair.
struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Write a CURVE key pair: NAME.key (secret, mode 0600) and NAME.pub (public), Z85 text.")

    @Option(help: "Directory to write into (created if needed).")
    var out: String

    @Option(help: "Name of the pair (file names NAME.key and NAME.pub).")
    var name: String = "grainsweep"

    @Flag(help: "Replace existing files.")
    var force = false

    func run() throws {
        do {
            let pair = try CurveKeyFiles.writeKeyPair(name: name, directory: out, overwrite: force)
            print("wrote \(out)/\(name).key (secret, 0600) and \(out)/\(name).pub (public: \(pair.publicKey))")
        } catch {
            throw fail("\(error)")
        }
    }
}
