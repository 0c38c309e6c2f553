import CloudfleetStore
import Foundation

/// When the previous secret of a regenerated token is still accepted (zero-downtime rotation).
///
/// `cloudfleet tokens regenerate --grace-period 1h` keeps the previous secret valid until the grace period ends.
/// It is retired earlier once the new secret has been used and the previous one has then been idle for
/// ``idleRetirement``: the pipeline has moved over, so the old secret no longer needs to work.
struct SecretRotation: Sendable {
    /// How long the previous secret must have been idle, after the new one was used, to be retired early.
    let idleRetirement: TimeInterval

    /// Whether `previous` is accepted at `now`, given the last uses of the current and the previous secret (the
    /// later of what is stored and what this node saw itself).
    func accepts(
        _ previous: PreviousSecret, rotatedAt: Date, currentLastUsedAt: Date?, previousLastUsedAt: Date?, now: Date
    ) -> Bool {
        guard now < previous.validUntil else { return false }
        // Until the new secret has been used, nothing has moved over: keep the previous one.
        guard currentLastUsedAt != nil else { return true }
        // Idle since its own last use, or since the rotation if it was never used afterwards.
        return now.timeIntervalSince(previousLastUsedAt ?? rotatedAt) < idleRetirement
    }

    /// Until when the previous secret of `token` is accepted, if it is accepted at `now`.
    func previousValidUntil(_ token: APIToken, now: Date) -> Date? {
        guard let previous = token.previousSecret,
            accepts(
                previous, rotatedAt: token.secretRotatedAt, currentLastUsedAt: token.secretLastUsedAt,
                previousLastUsedAt: previous.lastUsedAt, now: now)
        else { return nil }
        return previous.validUntil
    }
}
