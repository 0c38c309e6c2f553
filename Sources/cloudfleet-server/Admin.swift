import ArgumentParser
import CloudfleetCore
import CloudfleetServer
import CloudfleetStore
import Foundation
import Logging

/// `cloudfleet-server admin`: bootstrap and break-glass commands that work directly on the configured database.
struct Admin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bootstrap and break-glass commands that work directly on the configured database.",
        subcommands: [
            CreateOrganization.self, CreateToken.self, RotateSigningKey.self, CreateServiceCredential.self, ListServiceCredentials.self,
            DeleteServiceCredential.self, CreateUser.self, SignInLink.self,
        ]
    )
}

/// How `admin` prints what it created.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

extension Admin {
    struct CreateOrganization: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "create-organization", abstract: "Create an organization and print its ID.")

        @OptionGroup var options: ServerOptions
        @Option(help: "Name of the organization (1-100 printable characters).") var name: String
        @Option(help: "Output format: text or json.") var output: OutputFormat = .text

        func run() async throws {
            let (services, store) = try await AdminContext.servicesAndStore(options)
            let organization = try await AdminContext.closing(store) {
                try await AdminContext.userFacing {
                    try await services.organizations.create(name: name, context: AuditContext(actor: "admin-cli"))
                }
            }
            switch output {
            case .text: print("Organization ID: \(organization.id)\nName: \(organization.name)")
            case .json: try AdminContext.printJSON(["organization_id": organization.id.description, "name": organization.name])
            }
        }
    }

    struct CreateToken: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create-token", abstract: "Create an API token and print its ID and secret (shown only this once).")

        @OptionGroup var options: ServerOptions
        @Option(help: "Human-friendly name of the token.") var name: String
        @Option(help: "Role: Administrator or User.") var role: String
        @Option(help: "Organization ID. May be left out when the database holds exactly one organization.") var organization: String?
        @Option(help: "Output format: text or json.") var output: OutputFormat = .text

        func validate() throws {
            try AdminContext.validate(role: role, organization: organization)
        }

        func run() async throws {
            let (services, store) = try await AdminContext.servicesAndStore(options)
            let (organizationID, issued) = try await AdminContext.closing(store) {
                let organizationID = try await AdminContext.resolveOrganization(organization, store: store)
                let issued = try await AdminContext.userFacing {
                    try await services.tokens.create(
                        name: try TokenName(name), role: Role(name: role) ?? .user, organization: organizationID,
                        context: AuditContext(actor: "admin-cli"))
                }
                return (organizationID, issued)
            }
            switch output {
            case .text:
                print(
                    """
                    Organization ID: \(organizationID)
                    Token ID:        \(issued.token.id)
                    Role:            \(issued.token.role)
                    Secret:          \(issued.secret.reveal)

                    Store the secret now: it is shown only this once.
                    """)
            case .json:
                try AdminContext.printJSON([
                    "organization_id": organizationID.description, "id": issued.token.id.rawValue, "name": issued.token.name.rawValue,
                    "role": issued.token.role.rawValue, "secret": issued.secret.reveal,
                ])
            }
        }
    }
}

extension ServiceCredential.Kind: ExpressibleByArgument {}

extension SigningAlgorithm: ExpressibleByArgument {
    /// `es256` is taken for `ES256`: JOSE names are upper case, and what was meant is plain.
    public init?(argument: String) { self.init(rawValue: argument.uppercased()) }
}

extension Admin {
    struct CreateServiceCredential: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create-service-credential",
            abstract: "Create a credential for a secret scanner or a metrics scraper and print it (shown only this once).",
            discussion: """
                secret-scanner: POST /v1/secrets/report (leaked secrets are revoked and audited with NAME as reporter).                 metrics: GET /metrics. Both present it as `Authorization: Bearer cfsvc_…`.
                """)

        @OptionGroup var options: ServerOptions
        @Option(help: "secret-scanner or metrics.") var kind: ServiceCredential.Kind
        @Option(help: "Who uses it, such as github-secret-scanning (1-100 printable characters).") var name: String
        @Option(help: "Output format: text or json.") var output: OutputFormat = .text

        func run() async throws {
            let validated: TokenName
            do {
                validated = try TokenName(name)
            } catch {
                throw fail("error: --name \(error.reason)", code: 2)
            }
            let dependencies = try await AdminContext.dependencies(options)
            let credential = ServiceCredential.generate()
            let record = ServiceCredentialRecord(
                kind: kind, name: validated.rawValue, digest: SecretHasher(serverKey: dependencies.serverKey).digest(credential),
                createdAt: Date())
            try await AdminContext.closing(dependencies.store) {
                try await AdminContext.userFacing { try await dependencies.store.createServiceCredential(record) }
            }
            switch output {
            case .text:
                print(
                    """
                    Service credential ID: \(record.id.uuidString.lowercased())
                    Kind:                  \(kind.rawValue)
                    Name:                  \(record.name)
                    Credential:            \(credential.reveal)

                    Store the credential now: it is shown only this once.
                    """)
            case .json:
                try AdminContext.printJSON([
                    "id": record.id.uuidString.lowercased(), "kind": kind.rawValue, "name": record.name, "credential": credential.reveal,
                ])
            }
        }
    }

    struct ListServiceCredentials: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list-service-credentials", abstract: "List service credentials (never their values).")

        @OptionGroup var options: ServerOptions

        func run() async throws {
            let dependencies = try await AdminContext.dependencies(options)
            let records = try await AdminContext.closing(dependencies.store) { try await dependencies.store.serviceCredentials() }
            for record in records {
                print("\(record.id.uuidString.lowercased())  \(record.kind.rawValue)  \(record.name)  \(record.createdAt.formatted(.iso8601))")
            }
        }
    }

    struct DeleteServiceCredential: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "delete-service-credential", abstract: "Delete a service credential; it stops working within seconds.")

        @OptionGroup var options: ServerOptions
        @Option(help: "ID from list-service-credentials.") var id: String

        func validate() throws {
            guard UUID(uuidString: id) != nil else { throw ValidationError("--id must be a service credential ID (a UUID)") }
        }

        func run() async throws {
            guard let uuid = UUID(uuidString: id) else { throw ExitCode(64) }
            let dependencies = try await AdminContext.dependencies(options)
            do {
                try await AdminContext.closing(dependencies.store) { try await dependencies.store.deleteServiceCredential(id: uuid) }
            } catch StoreError.notFound {
                throw fail("error: no service credential \(id)", code: 4)
            }
            print("Service credential \(id) deleted.")
        }
    }
}

extension Admin {
    struct RotateSigningKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-signing-key",
            abstract: "Make a new signing key; the previous one still verifies the tokens it signed.",
            discussion: """
                The signing key signs cluster tokens and is published in the JWKS. Access tokens are ES256 either way: \
                an ES256 key signs them itself, an RS256 key through a companion derived from it (docs/operations.md, \
                "Signing keys"). \
                Nodes on PostgreSQL pick up the new key at once through the change feed. A server on SQLite picks it \
                up when restarted; until then it keeps signing with the previous key, which stays valid. \
                RS256 is what every kube-apiserver accepts (EKS accepts nothing else); ES256 signs about twenty times \
                faster and makes cluster tokens shorter, for clusters whose --oidc-signing-algs or \
                AuthenticationConfiguration allow it (docs/kubernetes.md).
                """)

        @OptionGroup var options: ServerOptions

        @Option(help: "Algorithm of the new key: RS256 or ES256.") var algorithm: SigningAlgorithm = .rs256

        func run() async throws {
            let dependencies = try await AdminContext.dependencies(options)
            let kid = try await AdminContext.closing(dependencies.store) {
                try await SigningKeyRotation.rotate(store: dependencies.store, serverKey: dependencies.serverKey, algorithm: algorithm)
            }
            print("New signing key: \(kid) (\(algorithm.rawValue))")
        }
    }
}

/// Shared plumbing of the `admin` commands.
enum AdminContext {
    static func dependencies(configuration: ServerConfiguration, logger: Logger) async throws -> AppDependencies {
        do {
            let serverKey = try ServerKeyLoader.load(configuration: configuration)
            let store = try await StoreFactory.open(configuration: configuration, logger: logger)
            return AppDependencies(store: store, serverKey: serverKey)
        } catch let failure as ServerKeyLoader.Failure {
            throw fail("error: \(failure.description)", code: 2)
        } catch let failure as StoreFactory.Failure {
            throw fail("error: \(failure.description)", code: 2)
        } catch let error as StoreError {
            throw fail("error: cannot open the database: \(error)", code: 3)
        }
    }

    /// The dependencies of an admin command: the configured store and server key, quiet logs.
    static func dependencies(_ options: ServerOptions) async throws -> AppDependencies {
        var logger = Logger(label: "cloudfleet-server.admin")
        logger.logLevel = .warning
        return try await dependencies(configuration: try options.configuration(), logger: logger)
    }

    static func servicesAndStore(_ options: ServerOptions) async throws -> (AppServices, any Store) {
        let dependencies = try await dependencies(options)
        return (AppServices(dependencies: dependencies), dependencies.store)
    }

    /// Runs `body`, then closes `store` whether or not it threw.
    static func closing<T>(_ store: any Store, _ body: () async throws -> T) async throws -> T {
        do {
            let result = try await body()
            try await store.close()
            return result
        } catch {
            try? await store.close()
            throw error
        }
    }

    /// Checks the `--role` and `--organization` options that `create-token` and `create-user` share.
    static func validate(role: String, organization: String?) throws {
        guard Role(name: role) != nil else { throw ValidationError("--role must be Administrator or User") }
        if let organization, OrganizationID(organization) == nil {
            throw ValidationError("--organization must be an organization ID (a UUID)")
        }
    }

    static func resolveOrganization(_ given: String?, store: any Store) async throws -> OrganizationID {
        if let given, let id = OrganizationID(given) {
            guard try await store.organization(id: id) != nil else {
                throw fail("error: organization \(id) does not exist", code: 4)
            }
            return id
        }
        let count = try await store.organizationCount()
        guard count == 1, let only = try await store.listOrganizations(limit: 1).first?.id else {
            throw fail(
                count == 0
                    ? "error: the database has no organization; run `cloudfleet-server admin create-organization --name NAME` first"
                    : "error: the database has \(count) organizations; pass --organization ID", code: 2)
        }
        return only
    }

    /// Runs `body`, turning invalid input into one clear line and exit code 2.
    static func userFacing<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as CloudfleetCore.ValidationError {
            throw fail("error: invalid \(error.field): \(error.reason)", code: 2)
        }
    }

    static func printJSON(_ object: [String: String]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try encoder.encode(object), as: UTF8.self))
    }
}

/// Writes one line to stderr and gives the exit code to throw, so failures show no stack trace.
func fail(_ message: String, code: Int32) -> ExitCode {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    return ExitCode(code)
}
