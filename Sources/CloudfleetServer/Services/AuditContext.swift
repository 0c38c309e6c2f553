/// Who is acting and from where, for the audit event of a change.
public struct AuditContext: Sendable {
    /// `token:<id>` for API calls, `bootstrap` or `admin-cli` for the server's own commands.
    public var actor: String
    public var sourceIP: String?
    public var requestID: String?

    public init(actor: String, sourceIP: String? = nil, requestID: String? = nil) {
        self.actor = actor
        self.sourceIP = sourceIP
        self.requestID = requestID
    }
}
