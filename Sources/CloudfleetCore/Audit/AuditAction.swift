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
    case userCreate = "user.create"
    case userUpdate = "user.update"
    case userDelete = "user.delete"
    /// A person signed in to the console (through SSO or a sign-in link).
    case consoleSignIn = "console.sign_in"
    case consoleSignOut = "console.sign_out"
    /// A break-glass sign-in link was printed by `cloudfleet-server admin sign-in-link`.
    case consoleSignInLinkIssue = "console.sign_in_link.issue"
    /// A console sign-in was refused (unknown email, unverified email, another SSO subject, a used link).
    case consoleSignInFailure = "console.sign_in.failure"
}
