import CloudfleetCore
import Foundation

/// Finds the server key: `CLOUDFLEET_SERVER_KEY` (base64) when configured, else the file `server.key` in the
/// data directory, created (mode 0600) with a fresh random key on first start.
public enum ServerKeyLoader {
    /// Why the key could not be loaded.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public static func load(configuration: ServerConfiguration) throws -> ServerKey {
        if let base64 = configuration.serverKeyBase64 {
            guard let bytes = Data(base64Encoded: base64.trimmingCharacters(in: .whitespacesAndNewlines)),
                let key = ServerKey(bytes: Array(bytes))
            else { throw Failure(description: "CLOUDFLEET_SERVER_KEY must be 32 bytes, base64-encoded") }
            return key
        }
        let path = configuration.dataDirectory + "/server.key"
        let manager = FileManager.default
        if manager.fileExists(atPath: path) {
            guard let data = manager.contents(atPath: path), let key = ServerKey(bytes: Array(data)) else {
                throw Failure(description: "\(path) is not a 32-byte server key")
            }
            return key
        }
        try DataDirectory.ensure(configuration.dataDirectory)
        let key = ServerKey.generate()
        guard manager.createFile(atPath: path, contents: Data(key.bytes), attributes: [.posixPermissions: 0o600]) else {
            throw Failure(description: "cannot write \(path)")
        }
        return key
    }
}

/// The data directory: created on demand with mode 0700.
enum DataDirectory {
    static func ensure(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }
}
