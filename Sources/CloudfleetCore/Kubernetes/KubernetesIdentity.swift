/// How an API token appears inside a Kubernetes cluster, decided in this one place for the webhook, the cluster
/// tokens and the printed configuration alike.
///
/// - user name: `service-account-` and the token ID lower-cased (what RoleBindings name);
/// - uid: the token ID as issued;
/// - groups: `cloudfleet:administrators` or `cloudfleet:users`, bound to `cluster-admin` and `view`;
/// - extra: the organization and the token's name.
///
/// Nothing here ever starts with `system:`: Kubernetes reserves that prefix, and `system:masters` would bypass
/// RBAC altogether.
public struct KubernetesIdentity: Sendable, Equatable {
    /// The `extra` key holding the organization ID.
    public static let organizationExtraKey = "cloudfleet.io/organization"
    /// The `extra` key holding the token's name.
    public static let tokenNameExtraKey = "cloudfleet.io/token-name"

    public let username: String
    public let uid: String
    public let groups: [String]
    public let extra: [String: [String]]

    /// The identity of token `id` with `role` in `organization`.
    public init(tokenID: TokenID, role: Role, organizationID: OrganizationID, tokenName: TokenName) {
        self.username = tokenID.kubernetesUsername
        self.uid = tokenID.rawValue
        self.groups = [Self.group(for: role)]
        self.extra = [
            Self.organizationExtraKey: [organizationID.description],
            Self.tokenNameExtraKey: [tokenName.rawValue],
        ]
    }

    /// The identity of a person signed in by `email`, for when people reach clusters through the same role
    /// groups as tokens: the user name is the email address (as Kubernetes' OIDC authenticator would map an
    /// `email` claim), the uid is the user ID.
    public init(userID: UserID, email: EmailAddress, role: Role, organizationID: OrganizationID) {
        self.username = email.rawValue
        self.uid = userID.description
        self.groups = [Self.group(for: role)]
        self.extra = [Self.organizationExtraKey: [organizationID.description]]
    }

    /// The group of `role`.
    public static func group(for role: Role) -> String {
        switch role {
        case .administrator: "cloudfleet:administrators"
        case .user: "cloudfleet:users"
        }
    }

    /// The ClusterRole the group of `role` is bound to.
    public static func clusterRole(for role: Role) -> String {
        switch role {
        case .administrator: "cluster-admin"
        case .user: "view"
        }
    }
}
