import CloudfleetCore
import Testing

@Suite struct TokenNameTests {
    @Test func namesAreTrimmed() throws {
        #expect(try TokenName("  deploy bot \n").rawValue == "deploy bot")
    }

    @Test(arguments: [
        ("", "must not be empty"), ("   \t", "must not be empty"), (String(repeating: "x", count: 101), "must be at most 100 characters"),
        ("bad\u{0007}bell", "must contain only printable characters"), ("two\nlines", "must contain only printable characters"),
        ("zero\u{200B}width", "must contain only printable characters"),
    ])
    func invalidNamesNameTheField(_ input: String, _ reason: String) {
        #expect(throws: ValidationError(field: "name", reason: reason)) { try TokenName(input) }
    }

    @Test func limitsAreInclusive() throws {
        #expect(try TokenName("x").rawValue == "x")
        #expect(try TokenName(String(repeating: "é", count: 100)).rawValue.count == 100)
        #expect(try TokenName("CI — prod ✓ 日本").rawValue == "CI — prod ✓ 日本")
    }
}

@Suite struct AuthorizationTests {
    let home = OrganizationID.generate()

    @Test(arguments: Action.allCases)
    func administratorMayDoEverythingAtHome(_ action: Action) {
        let admin = Principal(kind: .token(.generate()), organizationID: home, role: .administrator)
        #expect(Authorization.decide(admin, action, in: home) == .allowed)
    }

    @Test(arguments: Action.allCases)
    func userMayOnlyRead(_ action: Action) {
        let user = Principal(kind: .token(.generate()), organizationID: home, role: .user)
        let expected: Authorization.Decision = action.isRead && ![.listAuditEvents, .listUsers].contains(action) ? .allowed : .forbidden
        #expect(Authorization.decide(user, action, in: home) == expected)
    }

    @Test(arguments: Action.allCases, Role.allCases)
    func anotherOrganizationIsNotFound(_ action: Action, _ role: Role) {
        let stranger = Principal(kind: .token(.generate()), organizationID: .generate(), role: role)
        #expect(Authorization.decide(stranger, action, in: home) == .notFound)
    }

    @Test func rolesParseAsTheDocumentationWritesThem() {
        #expect(Role(name: "Administrator") == .administrator)
        #expect(Role(name: "user") == .user)
        #expect(Role(name: "admin") == nil)
        #expect(Role.allCases.map(\.rawValue) == ["Administrator", "User"])
    }
}
