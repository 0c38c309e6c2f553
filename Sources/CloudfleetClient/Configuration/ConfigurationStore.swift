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

    /// ``load()`` without Codable, for the exec plugin's fast path: the same configuration for a file that
    /// ``load()`` accepts, `nil` for one it might refuse (``load()`` then says what is wrong).
    public func loadPlain() -> CLIConfiguration? {
        guard let data = SecureFile.read(configurationPath) else { return CLIConfiguration() }
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
            let entries = root[CLIConfiguration.CodingKeys.profiles.rawValue] as? [String: Any]
        else { return nil }
        var configuration = CLIConfiguration()
        switch root[CLIConfiguration.CodingKeys.defaultProfile.rawValue] {
        case nil, is NSNull: break
        case let name as String: configuration.defaultProfile = name
        default: return nil
        }
        for (name, entry) in entries {
            typealias Key = Profile.CodingKeys
            guard let fields = entry as? [String: Any], let type = fields[Key.type.rawValue] as? String,
                let organizationID = fields[Key.organizationID.rawValue] as? String, let tokenID = fields[Key.tokenID.rawValue] as? String,
                let tokenSecret = fields[Key.tokenSecret.rawValue] as? String, let apiURL = fields[Key.apiURL.rawValue] as? String
            else { return nil }
            var profile = Profile(organizationID: organizationID, tokenID: tokenID, tokenSecret: tokenSecret, apiURL: apiURL)
            profile.type = type
            configuration.profiles[name] = profile
        }
        return configuration
    }

    /// Writes `configuration` atomically, mode 0600.
    public func save(_ configuration: CLIConfiguration) throws {
        try SecureFile.write(try PrettyJSON.encode(configuration), to: configurationPath)
    }
}
