import Foundation
import Testing

@testable import CloudfleetCore

/// The people side of the domain: email addresses, console secrets, and how a person would appear in a cluster.
@Suite struct ConsoleIdentityTests {
    @Test(arguments: ["alice@example.com", " Alice@Example.COM ", "a.b+ci@sub.example.co.uk", "x@y.io"])
    func validEmailAddressesAreLowerCased(_ text: String) throws {
        let email = try EmailAddress(text)
        #expect(email.rawValue == text.trimmingCharacters(in: .whitespaces).lowercased())
    }

    @Test(arguments: [
        "", "a", "alice", "@example.com", "alice@", "alice@example", "alice@@example.com", "al ice@example.com",
        "alice@exa_mple.com", "alice@-example.com", "alice@example..com", "\"alice\"@example.com", "alice<@example.com",
        "alicé@example.com", "alice@example.com\n", String(repeating: "a", count: 65) + "@example.com",
        "a@" + String(repeating: "b", count: 250) + ".com",
    ])
    func malformedEmailAddressesAreRefusedNamingTheField(_ text: String) {
        #expect(throws: ValidationError.self) { try EmailAddress(text) }
        do {
            _ = try EmailAddress(text)
        } catch {
            #expect(error.field == "email")
        }
    }

    @Test func consoleSecretsAreKindBoundAndRedacted() throws {
        let session = ConsoleSecret.generate(.session)
        let link = ConsoleSecret.generate(.signInLink)
        #expect(session.reveal.hasPrefix("cfsess_"))
        #expect(link.reveal.hasPrefix("cfsl_"))
        #expect(try ConsoleSecret(parsing: session.reveal, kind: .session) == session)
        #expect(throws: SecretFormatError.self) { try ConsoleSecret(parsing: session.reveal, kind: .signInLink) }
        #expect(throws: SecretFormatError.self) { try ConsoleSecret(parsing: link.reveal, kind: .session) }
        #expect(!"\(session)".contains(session.reveal.dropFirst(7)))
        #expect(!String(reflecting: link).contains(link.reveal.dropFirst(5)))
        #expect(ConsoleSecret.generate(.session) != session)
    }

    @Test func aPersonAppearsInClustersByEmailWithTheSameRoleGroups() throws {
        let user = UserID.generate()
        let organization = OrganizationID.generate()
        let identity = KubernetesIdentity(
            userID: user, email: try EmailAddress("Alice@Example.com"), role: .user, organizationID: organization)
        #expect(identity.username == "alice@example.com")
        #expect(identity.uid == user.description)
        #expect(identity.groups == ["cloudfleet:users"])
        #expect(!identity.username.hasPrefix("system:"))
    }

    @Test func peopleAreAuditedByEmailAndUsersCannotSeeThePeople() throws {
        let organization = OrganizationID.generate()
        let person = Principal(
            kind: .user(.generate(), email: try EmailAddress("bob@example.com")), organizationID: organization, role: .user)
        #expect(person.auditActor == "user:bob@example.com")
        #expect(Authorization.decide(person, .listTokens, in: organization) == .allowed)
        for action in [Action.listUsers, .createUser, .updateUser, .deleteUser, .createToken] {
            #expect(Authorization.decide(person, action, in: organization) == .forbidden, "\(action)")
        }
        let admin = Principal(kind: person.kind, organizationID: organization, role: .administrator)
        #expect(Authorization.decide(admin, .deleteUser, in: organization) == .allowed)
        #expect(Authorization.decide(admin, .listUsers, in: .generate()) == .notFound)
    }
}
