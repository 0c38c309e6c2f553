import CloudfleetCore
import Foundation

/// A person of an organization who signs in to the web console. The email address is unique across the
/// installation, so a verified sign-in maps to exactly one user; the SSO subject is bound on the first sign-in
/// through the identity provider and must match on every later one.
public struct User: Sendable, Equatable {
    public var id: UserID
    public var organizationID: OrganizationID
    public var email: EmailAddress
    /// Administrator or User, with the same meaning as for tokens; read anew on every request.
    public var role: Role
    /// The identity provider's `iss` and `sub` (`<issuer>#<subject>`), bound on the first SSO sign-in.
    public var ssoSubject: String?
    public var createdAt: Date
    public var updatedAt: Date
    /// The audit actor that added the user (`admin-cli`, `user:<email>`).
    public var createdBy: String
    /// When the user last signed in to the console.
    public var lastSignInAt: Date?

    public init(
        id: UserID, organizationID: OrganizationID, email: EmailAddress, role: Role, ssoSubject: String? = nil, createdAt: Date,
        updatedAt: Date? = nil, createdBy: String, lastSignInAt: Date? = nil
    ) {
        self.id = id
        self.organizationID = organizationID
        self.email = email
        self.role = role
        self.ssoSubject = ssoSubject
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
        self.createdBy = createdBy
        self.lastSignInAt = lastSignInAt
    }
}

/// A position in the user list, ordered by email address, then ID.
public struct UserCursor: Sendable, Equatable {
    public var email: EmailAddress
    public var id: UserID

    public init(email: EmailAddress, id: UserID) {
        self.email = email
        self.id = id
    }
}

/// How a person signed in to the console, as stored and audited.
public enum SignInMethod: String, Sendable {
    /// Through the organization's identity provider (OIDC).
    case sso
    /// With a break-glass sign-in link from `cloudfleet-server admin`.
    case link
}

/// A signed-in console session as stored: the keyed digest of the cookie's secret, never the secret.
/// Revoked by deleting it (sign-out, removal of the user); useless after `expiresAt`.
public struct ConsoleSession: Sendable, Equatable {
    public var digest: SecretDigest
    public var userID: UserID
    public var organizationID: OrganizationID
    public var createdAt: Date
    public var expiresAt: Date
    /// Where the sign-in came from, for the users page and the audit trail.
    public var sourceIP: String?
    /// How the person signed in.
    public var method: SignInMethod

    public init(
        digest: SecretDigest, userID: UserID, organizationID: OrganizationID, createdAt: Date, expiresAt: Date, sourceIP: String? = nil,
        method: SignInMethod
    ) {
        self.digest = digest
        self.userID = userID
        self.organizationID = organizationID
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.sourceIP = sourceIP
        self.method = method
    }
}

/// A break-glass sign-in link as stored: the keyed digest of its secret, valid once and for minutes.
public struct SignInLink: Sendable, Equatable {
    public var digest: SecretDigest
    public var userID: UserID
    public var organizationID: OrganizationID
    public var createdAt: Date
    public var expiresAt: Date
    /// When it was used; a used link never signs in again.
    public var usedAt: Date?

    public init(
        digest: SecretDigest, userID: UserID, organizationID: OrganizationID, createdAt: Date, expiresAt: Date, usedAt: Date? = nil
    ) {
        self.digest = digest
        self.userID = userID
        self.organizationID = organizationID
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.usedAt = usedAt
    }
}
