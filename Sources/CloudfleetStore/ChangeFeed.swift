import CloudfleetCore

/// A store shared by several server nodes that tells every node about token changes made by any node, so each
/// node can drop cached verification state (PostgreSQL `LISTEN/NOTIFY`).
///
/// Contract: a change is announced only after it commits. While the feed is not subscribed, changes may be
/// missed: the follower must stop trusting what it cached between `onLost` and the next `onSubscribed`.
public protocol ChangeFeed: Sendable {
    /// Follows changes until the task is cancelled, resubscribing after a lost connection.
    /// - Parameters:
    ///   - onSubscribed: called each time the subscription is (re)established; changes are delivered from then on.
    ///   - onChange: called with the ID of every changed or deleted token.
    ///   - onSigningKeysChange: called when the signing keys were rotated.
    ///   - onLost: called when the subscription broke and changes may have been missed.
    func followChanges(
        onSubscribed: @escaping @Sendable () -> Void, onChange: @escaping @Sendable (TokenID) -> Void,
        onSigningKeysChange: @escaping @Sendable () -> Void, onLost: @escaping @Sendable () -> Void
    ) async
}
