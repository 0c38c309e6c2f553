import CloudfleetCore
import CloudfleetStore
import CloudfleetStoreSQLite
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import CloudfleetServer

/// The web console through its routes: sign-in links, sessions, CSRF, the API tokens and Users pages, and
/// the rule that tokens and sessions never stand in for each other. (The browser tests drive the same pages in
/// Chromium.)
@Suite struct ConsoleTests {
    @Test func aSignInLinkSignsInOnceAndTheSessionOpensTheTokensPage() async throws {
        let world = try await TestWorld.make()
        let link = try await world.signInLink(for: try await world.consoleUser("admin@example.com", .administrator))
        try await world.test { client in
            let page = try await client.send(.get, "/console/sign-in/link?token=\(link)")
            #expect(page.status == .ok)
            #expect(page.text.contains(#"id="link-sign-in""#))
            #expect(page.headers[.referrerPolicy] == "no-referrer")
            let preSession = try #require(page.cookie("cf_presession"))
            let used = try await client.form(
                "/console/sign-in/link", ["token": link, "csrf_token": try page.csrfToken()], cookies: ["cf_presession": preSession])
            #expect(used.status == .seeOther)
            #expect(used.headers[.location] == "/console/tokens")
            let session = try #require(used.cookie("cf_session"))
            #expect(try #require(used.setCookie("cf_session")).contains("HttpOnly"))
            #expect(try #require(used.setCookie("cf_session")).contains("SameSite=Lax"))

            let tokens = try await client.send(.get, "/console/tokens", headers: Console.cookies(["cf_session": session]))
            #expect(tokens.status == .ok)
            #expect(tokens.text.contains(#"id="tokens""#))
            #expect(tokens.text.contains(#"data-token-id="\#(world.admin.id)""#))
            #expect(tokens.text.contains(#"id="create-token""#))
            #expect(tokens.text.contains("admin@example.com"))

            // The same link again: refused, on the page and on the form.
            let again = try await client.send(.get, "/console/sign-in/link?token=\(link)")
            #expect(again.status == .badRequest)
            #expect(again.text.contains("has been used already"))
            let reuse = try await client.form(
                "/console/sign-in/link", ["token": link, "csrf_token": try page.csrfToken()], cookies: ["cf_presession": preSession])
            #expect(reuse.status == .badRequest)
            #expect(reuse.cookie("cf_session") == nil)
            // The refused reuse is audited: someone else may hold the link.
            let refused = try await client.audit(world.admin, "action=console.sign_in.failure")
            #expect(refused.count == 1)
            #expect((refused.first?["details"] as? [String: Any])?["reason"] as? String == "link_used")
            #expect(refused.first?["actor"] as? String == "user:admin@example.com")
        }
    }

    @Test func aLinkFormWithoutItsPreSessionCsrfTokenIsRefusedAndLeavesTheLinkUnspent() async throws {
        let world = try await TestWorld.make()
        let link = try await world.signInLink(for: try await world.consoleUser("admin@example.com", .administrator))
        try await world.test { client in
            let page = try await client.send(.get, "/console/sign-in/link?token=\(link)")
            let forged = try await client.form("/console/sign-in/link", ["token": link, "csrf_token": try page.csrfToken()], cookies: [:])
            #expect(forged.status == .forbidden)
            #expect(try await client.send(.get, "/console/sign-in/link?token=\(link)").status == .ok)
        }
    }

    @Test func unknownExpiredAndMalformedLinksAreRefused() async throws {
        let clock = TestClock()
        let world = try await TestWorld.make(now: { clock.now })
        let link = try await world.signInLink(for: try await world.consoleUser("admin@example.com", .administrator), validity: 60)
        clock.advance(by: 61)
        try await world.test { client in
            let expired = try await client.send(.get, "/console/sign-in/link?token=\(link)")
            #expect(expired.status == .badRequest)
            #expect(expired.text.contains("has expired"))
            for token in ["", "cfsl_nope", ConsoleSecret.generate(.signInLink).reveal, ConsoleSecret.generate(.session).reveal, "%00"] {
                let reply = try await client.send(.get, "/console/sign-in/link?token=\(token)")
                #expect(reply.status == .badRequest, "\(token)")
                #expect(reply.text.contains("not valid"))
            }
        }
    }

    @Test func formsWithoutTheSessionsCsrfTokenChangeNothing() async throws {
        let world = try await TestWorld.make()
        let admin = try await world.consoleUser("admin@example.com", .administrator)
        try await world.test { client in
            let session = try await client.signIn(world, admin)
            let before = try await world.store.tokenCount(organization: world.home)
            for csrf in [nil, "", "forged", try await client.csrf(session, at: "/console/tokens/new") + "x"] {
                var fields = ["name": "nope", "role": "Administrator"]
                fields["csrf_token"] = csrf
                let reply = try await client.form("/console/tokens", fields, cookies: ["cf_session": session])
                #expect(reply.status == .forbidden)
                #expect(reply.text.contains("did not come from this console"))
            }
            // Another session's token does not do either.
            let other = try await client.signIn(world, try await world.consoleUser("other@example.com", .administrator))
            let foreign = try await client.form(
                "/console/tokens", ["name": "nope", "role": "User", "csrf_token": try await client.csrf(other, at: "/console/tokens")],
                cookies: ["cf_session": session])
            #expect(foreign.status == .forbidden)
            #expect(try await world.store.tokenCount(organization: world.home) == before)
        }
    }

    @Test func createShowsTheSecretOnceWithNoStoreAndItWorksAgainstTheAPI() async throws {
        let world = try await TestWorld.make()
        let admin = try await world.consoleUser("admin@example.com", .administrator)
        try await world.test { client in
            let session = try await client.signIn(world, admin)
            let created = try await client.form(
                "/console/tokens",
                ["name": "CI deploy", "role": "User", "csrf_token": try await client.csrf(session, at: "/console/tokens/new")],
                cookies: ["cf_session": session])
            #expect(created.status == .created)
            #expect(created.headers[.cacheControl] == "no-store")
            #expect(created.text.contains("This secret will not be shown again"))
            let id = try created.element("token-id")
            let secret = try created.element("token-secret")
            _ = try TokenSecret(parsing: secret)
            let credentials = Credentials(id: id, secret: secret)
            #expect(try await client.send(.get, "/v1/tokens", auth: credentials.basic).status == .ok)
            // Created by the person, as the audit trail says.
            let events = try await client.audit(world.admin, "action=token.create")
            #expect(events.first?["actor"] as? String == "user:admin@example.com")
            // The list shows the token, never the secret.
            let list = try await client.send(.get, "/console/tokens", headers: Console.cookies(["cf_session": session]))
            #expect(list.text.contains(#"data-token-id="\#(id)""#))
            #expect(!list.text.contains(secret))

            // Regenerate: the old secret stops, the new one works.
            let regenerated = try await client.form(
                "/console/tokens/\(id)/regenerate", ["csrf_token": try await client.csrf(session, at: "/console/tokens/\(id)/regenerate")],
                cookies: ["cf_session": session])
            #expect(regenerated.status == .ok)
            #expect(regenerated.headers[.cacheControl] == "no-store")
            let renewed = Credentials(id: try regenerated.element("token-id"), secret: try regenerated.element("token-secret"))
            #expect(renewed.id == id)
            #expect(try await client.send(.get, "/v1/tokens", auth: credentials.basic).status == .unauthorized)
            #expect(try await client.send(.get, "/v1/tokens", auth: renewed.basic).status == .ok)

            // Delete: gone, and it no longer authenticates.
            let deleted = try await client.form(
                "/console/tokens/\(id)/delete", ["csrf_token": try await client.csrf(session, at: "/console/tokens/\(id)/delete")],
                cookies: ["cf_session": session])
            #expect(deleted.status == .seeOther)
            #expect(deleted.headers[.location] == "/console/tokens?notice=deleted")
            #expect(try await client.send(.get, "/v1/tokens", auth: renewed.basic).status == .unauthorized)
        }
    }

    @Test func invalidInputReRendersTheFormAndCreatesNothing() async throws {
        let world = try await TestWorld.make()
        let admin = try await world.consoleUser("admin@example.com", .administrator)
        try await world.test { client in
            let session = try await client.signIn(world, admin)
            let csrf = try await client.csrf(session, at: "/console/tokens/new")
            let before = try await world.store.tokenCount(organization: world.home)
            for (name, role) in [("", "User"), (String(repeating: "x", count: 101), "User"), ("ok", "Owner"), ("ok", "")] {
                let reply = try await client.form(
                    "/console/tokens", ["name": name, "role": role, "csrf_token": csrf], cookies: ["cf_session": session])
                #expect(reply.status == .unprocessableContent, "\(name) \(role)")
                #expect(reply.text.contains(#"id="error""#))
            }
            let wrongType = try await client.send(
                .post, "/console/tokens", headers: Console.cookies(["cf_session": session]).merging([.contentType: "application/json"]))
            #expect(wrongType.status == .unsupportedMediaType)
            #expect(try await world.store.tokenCount(organization: world.home) == before)
        }
    }

    @Test func aUserSeesTheTokensButCannotChangeThemOrSeeThePeople() async throws {
        let world = try await TestWorld.make()
        let viewer = try await world.consoleUser("viewer@example.com", .user)
        try await world.test { client in
            let session = try await client.signIn(world, viewer)
            let page = try await client.send(.get, "/console/tokens", headers: Console.cookies(["cf_session": session]))
            #expect(page.status == .ok)
            #expect(page.text.contains(#"data-token-id="\#(world.admin.id)""#))
            for control in [#"id="create-token""#, #"class="regenerate""#, #"class="delete"#, #"id="nav-users""#] {
                #expect(!page.text.contains(control), "\(control)")
            }
            let csrf = try page.csrfToken()
            let before = try await world.store.tokenCount(organization: world.home)
            let create = try await client.form(
                "/console/tokens", ["name": "x", "role": "Administrator", "csrf_token": csrf], cookies: ["cf_session": session])
            #expect(create.status == .forbidden)
            let delete = try await client.form("/console/tokens/\(world.admin.id)/delete", ["csrf_token": csrf], cookies: ["cf_session": session])
            #expect(delete.status == .forbidden)
            #expect(try await client.send(.get, "/console/users", headers: Console.cookies(["cf_session": session])).status == .forbidden)
            let addUser = try await client.form(
                "/console/users", ["email": "x@example.com", "role": "Administrator", "csrf_token": csrf], cookies: ["cf_session": session])
            #expect(addUser.status == .forbidden)
            #expect(try await world.store.tokenCount(organization: world.home) == before)
            #expect(try await world.store.user(email: try EmailAddress("x@example.com")) == nil)
        }
    }

    @Test func tokensNeverSignInToTheConsoleAndSessionsNeverCallTheAPI() async throws {
        let world = try await TestWorld.make()
        let admin = try await world.consoleUser("admin@example.com", .administrator)
        try await world.test { client in
            let withToken = try await client.send(.get, "/console/tokens", auth: world.admin.basic)
            #expect(withToken.status == .seeOther)
            #expect(withToken.headers[.location] == "/console/sign-in")
            let session = try await client.signIn(world, admin)
            #expect(try await client.send(.get, "/v1/tokens", headers: Console.cookies(["cf_session": session])).status == .unauthorized)
            // A session secret is no bearer token either.
            #expect(try await client.send(.get, "/v1/tokens", auth: Credentials.bearerHeader(session)).status == .unauthorized)
        }
    }

    @Test func signOutEndsTheSessionEverywhere() async throws {
        let world = try await TestWorld.make()
        let admin = try await world.consoleUser("admin@example.com", .administrator)
        try await world.test { client in
            let session = try await client.signIn(world, admin)
            let out = try await client.form(
                "/console/sign-out", ["csrf_token": try await client.csrf(session, at: "/console/tokens")], cookies: ["cf_session": session])
            #expect(out.status == .seeOther)
            #expect(out.headers[.location]?.hasPrefix("/console/sign-in") == true)
            #expect(try #require(out.setCookie("cf_session")).contains("Max-Age=0"))
            let after = try await client.send(.get, "/console/tokens", headers: Console.cookies(["cf_session": session]))
            #expect(after.status == .seeOther)
            #expect(after.headers[.location] == "/console/sign-in")
            let events = try await client.audit(world.admin, "action=console.sign_out")
            #expect(events.first?["actor"] as? String == "user:admin@example.com")
        }
    }

    @Test func expiredSessionsAndRemovedPeopleAreSignedOut() async throws {
        let clock = TestClock()
        let world = try await TestWorld.make(now: { clock.now }).configured { $0.consoleSessionLifetime = 600 }
        let admin = try await world.consoleUser("admin@example.com", .administrator)
        let other = try await world.consoleUser("other@example.com", .administrator)
        try await world.test { client in
            let session = try await client.signIn(world, admin)
            let otherSession = try await client.signIn(world, other)
            let users = try await client.send(.get, "/console/users", headers: Console.cookies(["cf_session": session]))
            let otherID = other.id.description
            #expect(users.text.contains(#"data-user-email="other@example.com""#))
            let removed = try await client.form(
                "/console/users/\(otherID)/delete", ["csrf_token": try users.csrfToken()], cookies: ["cf_session": session])
            #expect(removed.status == .seeOther)
            #expect(try await client.send(.get, "/console/tokens", headers: Console.cookies(["cf_session": otherSession])).status == .seeOther)
            clock.advance(by: 601)
            #expect(try await client.send(.get, "/console/tokens", headers: Console.cookies(["cf_session": session])).status == .seeOther)
        }
    }

    @Test func administratorsManagePeopleButNotThemselvesAndEveryChangeIsAudited() async throws {
        let world = try await TestWorld.make()
        let admin = try await world.consoleUser("admin@example.com", .administrator)
        try await world.test { client in
            let session = try await client.signIn(world, admin)
            let csrf = try await client.csrf(session, at: "/console/users")
            let added = try await client.form(
                "/console/users", ["email": " New.Person@Example.com ", "role": "User", "csrf_token": csrf], cookies: ["cf_session": session])
            #expect(added.status == .seeOther)
            let person = try #require(try await world.store.user(email: try EmailAddress("new.person@example.com")))
            #expect(person.role == .user)
            #expect(person.organizationID == world.home)
            let duplicate = try await client.form(
                "/console/users", ["email": "new.person@example.com", "role": "User", "csrf_token": csrf], cookies: ["cf_session": session])
            #expect(duplicate.status == .conflict)
            let invalid = try await client.form(
                "/console/users", ["email": "not an email", "role": "User", "csrf_token": csrf], cookies: ["cf_session": session])
            #expect(invalid.status == .unprocessableContent)

            let promoted = try await client.form(
                "/console/users/\(person.id)/role", ["role": "Administrator", "csrf_token": csrf], cookies: ["cf_session": session])
            #expect(promoted.status == .seeOther)
            #expect(try await world.store.user(id: person.id)?.role == .administrator)
            let own = try await client.form(
                "/console/users/\(admin.id)/role", ["role": "User", "csrf_token": csrf], cookies: ["cf_session": session])
            #expect(own.status == .conflict)
            let ownRemoval = try await client.form("/console/users/\(admin.id)/delete", ["csrf_token": csrf], cookies: ["cf_session": session])
            #expect(ownRemoval.status == .conflict)
            #expect(try await world.store.user(id: admin.id)?.role == .administrator)
            let removed = try await client.form("/console/users/\(person.id)/delete", ["csrf_token": csrf], cookies: ["cf_session": session])
            #expect(removed.status == .seeOther)
            #expect(try await world.store.user(id: person.id) == nil)

            for action in ["user.create", "user.update", "user.delete"] {
                let events = try await client.audit(world.admin, "action=\(action)").filter {
                    $0["target_id"] as? String == person.id.description
                }
                #expect(events.count == 1, "\(action)")
                #expect(events.first?["actor"] as? String == "user:admin@example.com")
            }
        }
    }

    @Test func peopleOfAnotherOrganizationAreNotFound() async throws {
        let world = try await TestWorld.make()
        let admin = try await world.consoleUser("admin@example.com", .administrator)
        let stranger = try await world.services.users.create(
            email: try EmailAddress("stranger@example.com"), role: .user, organization: world.other, context: AuditContext(actor: "test"))
        try await world.test { client in
            let session = try await client.signIn(world, admin)
            let csrf = try await client.csrf(session, at: "/console/users")
            let users = try await client.send(.get, "/console/users", headers: Console.cookies(["cf_session": session]))
            #expect(!users.text.contains("stranger@example.com"))
            let change = try await client.form(
                "/console/users/\(stranger.id)/role", ["role": "Administrator", "csrf_token": csrf], cookies: ["cf_session": session])
            #expect(change.status == .notFound)
            let removal = try await client.form("/console/users/\(stranger.id)/delete", ["csrf_token": csrf], cookies: ["cf_session": session])
            #expect(removal.status == .notFound)
            let token = try await client.form(
                "/console/tokens/\(world.otherAdmin.id)/delete", ["csrf_token": csrf], cookies: ["cf_session": session])
            #expect(token.status == .notFound)
            #expect(try await world.store.user(id: stranger.id)?.role == .user)
        }
    }

    @Test func everyConsoleResponseCarriesTheSecurityHeaders() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            for path in ["/console/sign-in", "/console/tokens", "/console/assets/console.css", "/console/sign-in/link?token=x"] {
                let reply = try await client.send(.get, path)
                let policy = reply.headers[.contentSecurityPolicy] ?? ""
                #expect(policy.contains("frame-ancestors 'none'"))
                #expect(policy.contains("script-src 'self'"))
                #expect(!policy.contains("unsafe-inline"))
                #expect(reply.headers[.xFrameOptions] == "DENY")
                #expect(reply.headers[.xContentTypeOptions] == "nosniff")
            }
            let page = try await client.send(.get, "/console/sign-in")
            #expect(!page.text.contains("<script>"))
            #expect(!page.text.contains("style=\""))
            #expect(page.text.contains(#"<script src="/console/assets/console.js" defer></script>"#))
        }
    }

    @Test func overTLSTheSessionCookieIsSecureWithTheHostPrefix() async throws {
        let world = try await TestWorld.make().configured {
            $0.tlsCertificatePath = "unused-by-the-router-client"
            $0.tlsKeyPath = "unused"
        }
        try await world.closing {
            let link = try await world.signInLink(for: try await world.consoleUser("admin@example.com", .administrator))
            let controller = ConsoleController(
                pages: try ConsolePages(),
                sessions: ConsoleSessions(
                    store: world.store, hasher: SecretHasher(serverKey: world.dependencies.serverKey), serverKey: world.dependencies.serverKey,
                    lifetime: 600, clock: { Date() }),
                tokens: world.services.tokens, users: world.services.users, sso: nil, secureCookies: true, clock: { Date() })
            #expect(controller.sessionCookie == "__Host-cf_session")
            let router = AppRouter()
            controller.addRoutes(to: router)
            try await Application(responder: router.buildResponder()).test(.router) { client in
                let page = try await client.send(.get, "/console/sign-in/link?token=\(link)")
                let preSession = try #require(page.cookie("__Host-cf_presession"))
                #expect(try #require(page.setCookie("__Host-cf_presession")).contains("Secure"))
                let used = try await client.form(
                    "/console/sign-in/link", ["token": link, "csrf_token": try page.csrfToken()], cookies: ["__Host-cf_presession": preSession])
                let cookie = try #require(used.setCookie("__Host-cf_session"))
                #expect(cookie.contains("Secure"))
                #expect(cookie.contains("HttpOnly"))
                #expect(cookie.contains("Path=/"))
            }
        }
    }

    @Test func ssoAttemptsArePKCEBoundAndSealed() async throws {
        // RFC 7636 appendix B.
        #expect(OIDCSignIn.codeChallenge(for: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        #expect(OIDCSignIn.randomToken().count == 43)
        #expect(OIDCSignIn.randomToken() != OIDCSignIn.randomToken())
        let clock = TestClock()
        let key = ServerKey.generate()
        let world = try await TestWorld.make()
        let sessions = ConsoleSessions(
            store: world.store, hasher: SecretHasher(serverKey: key), serverKey: key, lifetime: 600, clock: { clock.now })
        let attempt = OIDCSignIn.Attempt(state: "s", nonce: "n", verifier: "v", expiresAt: clock.now.addingTimeInterval(600))
        let sealed = try sessions.seal(attempt)
        #expect(!sealed.contains("\"s\""))
        #expect(sessions.unseal(sealed) == attempt)
        var tampered = Array(sealed)
        tampered[tampered.count / 2] = tampered[tampered.count / 2] == "A" ? "B" : "A"
        #expect(sessions.unseal(String(tampered)) == nil)
        let otherKey = ServerKey.generate()
        let elsewhere = ConsoleSessions(
            store: sessions.store, hasher: SecretHasher(serverKey: otherKey), serverKey: otherKey, lifetime: 600, clock: { clock.now })
        #expect(elsewhere.unseal(sealed) == nil)
        clock.advance(by: 601)
        #expect(sessions.unseal(sealed) == nil)
        try await world.test { _ in }
    }
}

// MARK: Support

extension TestWorld {
    var services: AppServices { AppServices(dependencies: dependencies) }

    /// A person of the home organization, as `admin create-user` adds them.
    func consoleUser(_ email: String, _ role: Role) async throws -> User {
        try await services.users.create(email: try EmailAddress(email), role: role, organization: home, context: AuditContext(actor: "test"))
    }

    /// A break-glass link's secret for `user`, as `admin sign-in-link` prints it.
    func signInLink(for user: User, validity: TimeInterval = 900) async throws -> String {
        try await services.users.issueSignInLink(for: user, validity: validity, context: AuditContext(actor: "test")).reveal
    }
}

enum Console {
    static func cookies(_ values: [String: String]) -> HTTPFields {
        values.isEmpty ? [:] : [.cookie: values.map { "\($0)=\($1)" }.joined(separator: "; ")]
    }
}

extension HTTPFields {
    func merging(_ other: HTTPFields) -> HTTPFields {
        var merged = self
        merged.append(contentsOf: other)
        return merged
    }
}

extension Reply {
    /// The full `Set-Cookie` line for `name`.
    func setCookie(_ name: String) -> String? {
        headers[values: .setCookie].first { $0.hasPrefix(name + "=") }
    }

    /// The value a `Set-Cookie` gives `name`.
    func cookie(_ name: String) -> String? {
        guard let line = setCookie(name) else { return nil }
        let value = line.dropFirst(name.count + 1).prefix { $0 != ";" }
        return value.isEmpty ? nil : String(value)
    }

    /// The first form's CSRF token on the page.
    func csrfToken() throws -> String {
        guard let range = text.range(of: #"name="csrf_token" value=""#) else { throw TestFailure("no CSRF token in \(text)") }
        return String(text[range.upperBound...].prefix { $0 != "\"" })
    }

    /// The text of the element with `id` (a `<code>`).
    func element(_ id: String) throws -> String {
        guard let range = text.range(of: #"id="\#(id)">"#) else { throw TestFailure("no #\(id) in \(text)") }
        return String(text[range.upperBound...].prefix { $0 != "<" })
    }
}

extension TestClientProtocol {
    /// Posts an HTML form.
    func form(_ path: String, _ fields: [String: String], cookies: [String: String]) async throws -> Reply {
        let body = fields.map { "\(OIDCSignIn.formEncode($0))=\(OIDCSignIn.formEncode($1))" }.joined(separator: "&")
        var headers = Console.cookies(cookies)
        headers[.contentType] = "application/x-www-form-urlencoded"
        return try await execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: body)) { response in
            Reply(status: response.status, headers: response.headers, body: response.body)
        }
    }

    /// Signs `user` in with a fresh sign-in link and returns the session cookie's value.
    func signIn(_ world: TestWorld, _ user: User) async throws -> String {
        let link = try await world.signInLink(for: user)
        let page = try await send(.get, "/console/sign-in/link?token=\(link)")
        guard let preSession = page.cookie("cf_presession") else { throw TestFailure("no pre-session cookie") }
        let used = try await form(
            "/console/sign-in/link", ["token": link, "csrf_token": try page.csrfToken()], cookies: ["cf_presession": preSession])
        guard let session = used.cookie("cf_session") else { throw TestFailure("no session: \(used.status) \(used.text)") }
        return session
    }

    /// The CSRF token of the session's forms on `path`.
    func csrf(_ session: String, at path: String) async throws -> String {
        try await send(.get, path, headers: Console.cookies(["cf_session": session])).csrfToken()
    }
}
