import CloudfleetCore
import CloudfleetStore
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// `/console`: the web console of docs/console.md. People sign in (SSO or a break-glass link) and get a
/// session cookie; every change is a form POST with a CSRF token, authorized by the same function as the API,
/// and made through the same services, so it is audited the same way with the actor `user:<email>`.
struct ConsoleController {
    let pages: ConsolePages
    let sessions: ConsoleSessions
    let tokens: TokenService
    let users: UserService
    let sso: OIDCSignIn?
    /// Over TLS the cookies are `Secure` and the session cookie takes the `__Host-` prefix.
    let secureCookies: Bool
    let clock: @Sendable () -> Date

    var sessionCookie: String { secureCookies ? "__Host-cf_session" : "cf_session" }
    var preSessionCookie: String { secureCookies ? "__Host-cf_presession" : "cf_presession" }
    static let ssoCookie = "cf_sso"

    func addRoutes(to router: AppRouter) {
        let console = router.group("console").add(middleware: ConsoleErrorMiddleware(pages: pages))
        console.get("", use: home)
        console.get("assets/{name}", use: asset)
        console.get("sign-in", use: signInPage)
        console.get("sign-in/sso", use: startSSO)
        console.get("sign-in/callback", use: finishSSO)
        console.get("sign-in/link", use: linkPage)
        console.post("sign-in/link", use: useLink)
        console.post("sign-out", use: signOut)
        console.get("tokens", use: tokensPage)
        console.get("tokens/new", use: newTokenPage)
        console.post("tokens", use: createToken)
        console.get("tokens/{id}/regenerate", use: regenerateConfirmation)
        console.post("tokens/{id}/regenerate", use: regenerateToken)
        console.get("tokens/{id}/delete", use: deleteConfirmation)
        console.post("tokens/{id}/delete", use: deleteToken)
        console.get("users", use: usersPage)
        console.post("users", use: addUser)
        console.post("users/{id}/role", use: changeRole)
        console.get("users/{id}/delete", use: removeConfirmation)
        console.post("users/{id}/delete", use: removeUser)
        // Anything else under /console is a page that does not exist, answered as a page.
        console.get("**", use: notFound)
    }

    // MARK: Public pages

    @Sendable func home(_ request: Request, context: AppRequestContext) async throws -> Response {
        ConsolePages.redirect(to: "/console/tokens")
    }

    @Sendable func notFound(_ request: Request, context: AppRequestContext) async throws -> Response {
        throw APIError.notFound("Page")
    }

    @Sendable func asset(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let response = ConsolePages.asset(named: context.parameters.get("name") ?? "") else { throw APIError.notFound("Asset") }
        return response
    }

    @Sendable func signInPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        if try await signedIn(request) != nil { return ConsolePages.redirect(to: "/console/tokens") }
        var page = SignInPage(ssoEnabled: sso != nil)
        if request.uri.queryParameters["signed_out"] != nil { page.notice = "You have signed out." }
        return pages.page("sign_in", page)
    }

    @Sendable func startSSO(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let sso else { throw APIError.notFound("Single sign-on") }
        let (url, attempt) = try await sso.begin()
        var response = ConsolePages.redirect(to: url)
        response.setCookie(
            cookie(
                Self.ssoCookie, try sessions.seal(attempt), path: "/console/sign-in", maxAge: Int(OIDCSignIn.attemptLifetime)))
        return response
    }

    @Sendable func finishSSO(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let sso else { throw APIError.notFound("Single sign-on") }
        let query = request.uri.queryParameters
        let refuse = { (message: String, status: HTTPResponse.Status) -> Response in
            var response = pages.page("sign_in", SignInPage(ssoEnabled: true, error: message), status: status)
            response.setCookie(expired(Self.ssoCookie, path: "/console/sign-in"))
            return response
        }
        guard let sealed = request.cookies[Self.ssoCookie]?.value, let attempt = sessions.unseal(sealed),
            let state = query["state"].map(String.init), ConstantTime.equals(Array(state.utf8), Array(attempt.state.utf8))
        else {
            return refuse("This sign-in attempt has expired or did not start here. Sign in again.", .badRequest)
        }
        if query["error"] != nil {
            return refuse("The identity provider did not sign you in. Sign in again.", .forbidden)
        }
        guard let code = query["code"].map(String.init), !code.isEmpty else {
            return refuse("The identity provider's answer holds no authorization code. Sign in again.", .badRequest)
        }
        let identity: OIDCSignIn.Identity
        do {
            identity = try await sso.complete(code: code, attempt: attempt)
        } catch let failure as OIDCSignIn.Failure {
            context.logger.notice("console SSO sign-in failed", metadata: ["reason": "\(failure.message)"])
            return refuse(failure.message, .badGateway)
        }
        let user: User
        switch try await userFor(identity, context: context) {
        case .success(let found): user = found
        case .failure(let problem): return refuse(problem.message, .forbidden)
        }
        let secret = try await sessions.start(for: user, method: .sso, sourceIP: context.sourceIP, requestID: context.id)
        var response = ConsolePages.redirect(to: "/console/tokens")
        response.setCookie(expired(Self.ssoCookie, path: "/console/sign-in"))
        response.setCookie(cookie(sessionCookie, secret.reveal, maxAge: Int(sessions.lifetime)))
        return response
    }

    @Sendable func linkPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        let token = request.uri.queryParameters["token"].map(String.init) ?? ""
        switch try await sessions.inspectLink(token) {
        case .failure(let problem):
            return pages.page("link", LinkPage(error: problem.message), status: .badRequest)
        case .success(let user):
            // Before sign-in the CSRF token is bound to a random pre-session cookie.
            let binding = request.cookies[preSessionCookie]?.value ?? OIDCSignIn.randomToken()
            var response = pages.page(
                "link", LinkPage(email: user.email.rawValue, token: token, csrfToken: sessions.csrfToken(binding: binding)))
            response.setCookie(cookie(preSessionCookie, binding, path: "/console/sign-in", maxAge: 3600))
            return response
        }
    }

    @Sendable func useLink(_ request: Request, context: AppRequestContext) async throws -> Response {
        let form = try await Self.form(LinkForm.self, request, context)
        guard let binding = request.cookies[preSessionCookie]?.value, sessions.checkCSRF(form.csrfToken, binding: binding) else {
            throw Self.csrfRefused
        }
        switch try await sessions.consumeLink(form.token ?? "", sourceIP: context.sourceIP, requestID: context.id) {
        case .failure(let problem):
            return pages.page("link", LinkPage(error: problem.message), status: .badRequest)
        case .success(let user):
            let secret = try await sessions.start(for: user, method: .link, sourceIP: context.sourceIP, requestID: context.id)
            var response = ConsolePages.redirect(to: "/console/tokens")
            response.setCookie(expired(preSessionCookie, path: "/console/sign-in"))
            response.setCookie(cookie(sessionCookie, secret.reveal, maxAge: Int(sessions.lifetime)))
            return response
        }
    }

    @Sendable func signOut(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (me, _) = try await requireSignIn(request, context)
        let form = try await Self.form(CSRFForm.self, request, context)
        try checkCSRF(form.csrfToken, me)
        try await sessions.end(me, sourceIP: context.sourceIP, requestID: context.id)
        var response = ConsolePages.redirect(to: "/console/sign-in?signed_out=1")
        response.setCookie(expired(sessionCookie))
        return response
    }

    // MARK: API tokens

    @Sendable func tokensPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (me, context) = try await requireSignIn(request, context)
        let organization = me.user.organizationID
        try context.authorize(.listTokens, in: organization)
        let pagination = try Pagination(request)
        let page = try await tokens.list(organization: organization, after: try pagination.tokenCursor(), limit: pagination.limit)
        let now = clock()
        let rows = page.items.map { token in
            TokensPage.Row(
                id: token.id.rawValue, name: token.name.rawValue, role: token.role.rawValue, created: ConsoleDate.text(token.createdAt),
                createdISO: token.createdAt.formatted(.iso8601), lastUsed: ConsoleDate.text(token.lastUsedAt),
                expires: token.expiresAt.map { $0 <= now ? "expired " + ConsoleDate.text($0) : ConsoleDate.text($0) } ?? "never")
        }
        let notices = ["deleted": "The token was deleted; it no longer authenticates."]
        return pages.page(
            "tokens",
            TokensPage(
                session: view(me, onTokens: true), csrfToken: csrf(me),
                canChange: Authorization.decide(me.principal, .createToken, in: organization) == .allowed, tokens: rows,
                notice: request.uri.queryParameters["notice"].flatMap { notices[String($0)] }, nextPage: Pagination.encode(page.next)))
    }

    @Sendable func newTokenPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (me, context) = try await requireSignIn(request, context)
        try context.authorize(.createToken, in: me.user.organizationID)
        return pages.page("token_new", NewTokenPage(session: view(me, onTokens: true), csrfToken: csrf(me)))
    }

    @Sendable func createToken(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (me, context, form) = try await change(.createToken, request, context, form: CreateTokenForm.self)
        let organization = me.user.organizationID
        var retry = NewTokenPage(session: view(me, onTokens: true), csrfToken: csrf(me), name: form.name ?? "", roleIsUser: form.role == "User")
        let issued: TokenService.IssuedSecret
        do {
            guard let role = Role(name: form.role ?? "") else { throw ValidationError(field: "role", reason: "must be Administrator or User") }
            issued = try await tokens.create(
                name: try TokenName(form.name ?? ""), role: role, organization: organization, context: try context.auditContext())
        } catch let error as ValidationError {
            retry.error = "Invalid \(error.field): \(error.reason)."
            return pages.page("token_new", retry, status: .unprocessableContent)
        }
        return pages.page("secret", secretPage(issued, me, heading: "API token created"), status: .created)
    }

    @Sendable func regenerateConfirmation(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (me, context) = try await requireSignIn(request, context)
        try context.authorize(.regenerateTokenSecret, in: me.user.organizationID)
        let token = try await token(context, me)
        return pages.page(
            "confirm",
            ConfirmPage(
                session: view(me, onTokens: true), csrfToken: csrf(me), heading: "Regenerate “\(token.name)”?",
                message:
                    "A new secret replaces the current one, which stops working at once, together with every access token and cluster token minted from it. Scripts that use it must be given the new secret.",
                formID: "regenerate-form", action: "/console/tokens/\(token.id)/regenerate", confirmLabel: "Regenerate", danger: true,
                cancel: "/console/tokens"))
    }

    @Sendable func regenerateToken(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (me, context, _) = try await change(.regenerateTokenSecret, request, context, form: CSRFForm.self)
        let organization = me.user.organizationID
        let issued = try await tokens.regenerate(try Self.tokenID(context), organization: organization, context: try context.auditContext())
        return pages.page("secret", secretPage(issued, me, heading: "API token regenerated"))
    }

    @Sendable func deleteConfirmation(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (me, context) = try await requireSignIn(request, context)
        try context.authorize(.deleteToken, in: me.user.organizationID)
        let token = try await token(context, me)
        return pages.page(
            "confirm",
            ConfirmPage(
                session: view(me, onTokens: true), csrfToken: csrf(me), heading: "Delete “\(token.name)”?",
                message: "The token \(token.id) stops working at once and cannot be restored.", formID: "delete-form",
                action: "/console/tokens/\(token.id)/delete", confirmLabel: "Delete", danger: true, cancel: "/console/tokens"))
    }

    @Sendable func deleteToken(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (me, context, _) = try await change(.deleteToken, request, context, form: CSRFForm.self)
        let organization = me.user.organizationID
        try await tokens.delete(try Self.tokenID(context), organization: organization, context: try context.auditContext())
        return ConsolePages.redirect(to: "/console/tokens?notice=deleted")
    }

    // MARK: Users

    @Sendable func usersPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (me, context) = try await requireSignIn(request, context)
        try context.authorize(.listUsers, in: me.user.organizationID)
        let notices = [
            "added": "The user was added. They can sign in with single sign-on, or with a link from an operator.",
            "role_changed": "The role was changed; it applies from their next page.", "removed": "The user was removed and signed out.",
        ]
        return try await renderUsers(me, notice: request.uri.queryParameters["notice"].flatMap { notices[String($0)] })
    }

    @Sendable func addUser(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (me, context, form) = try await change(.createUser, request, context, form: AddUserForm.self)
        let organization = me.user.organizationID
        do {
            guard let role = Role(name: form.role ?? "") else { throw ValidationError(field: "role", reason: "must be Administrator or User") }
            _ = try await users.create(
                email: try EmailAddress(form.email ?? ""), role: role, organization: organization, context: try context.auditContext())
        } catch let error as ValidationError {
            return try await renderUsers(me, error: "Invalid \(error.field): \(error.reason).", status: .unprocessableContent)
        } catch let error as APIError where error.status == .conflict {
            return try await renderUsers(me, error: error.message, status: .conflict)
        }
        return ConsolePages.redirect(to: "/console/users?notice=added")
    }

    @Sendable func changeRole(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (me, context, form) = try await change(.updateUser, request, context, form: RoleForm.self)
        let organization = me.user.organizationID
        guard let role = Role(name: form.role ?? "") else {
            return try await renderUsers(me, error: "Invalid role: must be Administrator or User.", status: .unprocessableContent)
        }
        do {
            _ = try await users.changeRole(
                try Self.userID(context), to: role, organization: organization, actingUser: me.user.id, context: try context.auditContext())
        } catch let error as APIError where error.status == .conflict {
            return try await renderUsers(me, error: error.message, status: .conflict)
        }
        return ConsolePages.redirect(to: "/console/users?notice=role_changed")
    }

    @Sendable func removeConfirmation(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (me, context) = try await requireSignIn(request, context)
        try context.authorize(.deleteUser, in: me.user.organizationID)
        guard let user = try await users.get(try Self.userID(context), organization: me.user.organizationID) else {
            throw APIError.notFound("User")
        }
        return pages.page(
            "confirm",
            ConfirmPage(
                session: view(me, onUsers: true), csrfToken: csrf(me), heading: "Remove \(user.email)?",
                message: "They are signed out at once and can no longer sign in to the console. Their API tokens, if they created any, keep working.",
                formID: "delete-form", action: "/console/users/\(user.id)/delete", confirmLabel: "Remove", danger: true,
                cancel: "/console/users"))
    }

    @Sendable func removeUser(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (me, context, _) = try await change(.deleteUser, request, context, form: CSRFForm.self)
        let organization = me.user.organizationID
        do {
            try await users.delete(try Self.userID(context), organization: organization, actingUser: me.user.id, context: try context.auditContext())
        } catch let error as APIError where error.status == .conflict {
            return try await renderUsers(me, error: error.message, status: .conflict)
        }
        return ConsolePages.redirect(to: "/console/users?notice=removed")
    }

    // MARK: Sessions

    /// The person signed in by the request's session cookie, or `nil`. An `Authorization` header is ignored:
    /// API tokens never sign in to the console.
    func signedIn(_ request: Request) async throws -> ConsoleSessions.SignedIn? {
        guard let value = request.cookies[sessionCookie]?.value else { return nil }
        return try await sessions.resolve(cookie: value)
    }

    /// The signed-in person and the context with them as principal; without a session, a redirect to sign-in.
    private func requireSignIn(_ request: Request, _ context: AppRequestContext) async throws -> (ConsoleSessions.SignedIn, AppRequestContext) {
        guard let me = try await signedIn(request) else { throw ConsoleSignInRequired() }
        var context = context
        context.principal = me.principal
        return (me, context)
    }

    /// A change through a form: the signed-in person, authorized for `action` in their organization, and the form,
    /// decoded, with its CSRF token checked. Nothing is read from the form before the role allows the change.
    private func change<Form: ConsoleForm>(_ action: Action, _ request: Request, _ context: AppRequestContext, form: Form.Type)
        async throws -> (ConsoleSessions.SignedIn, AppRequestContext, Form)
    {
        let (me, context) = try await requireSignIn(request, context)
        try context.authorize(action, in: me.user.organizationID)
        let form = try await Self.form(Form.self, request, context)
        try checkCSRF(form.csrfToken, me)
        return (me, context, form)
    }

    private func csrf(_ me: ConsoleSessions.SignedIn) -> String { sessions.csrfToken(binding: me.secret.reveal) }

    private func checkCSRF(_ token: String?, _ me: ConsoleSessions.SignedIn) throws {
        guard sessions.checkCSRF(token, binding: me.secret.reveal) else { throw Self.csrfRefused }
    }

    static let csrfRefused = APIError(
        .forbidden, code: "csrf", message: "This form has expired or did not come from this console. Reload the page and try again.")

    func view(_ me: ConsoleSessions.SignedIn, onTokens: Bool = false, onUsers: Bool = false) -> SessionView {
        SessionView(
            email: me.user.email.rawValue, role: me.user.role.rawValue, isAdministrator: me.user.role == .administrator, csrfToken: csrf(me),
            onTokens: onTokens, onUsers: onUsers)
    }

    /// The user an SSO identity signs in as: the one bound to the subject, else the one with the verified email,
    /// binding the subject on this first sign-in.
    /// Refusals of a known person are audited in their organization.
    private func userFor(_ identity: OIDCSignIn.Identity, context: AppRequestContext) async throws -> Result<User, SSORefusal> {
        if let bound = try await sessions.store.user(ssoSubject: identity.subject) { return .success(bound) }
        guard let email = try? EmailAddress(identity.email), let user = try await users.find(email: email) else {
            return .failure(identity.emailVerified ? .unknownEmail(identity.email) : .unverifiedEmail)
        }
        let refusal: SSORefusal
        if identity.emailVerified {
            do {
                return .success(try await sessions.store.bindSSOSubject(id: user.id, subject: identity.subject, at: clock()))
            } catch StoreError.alreadyExists {
                refusal = .otherSubject
            }
        } else {
            refusal = .unverifiedEmail
        }
        try await sessions.recordRefusal(
            of: user, method: .sso, reason: refusal.auditReason, sourceIP: context.sourceIP, requestID: context.id)
        return .failure(refusal)
    }

    private func renderUsers(_ me: ConsoleSessions.SignedIn, notice: String? = nil, error: String? = nil, status: HTTPResponse.Status = .ok)
        async throws -> Response
    {
        let page = try await users.list(organization: me.user.organizationID, after: nil, limit: 1000)
        let rows = page.items.map { user in
            UsersPage.Row(
                id: user.id.description, email: user.email.rawValue, role: user.role.rawValue, isAdministrator: user.role == .administrator,
                isSelf: user.id == me.user.id, lastSignIn: ConsoleDate.text(user.lastSignInAt))
        }
        return pages.page(
            "users", UsersPage(session: view(me, onUsers: true), csrfToken: csrf(me), users: rows, notice: notice, error: error), status: status)
    }

    private func secretPage(_ issued: TokenService.IssuedSecret, _ me: ConsoleSessions.SignedIn, heading: String) -> SecretPage {
        SecretPage(
            session: view(me, onTokens: true), heading: heading, id: issued.token.id.rawValue, name: issued.token.name.rawValue,
            role: issued.token.role.rawValue, secret: issued.secret.reveal, organizationID: issued.token.organizationID.description)
    }

    private func token(_ context: AppRequestContext, _ me: ConsoleSessions.SignedIn) async throws -> APIToken {
        guard let token = try await tokens.get(try Self.tokenID(context), organization: me.user.organizationID) else {
            throw APIError.notFound("Token")
        }
        return token
    }

    private static func tokenID(_ context: AppRequestContext) throws -> TokenID {
        guard let raw = context.parameters.get("id"), let id = TokenID(raw) else { throw APIError.notFound("Token") }
        return id
    }

    private static func userID(_ context: AppRequestContext) throws -> UserID {
        guard let raw = context.parameters.get("id"), let id = UserID(raw) else { throw APIError.notFound("User") }
        return id
    }

    // MARK: Cookies and forms

    private func cookie(_ name: String, _ value: String, path: String = "/", maxAge: Int) -> Cookie {
        Cookie(name: name, value: value, maxAge: maxAge, path: path, secure: secureCookies, httpOnly: true, sameSite: .lax)
    }

    private func expired(_ name: String, path: String = "/") -> Cookie {
        Cookie(name: name, value: "", maxAge: 0, path: path, secure: secureCookies, httpOnly: true, sameSite: .lax)
    }

    /// Decodes a form body (`application/x-www-form-urlencoded`, at most 16 KiB); anything else is a 400.
    private static func form<Form: Decodable>(_ type: Form.Type, _ request: Request, _ context: AppRequestContext) async throws -> Form {
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/x-www-form-urlencoded") == true else {
            throw APIError(.unsupportedMediaType, code: "unsupported_media_type", message: "Forms must be sent as application/x-www-form-urlencoded.")
        }
        let body = try await request.body.collect(upTo: 16 * 1024)
        do {
            return try URLEncodedFormDecoder().decode(Form.self, from: String(buffer: body))
        } catch {
            throw APIError.badRequest("The form could not be read. Reload the page and try again.")
        }
    }
}

/// Why an SSO identity does not sign in; the message is shown to the person.
enum SSORefusal: Error {
    case unverifiedEmail, unknownEmail(String), otherSubject

    var auditReason: String {
        switch self {
        case .unverifiedEmail: "email_unverified"
        case .unknownEmail: "email_unknown"
        case .otherSubject: "subject_mismatch"
        }
    }

    var message: String {
        switch self {
        case .unverifiedEmail:
            "Your identity provider has not verified your email address, so it cannot sign you in here."
        case .unknownEmail(let email):
            "No Cloudfleet user has the email address \(email). Ask an Administrator of your organization to add you."
        case .otherSubject:
            "Your email address is bound to another account at the identity provider. Ask an Administrator for help."
        }
    }
}

/// Thrown where a page needs a signed-in person and there is none: answered with a redirect to sign-in.
struct ConsoleSignInRequired: Error {}

/// A form of the console: every one carries its CSRF token.
private protocol ConsoleForm: Decodable {
    var csrfToken: String? { get }
}

private struct CSRFForm: ConsoleForm {
    let csrfToken: String?
    enum CodingKeys: String, CodingKey { case csrfToken = "csrf_token" }
}

private struct LinkForm: ConsoleForm {
    let csrfToken: String?
    let token: String?
    enum CodingKeys: String, CodingKey { case csrfToken = "csrf_token", token }
}

private struct CreateTokenForm: ConsoleForm {
    let csrfToken: String?
    let name: String?
    let role: String?
    enum CodingKeys: String, CodingKey { case csrfToken = "csrf_token", name, role }
}

private struct AddUserForm: ConsoleForm {
    let csrfToken: String?
    let email: String?
    let role: String?
    enum CodingKeys: String, CodingKey { case csrfToken = "csrf_token", email, role }
}

private struct RoleForm: ConsoleForm {
    let csrfToken: String?
    let role: String?
    enum CodingKeys: String, CodingKey { case csrfToken = "csrf_token", role }
}
