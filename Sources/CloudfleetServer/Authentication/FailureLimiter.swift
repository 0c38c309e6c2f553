import Foundation
import Synchronization

/// Limits failed authentications per token ID and per source address, with a token bucket of failures each.
///
/// Only failures spend the budget, and a limited source still gets in with a valid secret of a token the
/// server already knows: an attacker who floods a token ID with wrong secrets earns `429` for their own
/// guesses, not a lockout of the token's holder. While a source is limited its guesses no longer reach the
/// database (see ``AuthenticationGate``).
final class FailureLimiter: Sendable {
    /// How many failures in a burst, and how fast the budget refills.
    struct Budget: Sendable {
        var burst: Double
        var perSecond: Double
    }

    private struct Bucket {
        var tokens: Double
        var updatedAt: Date
    }

    private let buckets = Mutex<[String: Bucket]>([:])
    private let lookups = Mutex<[String: Date]>([:])
    /// While limited, a token ID or an address gets at most one store look-up per this many seconds.
    let limitedLookupInterval: TimeInterval = 1
    let perToken: Budget
    let perAddress: Budget
    private let capacity: Int

    init(perToken: Budget = Budget(burst: 10, perSecond: 1.0 / 6), perAddress: Budget = Budget(burst: 30, perSecond: 0.5), capacity: Int = 100_000) {
        self.perToken = perToken
        self.perAddress = perAddress
        self.capacity = capacity
    }

    /// How many token IDs and addresses have failures on record.
    var trackedSources: Int { buckets.withLock { $0.count } }

    /// Seconds until the token ID or the address may fail again, or `nil` when neither is limited. `tokenID` is read
    /// only when some failure is on record.
    func retryAfter(tokenID: @autoclosure () -> String?, address: String?, now: Date) -> Int? {
        // With no failure on record (the usual case) there is nothing to build keys for or look up.
        if buckets.withLock({ $0.isEmpty }) { return nil }
        let waits = keys(tokenID: tokenID(), address: address).compactMap { key, budget -> Double? in
            buckets.withLock { buckets in
                guard let bucket = buckets[key] else { return nil }
                let tokens = refilled(bucket, budget, now)
                // A bucket that has refilled carries no information: dropping it keeps the empty fast path above.
                if tokens >= budget.burst { buckets.removeValue(forKey: key) }
                return tokens >= 1 ? nil : (1 - tokens) / budget.perSecond
            }
        }
        return waits.max().map { max(1, Int($0.rounded(.up))) }
    }

    /// Whether a limited request may still read the store: at most once per ``limitedLookupInterval`` for its token
    /// ID and for its address. This refills the cache after a change to a token under attack (which empties it),
    /// so the holder of the valid secret gets back in within a second, while a flood stays off the database.
    func allowLookupWhileLimited(tokenID: String?, address: String?, now: Date) -> Bool {
        let keys = keys(tokenID: tokenID, address: address).map(\.0)
        return lookups.withLock { lookups in
            guard keys.allSatisfy({ key in lookups[key].map { now.timeIntervalSince($0) >= limitedLookupInterval } ?? true }) else {
                return false
            }
            if lookups.count >= capacity { lookups.removeAll() }
            for key in keys { lookups[key] = now }
            return true
        }
    }

    /// Spends one failure of the token ID's and the address's budgets.
    func recordFailure(tokenID: String?, address: String?, now: Date) {
        let keys = keys(tokenID: tokenID, address: address)
        buckets.withLock { buckets in
            if buckets.count >= capacity {
                // Full buckets carry no information; drop them, and everything if that is not enough.
                buckets = buckets.filter { entry in
                    let budget = entry.key.hasPrefix("t:") ? perToken : perAddress
                    return refilled(entry.value, budget, now) < budget.burst
                }
                if buckets.count >= capacity { buckets.removeAll() }
            }
            for (key, budget) in keys {
                let tokens = buckets[key].map { refilled($0, budget, now) } ?? budget.burst
                buckets[key] = Bucket(tokens: max(0, tokens - 1), updatedAt: now)
            }
        }
    }

    private func keys(tokenID: String?, address: String?) -> [(String, Budget)] {
        var keys: [(String, Budget)] = []
        if let tokenID { keys.append(("t:" + tokenID, perToken)) }
        if let address { keys.append(("a:" + address, perAddress)) }
        return keys
    }

    private func refilled(_ bucket: Bucket, _ budget: Budget, _ now: Date) -> Double {
        min(budget.burst, bucket.tokens + max(0, now.timeIntervalSince(bucket.updatedAt)) * budget.perSecond)
    }
}
