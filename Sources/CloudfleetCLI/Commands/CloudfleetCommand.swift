import ArgumentParser

/// `cloudfleet`: the Cloudfleet command-line interface.
public struct CloudfleetCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cloudfleet",
        abstract: "Manage Cloudfleet API tokens, CLI profiles and Kubernetes access.",
        discussion: """
            Exit codes: 0 success; 1 configuration or local error (and a secret that `tokens check` refuses); \
            2 the server refused the input; 3 authentication failed (also: the token expired); 4 the token's role does \
            not allow the action, or the token may not be used from this address; 5 not found; 6 the API cannot be \
            reached; 7 server error; 8 conflict; 9 rate limited (too many failed authentications; retry later); \
            64 usage error.
            """,
        version: "0.1.0",
        subcommands: [Auth.self, Tokens.self, Clusters.self, OrganizationCommand.self, AuditCommand.self]
    )

    public init() {}
}

extension CloudfleetCommand {
    /// Parses the process arguments and runs the chosen command, exiting with its code. The executable calls
    /// this (an async root command in a library cannot carry `@main`).
    public static func runMain(_ arguments: [String]? = nil) async -> Never {
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            exit()
        } catch {
            exit(withError: error)
        }
    }
}
