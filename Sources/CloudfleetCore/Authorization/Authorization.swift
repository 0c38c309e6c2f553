/// The one authorization function, used by every entry point (API, console, webhook).
public enum Authorization {
    /// The outcome of a check.
    public enum Decision: Sendable, Equatable {
        /// Go ahead.
        case allowed
        /// The principal may see the resource but its role does not allow the action (HTTP 403).
        case forbidden
        /// The resource belongs to another organization: answer as if it did not exist (HTTP 404), so that
        /// IDs of other organizations cannot be probed.
        case notFound
    }

    /// Decides whether `principal` may perform `action` on a resource of `organization`.
    public static func decide(_ principal: Principal, _ action: Action, in organization: OrganizationID) -> Decision {
        guard principal.organizationID == organization else { return .notFound }
        switch principal.role {
        case .administrator:
            return .allowed
        case .user:
            return action.isRead && action != .listAuditEvents && action != .listUsers ? .allowed : .forbidden
        }
    }
}
