import Foundation

/// Files that may hold credentials: written atomically (temporary file, then rename) with mode 0600, in a
/// directory of mode 0700.
public enum SecureFile {
    /// Why a file could not be written.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Writes `data` to `path` atomically with mode 0600 (or `mode`), creating the parent directory with mode 0700.
    public static func write(_ data: Data, to path: String, mode: Int = 0o600) throws {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let manager = FileManager.default
        do {
            try manager.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw Failure(description: "cannot create \(directory): \(error.localizedDescription)")
        }
        let temporary = directory + "/.\(url.lastPathComponent).\(UInt32.random(in: 0...UInt32.max)).tmp"
        guard manager.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: mode]) else {
            throw Failure(description: "cannot write \(path)")
        }
        guard rename(temporary, path) == 0 else {
            try? manager.removeItem(atPath: temporary)
            throw Failure(description: "cannot replace \(path)")
        }
    }

    /// The contents of `path`, or `nil` if it does not exist.
    public static func read(_ path: String) -> Data? {
        FileManager.default.contents(atPath: path)
    }
}
