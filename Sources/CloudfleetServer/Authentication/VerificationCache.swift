import CloudfleetCore
import CloudfleetStore
import Foundation
import Synchronization

/// What authentication needs to know about a token, kept in memory so that authenticating a known token does
/// no database round trip (architecture §7).
///
/// A class, and immutable: the state is handed from the cache through the authentication gate into the request
/// context, and each hand-over of a struct with this many strings and buffers retained and released every one of
/// them (about 40 reference-count operations a request).
final class TokenVerificationState: Sendable {
    let id: TokenID
    let organizationID: OrganizationID
    let name: TokenName
    let role: Role
    let secretDigest: SecretDigest
    let secretGeneration: Int
    let expiresAt: Date?
    let secretRotatedAt: Date
    /// Last use of the current secret as stored when this state was read.
    let secretLastUsedAt: Date?
    let previousSecret: PreviousSecret?
    let fence: IPFence
    /// The organization ID and the Kubernetes user name as text, written once per cached token rather than on each
    /// request that shows them (the `self` answer, minted tokens): each was a new string every time. About 190 bytes
    /// a cached token.
    let organizationIDText: String
    let kubernetesUsername: String

    init(_ token: APIToken) {
        self.id = token.id
        self.organizationID = token.organizationID
        self.name = token.name
        self.role = token.role
        self.secretDigest = token.secretDigest
        self.secretGeneration = token.secretGeneration
        self.expiresAt = token.expiresAt
        self.secretRotatedAt = token.secretRotatedAt
        self.secretLastUsedAt = token.secretLastUsedAt
        self.previousSecret = token.previousSecret
        // Stored entries were validated on the way in; an unreadable one fences the token shut rather than open.
        self.fence = (try? IPFence(token.allowedCIDRs)) ?? IPFence.closed
        self.organizationIDText = token.organizationID.description
        self.kubernetesUsername = token.id.kubernetesUsername
    }
}

/// Token ID → verification state, filled on a miss and invalidated on every change.
///
/// A fill races with an invalidation when a request reads the old row just before a change commits. Each
/// fill therefore carries the invalidation epoch seen before its read and is dropped if any invalidation came
/// in between, so a stale row can never outlive the change that replaced it. Missing tokens are never cached.
final class VerificationCache: Sendable {
    private struct State {
        /// By the ID's text, so that a presented ID is looked up before it is parsed.
        var entries: [String: TokenVerificationState] = [:]
        var epoch: UInt64 = 0
        var trusted: Bool
    }

    private let state: Mutex<State>
    private let capacity: Int

    /// A cache that starts trusted (one node) or untrusted until a change feed subscribes (several nodes).
    init(capacity: Int = 100_000, trusted: Bool = true) {
        self.capacity = capacity
        self.state = Mutex(State(trusted: trusted))
    }

    /// The cached state of `id` and, on a miss, the epoch to hand back to ``fill(_:epoch:)``. Always a miss
    /// while the cache is not trusted.
    func lookup(_ id: TokenID) -> (state: TokenVerificationState?, epoch: UInt64) {
        self.state.withLock { ($0.trusted ? $0.entries[id.rawValue] : nil, $0.epoch) }
    }

    /// Caches `token` unless an invalidation happened since `epoch` was read, or the cache is not trusted.
    func fill(_ token: TokenVerificationState, epoch: UInt64) {
        self.state.withLock { state in
            guard state.trusted, state.epoch == epoch else { return }
            if state.entries.count >= capacity, let victim = state.entries.keys.first {
                state.entries.removeValue(forKey: victim)
            }
            state.entries[token.id.rawValue] = token
        }
    }

    /// The cached state of the token whose ID is `rawID`, a presented ID not yet parsed: one that is not a token ID,
    /// byte for byte, is not found. Always `nil` while the cache is not trusted.
    func lookup(rawID: String) -> TokenVerificationState? {
        guard let found = self.state.withLock({ $0.trusted ? $0.entries[rawID] : nil }) else { return nil }
        return found.id.matches(exactly: rawID) ? found : nil
    }

    /// Forgets `id`; call after every committed change to a token, before answering the caller.
    func invalidate(_ id: TokenID) {
        self.state.withLock { state in
            state.entries.removeValue(forKey: id.rawValue)
            state.epoch &+= 1
        }
    }

    /// The number of cached tokens.
    var count: Int { state.withLock { $0.entries.count } }

    /// Forgets everything and sets whether the cache may be used: `false` while this node may be missing
    /// invalidations from other nodes, `true` once it hears them again.
    func reset(trusted: Bool) {
        self.state.withLock { state in
            state.entries.removeAll()
            state.epoch &+= 1
            state.trusted = trusted
        }
    }
}
