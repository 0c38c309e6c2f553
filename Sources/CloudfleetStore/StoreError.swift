/// The few errors every backend translates its driver errors into.
public enum StoreError: Error, Sendable, Equatable {
    /// The record does not exist (in the given organization).
    case notFound
    /// A record with the same identity exists already; for tokens, also an ID equal after lower-casing.
    case alreadyExists
    /// The database cannot be reached or refused to work; the request may succeed later (HTTP 503).
    case unavailable(String)
    /// The database holds something this build cannot read, such as a newer schema.
    case corrupt(String)
}
