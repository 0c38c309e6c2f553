import ArgumentParser
import CloudfleetCore
import CloudfleetServer
import CloudfleetStore
import Foundation

extension Admin {
    /// `admin create-user`: adds a person who signs in to the console, typically an organization's first
    /// Administrator, who then adds the others on the Users page.
    struct CreateUser: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create-user",
            abstract: "Add a person who signs in to the web console (such as an organization's first Administrator).")

        @OptionGroup var options: ServerOptions
        @Option(help: "Email address the person signs in with (single sign-on maps the verified email to the user).") var email: String
        @Option(help: "Role: Administrator or User.") var role: String
        @Option(help: "Organization ID. May be left out when the database holds exactly one organization.") var organization: String?
        @Option(help: "Output format: text or json.") var output: OutputFormat = .text

        func validate() throws {
            try AdminContext.validate(role: role, organization: organization)
        }

        func run() async throws {
            let (services, store) = try await AdminContext.servicesAndStore(options)
            let user = try await AdminContext.closing(store) {
                let organizationID = try await AdminContext.resolveOrganization(organization, store: store)
                return try await AdminContext.userFacing {
                    do {
                        return try await services.users.create(
                            email: try EmailAddress(email), role: Role(name: role) ?? .user, organization: organizationID,
                            context: AuditContext(actor: "admin-cli"))
                    } catch let error as APIError where error.code == "conflict" {
                        throw fail("error: \(error.message)", code: 5)
                    }
                }
            }
            switch output {
            case .text:
                print(
                    """
                    User ID:         \(user.id)
                    Email:           \(user.email)
                    Role:            \(user.role)
                    Organization ID: \(user.organizationID)

                    They can sign in with single sign-on, or with a link from `cloudfleet-server admin sign-in-link --email \(user.email)`.
                    """)
            case .json:
                try AdminContext.printJSON([
                    "id": user.id.description, "email": user.email.rawValue, "role": user.role.rawValue,
                    "organization_id": user.organizationID.description,
                ])
            }
        }
    }

    /// `admin sign-in-link`: the break-glass way into the console when single sign-on is unavailable.
    struct SignInLink: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sign-in-link",
            abstract: "Print a single-use link that signs a person in to the web console, valid for minutes (break-glass).")

        @OptionGroup var options: ServerOptions
        @Option(help: "Email address of the user to sign in.") var email: String
        @Option(help: "How long the link works, such as 15m; at most 60m.") var validFor: String = "15m"
        @Option(help: "Output format: text or json.") var output: OutputFormat = .text

        func validate() throws {
            guard let duration = DurationText(validFor), duration.timeInterval <= UserService.maximumLinkValidity else {
                throw ValidationError("--valid-for must be a duration of at most 60m, such as 15m")
            }
        }

        func run() async throws {
            let configuration = try options.configuration()
            let validity = DurationText(validFor)?.timeInterval ?? UserService.defaultLinkValidity
            let (services, store) = try await AdminContext.servicesAndStore(options)
            let (user, secret) = try await AdminContext.closing(store) {
                try await AdminContext.userFacing {
                    guard let user = try await services.users.find(email: try EmailAddress(email)) else {
                        throw fail(
                            "error: no user has the email address \(email.lowercased()); add one with `cloudfleet-server admin create-user`", code: 4)
                    }
                    return (user, try await services.users.issueSignInLink(for: user, validity: validity, context: AuditContext(actor: "admin-cli")))
                }
            }
            let url = configuration.issuer + "/console/sign-in/link?token=" + secret.reveal
            let expires = Date().addingTimeInterval(validity).formatted(.iso8601)
            switch output {
            case .text:
                print(url)
                FileHandle.standardError.write(
                    Data("Signs in \(user.email) (\(user.role)) once, until \(expires). Hand it over privately; it is a key.\n".utf8))
            case .json:
                try AdminContext.printJSON(["url": url, "email": user.email.rawValue, "expires_at": expires])
            }
        }
    }
}
