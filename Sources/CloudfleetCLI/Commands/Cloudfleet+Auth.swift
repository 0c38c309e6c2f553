import ArgumentParser
import CloudfleetAPI
import CloudfleetClient
import CloudfleetCore
import Foundation

/// `cloudfleet auth`: CLI profiles.
struct Auth: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage CLI profiles: which token the CLI uses, for which organization and API.",
        subcommands: [AddProfile.self, ListProfiles.self, SetDefault.self, RemoveProfile.self, Whoami.self]
    )
}

extension Auth {
    struct AddProfile: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-profile",
            abstract: "Add (or replace) a profile.",
            subcommands: [TokenProfile.self]
        )
    }

    struct TokenProfile: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "token",
            abstract: "Add a profile that uses an API token.",
            discussion: """
                cloudfleet auth add-profile token PROFILE_NAME ORGANIZATION_ID TOKEN_ID TOKEN_SECRET

                To keep the secret out of your shell history, leave TOKEN_SECRET out and pass --secret-stdin \
                (or pipe it in) or --secret-file PATH. The first profile added becomes the default.
                """)

        @Argument(help: "A name for the profile.") var profileName: String
        @Argument(help: "The organization ID.") var organizationID: String
        @Argument(help: "The access token ID.") var tokenID: String
        @Argument(help: "The token secret (or use --secret-stdin / --secret-file).") var tokenSecret: String?
        @Flag(help: "Read the secret from standard input.") var secretStdin = false
        @Option(help: "Read the secret from a file.") var secretFile: String?
        @Option(name: .customLong("api-url"), help: "API address.")
        var apiURL: String = CredentialResolver.defaultAPIURL
        @Flag(help: "Make this the default profile.") var setDefault = false

        func validate() throws {
            guard !profileName.isEmpty, profileName.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
                throw ValidationError("PROFILE_NAME may hold letters, digits, '-', '_' and '.'")
            }
            guard OrganizationID(organizationID) != nil else { throw ValidationError("ORGANIZATION_ID must be an organization ID (a UUID)") }
            guard TokenID(tokenID) != nil else { throw ValidationError("TOKEN_ID must be an access token ID: 22 letters and digits") }
            let sources = [tokenSecret != nil, secretStdin, secretFile != nil].filter { $0 }.count
            guard sources <= 1 else { throw ValidationError("give the secret one way: as an argument, --secret-stdin or --secret-file") }
            guard let url = URL(string: apiURL), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                throw ValidationError("--api-url must be an http:// or https:// address")
            }
        }

        func run() async throws {
            let secret = try readSecret()
            do {
                _ = try TokenSecret(parsing: secret)
            } catch .badChecksum {
                throw CLIFailure.exit("the secret's checksum does not match: it was copied incompletely or with a typo", code: 64)
            } catch {
                throw CLIFailure.exit("that is not a token secret (it starts with cfs_ and has 50 characters)", code: 64)
            }
            let store = ConfigurationStore()
            var configuration = try CLIFailure.wrap { try store.load() }
            configuration.profiles[profileName] = Profile(
                organizationID: organizationID.lowercased(), tokenID: tokenID, tokenSecret: secret, apiURL: apiURL)
            if setDefault || configuration.defaultProfile == nil { configuration.defaultProfile = profileName }
            try CLIFailure.wrap { try store.save(configuration) }
            let isDefault = configuration.defaultProfile == profileName
            print("Profile \(profileName) saved\(isDefault ? " (default)" : "") in \(store.configurationPath).")
        }

        private func readSecret() throws -> String {
            let raw: String
            if let tokenSecret {
                raw = tokenSecret
            } else if let secretFile {
                guard let data = FileManager.default.contents(atPath: secretFile) else { throw CLIFailure.exit("cannot read \(secretFile)", code: 1) }
                raw = String(decoding: data, as: UTF8.self)
            } else if secretStdin || isatty(STDIN_FILENO) == 0 {
                raw = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            } else {
                FileHandle.standardError.write(Data("Token secret: ".utf8))
                raw = String(cString: getpass(""))
            }
            return raw.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    struct ListProfiles: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list-profiles", abstract: "List the profiles (never their secrets).")

        @Option(name: [.customShort("o"), .customLong("output")], help: "Output format: table, json or yaml.") var output: OutputFormat?

        struct Row: Encodable {
            let name: String
            let isDefault: Bool
            let organizationID: String
            let tokenID: String
            let apiURL: String

            enum CodingKeys: String, CodingKey {
                case name
                case isDefault = "default"
                case organizationID = "organization_id"
                case tokenID = "token_id"
                case apiURL = "api_url"
            }
        }

        func run() async throws {
            let configuration = try CLIFailure.wrap { try ConfigurationStore().load() }
            let rows = configuration.profiles.keys.sorted().compactMap { name in
                configuration.profiles[name].map {
                    Row(
                        name: name, isDefault: name == configuration.defaultProfile, organizationID: $0.organizationID, tokenID: $0.tokenID,
                        apiURL: $0.apiURL)
                }
            }
            let renderer = Renderer(format: OutputFormat.resolve(output))
            if renderer.format == .table {
                if rows.isEmpty {
                    print("No profiles. Add one with: cloudfleet auth add-profile token PROFILE_NAME ORGANIZATION_ID TOKEN_ID TOKEN_SECRET")
                    return
                }
                print(
                    Renderer.table(
                        header: ["", "NAME", "ORGANIZATION", "TOKEN ID", "API"],
                        rows: rows.map { [$0.isDefault ? "*" : "", $0.name, $0.organizationID, $0.tokenID, $0.apiURL] }), terminator: "")
            } else {
                try renderer.structured(rows)
            }
        }
    }

    struct SetDefault: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set-default", abstract: "Make a profile the default.")

        @Argument(help: "Profile name.") var profile: String

        func run() async throws {
            let store = ConfigurationStore()
            var configuration = try CLIFailure.wrap { try store.load() }
            guard configuration.profiles[profile] != nil else { throw CLIFailure.exit("no profile named \(profile)", code: 1) }
            configuration.defaultProfile = profile
            try CLIFailure.wrap { try store.save(configuration) }
            print("Default profile: \(profile)")
        }
    }

    struct RemoveProfile: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove-profile", abstract: "Remove a profile from this machine (the token itself is not deleted).")

        @Argument(help: "Profile name.") var profile: String

        func run() async throws {
            let store = ConfigurationStore()
            var configuration = try CLIFailure.wrap { try store.load() }
            guard let removed = configuration.profiles.removeValue(forKey: profile) else {
                throw CLIFailure.exit("no profile named \(profile)", code: 1)
            }
            if configuration.defaultProfile == profile { configuration.defaultProfile = nil }
            try CLIFailure.wrap { try store.save(configuration) }
            AccessTokenFileCache(directory: store.cacheDirectory).forget(
                apiURL: removed.apiURL, tokenID: removed.tokenID, secret: removed.tokenSecret)
            print("Profile \(profile) removed.")
        }
    }

    struct Whoami: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show which token the CLI uses, its role, expiry, organization and API address.")

        @OptionGroup var options: ClientOptions

        struct Identity: Encodable {
            let source: String
            let apiURL: String
            let organizationID: String
            let organizationName: String
            let tokenID: String
            let tokenName: String
            let role: String
            let tokenExpiresAt: Date?
            /// `current`, or `previous` while a regeneration's grace period keeps the old secret working.
            let secretInUse: String

            enum CodingKeys: String, CodingKey {
                case source
                case apiURL = "api_url"
                case organizationID = "organization_id"
                case organizationName = "organization_name"
                case tokenID = "token_id"
                case tokenName = "token_name"
                case role
                case tokenExpiresAt = "token_expires_at"
                case secretInUse = "secret_in_use"
            }

            /// Every field, `null` included.
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(source, forKey: .source)
                try container.encode(apiURL, forKey: .apiURL)
                try container.encode(organizationID, forKey: .organizationID)
                try container.encode(organizationName, forKey: .organizationName)
                try container.encode(tokenID, forKey: .tokenID)
                try container.encode(tokenName, forKey: .tokenName)
                try container.encode(role, forKey: .role)
                try container.encode(tokenExpiresAt, forKey: .tokenExpiresAt)
                try container.encode(secretInUse, forKey: .secretInUse)
            }
        }

        func run() async throws {
            let credentials = try options.credentials()
            let client = try options.client()
            // The token as the server authenticated it, which also tells whether this is a superseded secret.
            let (token, organization) = try await CLIFailure.wrap {
                (try await client.currentToken(), try await client.organization())
            }
            let identity = Identity(
                source: credentials.source, apiURL: credentials.apiURL, organizationID: organization.id, organizationName: organization.name,
                tokenID: token.id, tokenName: token.name, role: token.role, tokenExpiresAt: token.expiresAt, secretInUse: token.secretInUse)
            let renderer = options.renderer
            if renderer.format == .table {
                print(
                    """
                    Token:         \(token.id) (\(token.name))
                    Role:          \(token.role)
                    Expires:       \(Renderer.expiry(token.expiresAt, now: Date()))
                    Organization:  \(organization.id) (\(organization.name))
                    API:           \(credentials.apiURL)
                    Credentials:   \(credentials.source)
                    """)
                if token.secretInUse == "previous" {
                    print(
                        "Secret:        the previous one: the token was regenerated with a grace period; switch to the new secret before it ends."
                    )
                }
            } else {
                try renderer.structured(identity)
            }
        }
    }
}
