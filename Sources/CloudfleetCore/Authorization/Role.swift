/// The role of a token or user. Administrator may do everything in its organization; User may only read.
/// In Kubernetes they map to `cluster-admin` and `view`.
public enum Role: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case administrator = "Administrator"
    case user = "User"

    /// Parses a role name as the documentation writes it (`Administrator`, `User`), ignoring case.
    public init?(name: String) {
        guard let role = Role.allCases.first(where: { $0.rawValue.lowercased() == name.lowercased() }) else {
            return nil
        }
        self = role
    }

    public var description: String { rawValue }
}
