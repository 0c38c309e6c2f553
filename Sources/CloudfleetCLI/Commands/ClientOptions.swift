import ArgumentParser
import CloudfleetClient
import Foundation

/// Options every API command takes. `--profile` may stand before the subcommand
/// (`cloudfleet tokens --profile P regenerate ID`) or after it.
struct ClientOptions: ParsableArguments {
    @Option(help: "Profile to use (default: $CLOUDFLEET_PROFILE, then CLOUDFLEET_TOKEN_* variables, then the default profile).")
    var profile: String?

    @Option(name: .customLong("api-url"), help: "API address, overriding the profile's (also $CLOUDFLEET_API_URL).")
    var apiURL: String?

    @Option(
        name: [.customShort("o"), .customLong("output")], help: "Output format: table, json or yaml (default: table on a terminal, json otherwise).")
    var output: OutputFormat?

    /// These options with any left unset taken from `parent` (the options given before the subcommand).
    func merged(with parent: ClientOptions?) -> ClientOptions {
        var merged = self
        merged.profile = profile ?? parent?.profile
        merged.apiURL = apiURL ?? parent?.apiURL
        merged.output = output ?? parent?.output
        return merged
    }

    var renderer: Renderer { Renderer(format: OutputFormat.resolve(output)) }

    /// The credentials these options select.
    func credentials() throws -> ResolvedCredentials {
        let store = ConfigurationStore()
        return try CLIFailure.wrap { try CredentialResolver.resolve(profile: profile, apiURL: apiURL, configuration: try store.load()) }
    }

    /// A client authenticated with the selected credentials. It warns once on standard error when a response
    /// says the token expires within a week.
    func client() throws -> CloudfleetClient {
        let credentials = try credentials()
        return CloudfleetClient(
            apiURL: credentials.apiURL, tokenID: credentials.tokenID, secret: credentials.tokenSecret,
            cache: AccessTokenFileCache(directory: ConfigurationStore().cacheDirectory),
            tokenExpiryObserver: { header in ExpiryWarning.report(header: header, credentials: credentials) })
    }
}
