import CloudfleetCore
import CloudfleetStore
import Crypto
import Foundation

/// Console sessions: starting one for a person who proved who they are (by SSO or a sign-in link), finding the
/// person behind a session cookie, ending it, and the CSRF tokens and sealed SSO attempts that go with them.
///
/// A session cookie holds a random `cfsess_` secret; the store holds its keyed digest, the user and the expiry.
/// The person's role is read from the user record on every request, so a changed role or a removed person takes
/// effect at once.
struct ConsoleSessions: Sendable {
    /// A request's signed-in person.
    struct SignedIn: Sendable {
        let user: User
        let session: ConsoleSession
        /// The cookie's secret, which the CSRF token is bound to.
        let secret: ConsoleSecret

        var principal: Principal { ConsoleSessions.principal(of: user) }
    }

    /// Why a sign-in link does not sign in; the message is shown to the person.
    enum LinkProblem: Error, Sendable, Equatable {
        case unknown, used, expired

        var message: String {
            switch self {
            case .unknown: "This sign-in link is not valid. Ask an operator for a new one."
            case .used: "This sign-in link has been used already; each link signs in once. Ask an operator for a new one."
            case .expired: "This sign-in link has expired. Ask an operator for a new one."
            }
        }
    }

    let store: any Store
    let hasher: SecretHasher
    let lifetime: TimeInterval
    let clock: @Sendable () -> Date
    private let csrfKey: SymmetricKey
    private let attemptKey: SymmetricKey

    init(store: any Store, hasher: SecretHasher, serverKey: ServerKey, lifetime: TimeInterval, clock: @escaping @Sendable () -> Date) {
        self.store = store
        self.hasher = hasher
        self.lifetime = lifetime
        self.clock = clock
        self.csrfKey = serverKey.derivedKey(purpose: "cloudfleet console csrf v1")
        self.attemptKey = serverKey.derivedKey(purpose: "cloudfleet console sso attempt v1")
    }

    /// A person as the principal of their requests; its `auditActor` (`user:<email>`) names them in the audit trail.
    static func principal(of user: User) -> Principal {
        Principal(kind: .user(user.id, email: user.email), organizationID: user.organizationID, role: user.role)
    }

    // MARK: Sessions

    /// Starts a session for `user`, audited as a sign-in by `method`; returns the cookie's secret. Sessions and
    /// links that have expired are swept on the way.
    func start(for user: User, method: SignInMethod, sourceIP: String?, requestID: String?) async throws -> ConsoleSecret {
        let secret = ConsoleSecret.generate(.session)
        let now = clock()
        let session = ConsoleSession(
            digest: hasher.digest(secret), userID: user.id, organizationID: user.organizationID, createdAt: now,
            expiresAt: now.addingTimeInterval(lifetime), sourceIP: sourceIP, method: method)
        try await store.createSession(
            session,
            audit: AuditEvent(
                organizationID: user.organizationID, occurredAt: now, actor: Self.principal(of: user).auditActor, action: .consoleSignIn,
                targetType: "user",
                targetID: user.id.description, sourceIP: sourceIP, requestID: requestID, details: ["method": method.rawValue]))
        _ = try? await store.deleteExpiredConsoleRecords(before: now)
        return secret
    }

    /// The person signed in by the session cookie `value`, or `nil` for a malformed, unknown or expired
    /// session, or one whose person was removed.
    func resolve(cookie value: String) async throws -> SignedIn? {
        guard let secret = try? ConsoleSecret(parsing: value, kind: .session),
            let session = try await store.session(digest: hasher.digest(secret)), session.expiresAt > clock(),
            let user = try await store.user(id: session.userID), user.organizationID == session.organizationID
        else { return nil }
        return SignedIn(user: user, session: session, secret: secret)
    }

    /// Ends a session (sign-out): its record is deleted, so the cookie opens nothing any more.
    func end(_ signedIn: SignedIn, sourceIP: String?, requestID: String?) async throws {
        try await store.deleteSession(
            digest: signedIn.session.digest,
            audit: AuditEvent(
                organizationID: signedIn.user.organizationID, occurredAt: clock(), actor: signedIn.principal.auditActor,
                action: .consoleSignOut, targetType: "user", targetID: signedIn.user.id.description, sourceIP: sourceIP,
                requestID: requestID))
    }

    // MARK: Sign-in links

    /// Why the sign-in link `value` would not sign in, or the user it would sign in; changes nothing (the page
    /// that asks to continue).
    func inspectLink(_ value: String) async throws -> Result<User, LinkProblem> {
        guard let secret = try? ConsoleSecret(parsing: value, kind: .signInLink),
            let link = try await store.signInLink(digest: hasher.digest(secret))
        else { return .failure(.unknown) }
        if link.usedAt != nil { return .failure(.used) }
        if link.expiresAt <= clock() { return .failure(.expired) }
        guard let user = try await store.user(id: link.userID) else { return .failure(.unknown) }
        return .success(user)
    }

    /// Spends the sign-in link `value` and returns its user; of two concurrent uses at most one succeeds. A
    /// refused use of a link that exists (spent or expired) is audited: someone else may be holding it.
    func consumeLink(_ value: String, sourceIP: String?, requestID: String?) async throws -> Result<User, LinkProblem> {
        guard let secret = try? ConsoleSecret(parsing: value, kind: .signInLink) else { return .failure(.unknown) }
        let digest = hasher.digest(secret)
        guard let link = try await store.consumeSignInLink(digest: digest, at: clock()) else {
            guard let known = try await store.signInLink(digest: digest), let user = try await store.user(id: known.userID) else {
                return .failure(.unknown)
            }
            let problem: LinkProblem = known.usedAt != nil || known.expiresAt > clock() ? .used : .expired
            try await recordRefusal(
                of: user, method: .link, reason: problem == .used ? "link_used" : "link_expired", sourceIP: sourceIP, requestID: requestID)
            return .failure(problem)
        }
        guard let user = try await store.user(id: link.userID) else { return .failure(.unknown) }
        return .success(user)
    }

    /// Audits a refused sign-in of a known person (`reason` such as `link_used` or `email_unverified`).
    func recordRefusal(of user: User, method: SignInMethod, reason: String, sourceIP: String?, requestID: String?) async throws {
        try await store.recordAuditEvent(
            AuditEvent(
                organizationID: user.organizationID, occurredAt: clock(), actor: Self.principal(of: user).auditActor, action: .consoleSignInFailure,
                targetType: "user", targetID: user.id.description, sourceIP: sourceIP, requestID: requestID, outcome: "refused",
                details: ["method": method.rawValue, "reason": reason]))
    }

    // MARK: CSRF

    /// The CSRF token of forms shown to the holder of `binding` (a session secret, or before sign-in the
    /// pre-session cookie): an HMAC under a key derived from the server key, so nothing is stored.
    func csrfToken(binding: String) -> String {
        Base64URL.encode(Array(HMAC<SHA256>.authenticationCode(for: Array(("csrf:" + binding).utf8), using: csrfKey)))
    }

    /// Whether `token` is the CSRF token for `binding`, compared in constant time.
    func checkCSRF(_ token: String?, binding: String) -> Bool {
        guard let token else { return false }
        return ConstantTime.equals(Array(token.utf8), Array(csrfToken(binding: binding).utf8))
    }

    // MARK: SSO attempts

    /// Seals an SSO attempt for its cookie (ChaCha20-Poly1305 under a key derived from the server key), so it
    /// can be neither read nor forged by the browser.
    func seal(_ attempt: OIDCSignIn.Attempt) throws -> String {
        let sealed = try ChaChaPoly.seal(try JSONEncoder().encode(attempt), using: attemptKey)
        return Base64URL.encode(sealed.combined)
    }

    /// Opens a sealed SSO attempt; `nil` when it was tampered with, is not one, or has expired.
    func unseal(_ value: String) -> OIDCSignIn.Attempt? {
        guard let bytes = Base64URL.decode(value), let box = try? ChaChaPoly.SealedBox(combined: bytes),
            let plain = try? ChaChaPoly.open(box, using: attemptKey),
            let attempt = try? JSONDecoder().decode(OIDCSignIn.Attempt.self, from: plain), attempt.expiresAt > clock()
        else { return nil }
        return attempt
    }
}
