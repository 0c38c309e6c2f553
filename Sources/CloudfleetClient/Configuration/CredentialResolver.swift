import Foundation

/// The credentials a command runs with, and where they came from.
public struct ResolvedCredentials: Sendable, Equatable {
    /// `profile NAME` or `environment`.
    public var source: String
    public var profileName: String?
    public var organizationID: String
    public var tokenID: String
    public var tokenSecret: String
    public var apiURL: String
}

/// Picks the credentials of a command: `--profile`, then `CLOUDFLEET_PROFILE`, then the `CLOUDFLEET_TOKEN_*`
/// environment variables (for CI, no file needed), then the default profile. `CLOUDFLEET_API_URL` overrides the
/// API address of any of them, and `--api-url` overrides that.
public enum CredentialResolver {
    /// The address the server listens on by default.
    public static let defaultAPIURL = "http://127.0.0.1:8080"

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public static func resolve(
        profile requested: String?, apiURL: String?, configuration: CLIConfiguration,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> ResolvedCredentials {
        func value(_ name: String) -> String? {
            guard let value = environment[name], !value.isEmpty else { return nil }
            return value
        }
        let urlOverride = apiURL ?? value("CLOUDFLEET_API_URL")
        if let name = requested ?? value("CLOUDFLEET_PROFILE") {
            guard let profile = configuration.profiles[name] else {
                let known = configuration.profiles.keys.sorted()
                throw Failure(
                    description: "no profile named \(name)"
                        + (known.isEmpty ? "; add one with `cloudfleet auth add-profile token`" : " (profiles: \(known.joined(separator: ", ")))"))
            }
            return ResolvedCredentials(
                source: "profile \(name)", profileName: name, organizationID: profile.organizationID, tokenID: profile.tokenID,
                tokenSecret: profile.tokenSecret, apiURL: urlOverride ?? profile.apiURL)
        }
        let variables = ["CLOUDFLEET_ORGANIZATION_ID", "CLOUDFLEET_TOKEN_ID", "CLOUDFLEET_TOKEN_SECRET"]
        let present = variables.filter { value($0) != nil }
        if !present.isEmpty {
            guard present.count == variables.count, let organization = value(variables[0]), let id = value(variables[1]),
                let secret = value(variables[2])
            else {
                let missing = variables.filter { value($0) == nil }
                throw Failure(description: "environment credentials are incomplete: set \(missing.joined(separator: ", ")) as well")
            }
            return ResolvedCredentials(
                source: "environment", profileName: nil, organizationID: organization, tokenID: id, tokenSecret: secret,
                apiURL: urlOverride ?? defaultAPIURL)
        }
        if let name = configuration.defaultProfile, let profile = configuration.profiles[name] {
            return ResolvedCredentials(
                source: "profile \(name)", profileName: name, organizationID: profile.organizationID, tokenID: profile.tokenID,
                tokenSecret: profile.tokenSecret, apiURL: urlOverride ?? profile.apiURL)
        }
        throw Failure(
            description: "no credentials: add a profile with `cloudfleet auth add-profile token PROFILE_NAME ORGANIZATION_ID TOKEN_ID TOKEN_SECRET`, "
                + "or set CLOUDFLEET_ORGANIZATION_ID, CLOUDFLEET_TOKEN_ID and CLOUDFLEET_TOKEN_SECRET")
    }
}
