/// The kinds of change the audit trail records.
public enum AuditAction: String, Sendable, Codable, CaseIterable {
    case organizationCreate = "organization.create"
    case tokenCreate = "token.create"
    case tokenUpdate = "token.update"
    case tokenRegenerate = "token.regenerate"
    case tokenDelete = "token.delete"
    case tokenRevokeLeaked = "token.revoke_leaked"
    case authenticationFailure = "auth.failure"
    case authenticationIPRefused = "auth.ip_refused"
    case organizationPolicyUpdate = "organization.policy_update"
    case clusterCreate = "cluster.create"
    case clusterDelete = "cluster.delete"
    case clusterWebhookCredentialIssue = "cluster.webhook_credential.issue"
}
