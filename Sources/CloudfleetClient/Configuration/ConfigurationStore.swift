import Foundation

/// Reads and writes the CLI configuration in `~/.cloudfleet/` (or `$CLOUDFLEET_CONFIG_DIR`).
public struct ConfigurationStore: Sendable {
    /// The configuration directory.
    public let directory: String

    /// The store for `environment` (normally the process environment).
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        if let configured = environment["CLOUDFLEET_CONFIG_DIR"], !configured.isEmpty {
            self.directory = configured
        } else {
            self.directory = (environment["HOME"] ?? FileManager.default.homeDirectoryForCurrentUser.path) + "/.cloudfleet"
        }
    }

    public var configurationPath: String { directory + "/config.json" }
    /// Where access tokens are cached.
    public var cacheDirectory: String { directory + "/cache" }

    /// The configuration, empty when there is no file yet.
    public func load() throws -> CLIConfiguration {
        guard let data = SecureFile.read(configurationPath) else { return CLIConfiguration() }
        do {
            return try JSONDecoder().decode(CLIConfiguration.self, from: data)
        } catch {
            throw SecureFile.Failure(description: "\(configurationPath) is not a valid configuration file; fix or remove it")
        }
    }

    /// Writes `configuration` atomically, mode 0600.
    public func save(_ configuration: CLIConfiguration) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try SecureFile.write(try encoder.encode(configuration), to: configurationPath)
    }
}
