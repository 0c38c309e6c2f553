import ArgumentParser

/// `cloudfleet-server`: the Cloudfleet API tokens service.
@main
struct CloudfleetServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cloudfleet-server",
        abstract: "The Cloudfleet API tokens service: HTTP API, OAuth2 token endpoint and audit trail.",
        version: "0.1.0",
        subcommands: [Serve.self, Admin.self],
        defaultSubcommand: Serve.self
    )
}
