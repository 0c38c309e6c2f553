/// Who makes a request: an API token or a person signed in to the console, with the organization and role in
/// force now.
public struct Principal: Sendable, Equatable {
    /// The kinds of principal.
    public enum Kind: Sendable, Equatable {
        /// An API token, authenticated by its secret or by an access token minted from it.
        case token(TokenID)
        /// A person signed in to the console. API tokens never become this kind, nor it an API caller.
        case user(UserID, email: EmailAddress)
    }

    /// What the principal is.
    public let kind: Kind
    /// The organization the principal belongs to; it can never act outside it.
    public let organizationID: OrganizationID
    /// The role currently held (read from the current token state, never from a stale credential).
    public let role: Role

    /// Creates a principal.
    public init(kind: Kind, organizationID: OrganizationID, role: Role) {
        self.kind = kind
        self.organizationID = organizationID
        self.role = role
    }

    /// The actor string recorded in audit events, such as `token:2iKo4Asy51EUx2gpJFW76t` or `user:alice@example.com`.
    public var auditActor: String {
        switch kind {
        case .token(let id): "token:\(id)"
        case .user(_, let email): "user:\(email)"
        }
    }
}
