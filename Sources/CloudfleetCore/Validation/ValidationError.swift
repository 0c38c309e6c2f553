/// Input that breaks a domain rule, naming the field and what is wrong with it.
public struct ValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The name of the offending field as the API spells it (`name`, `role`, …).
    public let field: String
    /// What is wrong, phrased for the person who sent it.
    public let reason: String

    /// Creates an error for `field`.
    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(field): \(reason)" }
}
