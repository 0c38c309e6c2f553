import ArgumentParser
import CloudfleetAPI
import CloudfleetClient
import CloudfleetCore
import Foundation

/// `cloudfleet organization`: the caller's organization and its token policy.
struct OrganizationCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "organization",
        abstract: "Show your organization and set its token policy.",
        subcommands: [Describe.self, SetPolicy.self]
    )

    @OptionGroup var options: ClientOptions
}

extension OrganizationCommand {
    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the organization, its token count and its token policy.")

        @ParentCommand var parent: OrganizationCommand
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let options = options.merged(with: parent.options)
            let client = try options.client()
            let organization = try await CLIFailure.wrap { try await client.organization() }
            try options.renderer.organization(organization)
        }
    }

    struct SetPolicy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-policy",
            abstract: "Change the organization's token policy (Administrator).",
            discussion: """
                --max-token-lifetime limits how far ahead any new or changed expiry may be (at least 1h; none removes \
                the limit, and with a limit tokens without an expiry can no longer be created). --require-expiry true \
                refuses tokens without an expiry. Existing tokens are not changed.
                Examples:
                  cloudfleet organization set-policy --max-token-lifetime 365d --require-expiry true
                  cloudfleet organization set-policy --max-token-lifetime none
                """)

        /// The shortest lifetime limit the server accepts.
        static let minimumLifetime = 3_600

        @ParentCommand var parent: OrganizationCommand
        @OptionGroup var options: ClientOptions
        @Option(help: ArgumentHelp("The longest token lifetime, such as 365d, or none for no limit.", valueName: "duration|none"))
        var maxTokenLifetime: String?
        @Option(help: ArgumentHelp("Whether every token must have an expiry: true or false.", valueName: "true|false"))
        var requireExpiry: Bool?

        func validate() throws {
            guard maxTokenLifetime != nil || requireExpiry != nil else {
                throw ValidationError("give --max-token-lifetime DURATION|none, --require-expiry true|false, or both")
            }
            if let maxTokenLifetime, Self.lifetime(maxTokenLifetime) == nil {
                throw ValidationError("--max-token-lifetime must be none or \(TokenInput.durationHelp), at least 1h")
            }
        }

        /// `none` (any case) or a duration of at least an hour, in canonical form.
        static func lifetime(_ text: String) -> PolicyChanges.Lifetime? {
            if text.trimmingCharacters(in: .whitespaces).lowercased() == "none" { return .unlimited }
            guard let duration = DurationText(text), duration.seconds >= minimumLifetime else { return nil }
            return .limit(duration.description)
        }

        /// The body sent.
        var changes: PolicyChanges {
            PolicyChanges(maxTokenLifetime: maxTokenLifetime.flatMap(Self.lifetime), requireExpiry: requireExpiry)
        }

        func run() async throws {
            let options = options.merged(with: parent.options)
            let client = try options.client()
            let organization = try await CLIFailure.wrap { try await client.updatePolicy(changes) }
            try options.renderer.organization(organization)
        }
    }
}
