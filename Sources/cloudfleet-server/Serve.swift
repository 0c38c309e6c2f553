import ArgumentParser
import CloudfleetCore
import CloudfleetServer
import CloudfleetStore
import Foundation
import Hummingbird
import Logging

/// `cloudfleet-server serve`: runs the HTTP server until SIGTERM or SIGINT.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the server (the default command).",
        discussion: "On first start with an empty database, creates an organization and an initial Administrator token and prints them once."
    )

    @OptionGroup var options: ServerOptions

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        // Before anything starts an event loop: one per CPU this process may run on.
        EventLoopThreads.configure(environment: environment)
        // Before the first log line: without it, each request's log line costs a stat of /etc/localtime.
        LogTimeZone.pin(environment: environment)
        let configuration = try options.configuration()
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = configuration.logLevel
            return handler
        }
        let logger = Logger(label: "cloudfleet-server")
        let dependencies = try await AdminContext.dependencies(configuration: configuration, logger: logger)
        let services = AppServices(dependencies: dependencies)
        if let bootstrap = try await services.organizations.bootstrapIfEmpty() {
            printBootstrap(bootstrap, configuration: configuration)
        }
        do {
            let app = try await buildApplication(configuration: configuration, dependencies: dependencies, logger: logger)
            // Hummingbird's service group stops gracefully on SIGTERM and SIGINT.
            try await app.runService()
        } catch let failure as TLSFiles.Failure {
            try? await dependencies.store.close()
            throw fail("error: \(failure.description)", code: 2)
        }
        try await dependencies.store.close()
    }

    private func printBootstrap(_ bootstrap: OrganizationService.Bootstrap, configuration: ServerConfiguration) {
        // Written unbuffered, so that a supervisor or a test reading stdout sees it before the server runs.
        FileHandle.standardOutput.write(
            Data(
                """

                ================================================================================
                 Cloudfleet API tokens: first start, a new organization and Administrator token
                ================================================================================
                  Organization ID : \(bootstrap.organization.id)
                  Token ID        : \(bootstrap.administrator.token.id)
                  Token secret    : \(bootstrap.administrator.secret.reveal)

                  Store the secret now: it is shown only this once and cannot be recovered.
                  Use it with:  cloudfleet auth add-profile token default \(bootstrap.organization.id) \(bootstrap.administrator.token.id) SECRET
                  or:           curl -u TOKEN_ID:SECRET \(configuration.issuer)/v1/tokens
                ================================================================================

                """.utf8))
    }
}
