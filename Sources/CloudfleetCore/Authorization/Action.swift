/// Everything a principal can ask to do. Closed, so every entry point names its action explicitly.
public enum Action: String, Sendable, CaseIterable {
    case listTokens = "tokens.list"
    case readToken = "tokens.read"
    case createToken = "tokens.create"
    case updateToken = "tokens.update"
    case regenerateTokenSecret = "tokens.regenerate"
    case deleteToken = "tokens.delete"
    case readOrganization = "organization.read"
    case listAuditEvents = "audit_events.list"
    case updateOrganizationPolicy = "organization.policy.update"
    case listClusters = "clusters.list"
    case readCluster = "clusters.read"
    case createCluster = "clusters.create"
    case deleteCluster = "clusters.delete"
    case issueWebhookCredential = "clusters.webhook_credential.issue"
    /// Exchanging one's own token for a cluster token; every role may, the role travels in the token.
    case issueClusterToken = "clusters.token.issue"
    /// The people of the organization and their roles; Administrators only, like the audit trail.
    case listUsers = "users.list"
    case createUser = "users.create"
    case updateUser = "users.update"
    case deleteUser = "users.delete"

    /// Whether the action only reads. Users may perform exactly these, except reading the audit trail and the
    /// list of people.
    public var isRead: Bool {
        switch self {
        case .listTokens, .readToken, .readOrganization, .listAuditEvents, .listClusters, .readCluster, .issueClusterToken, .listUsers:
            true
        case .createToken, .updateToken, .regenerateTokenSecret, .deleteToken, .createCluster, .deleteCluster, .issueWebhookCredential,
            .updateOrganizationPolicy, .createUser, .updateUser, .deleteUser:
            false
        }
    }
}
