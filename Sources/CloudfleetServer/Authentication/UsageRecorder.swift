import CloudfleetCore
import CloudfleetStore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Collects token last-use facts off the request path and writes them behind in batches, at most once per
/// token and secret per ``minimumInterval`` (so stored last use is at most a minute stale).
///
/// It also remembers, for this node, the latest use of each token's current and previous secret at once, which
/// the early retirement of a previous secret needs before the facts reach the store.
final class UsageRecorder: Service, Sendable {
    struct Key: Hashable {
        let tokenID: TokenID
        let previous: Bool
    }

    /// The latest uses this node saw of a token's two secrets.
    struct LocalUses: Sendable, Equatable {
        var current: Date?
        var previous: Date?
    }

    /// What this node knows of one token's uses: the latest of each secret, and when each was last queued for the
    /// store. One entry per token, so that a request finds it with one dictionary lookup.
    private struct TokenUses {
        var local = LocalUses()
        var queuedCurrent: Date?
        var queuedPrevious: Date?

        /// Notes a use at `date`; whether it is to be written (none of that secret queued for `interval`).
        mutating func note(_ date: Date, slot: SecretSlot, interval: TimeInterval) -> Bool {
            switch slot {
            case .current:
                local.current = date
                if let queued = queuedCurrent, date.timeIntervalSince(queued) < interval { return false }
                queuedCurrent = date
            case .previous:
                local.previous = date
                if let queued = queuedPrevious, date.timeIntervalSince(queued) < interval { return false }
                queuedPrevious = date
            }
            return true
        }
    }

    private struct State {
        var pending: [Key: TokenUsage] = [:]
        var uses: [TokenID: TokenUses] = [:]
    }

    private let state = Mutex(State())
    private let store: any Store
    private let flushInterval: Duration
    private let minimumInterval: TimeInterval
    private let logger: Logger

    init(store: any Store, flushInterval: TimeInterval, minimumInterval: TimeInterval = 60, logger: Logger) {
        self.store = store
        self.flushInterval = .milliseconds(Int64(flushInterval * 1000))
        self.minimumInterval = minimumInterval
        self.logger = logger
    }

    /// Notes a use of `tokenID`'s secret in `slot`; cheap, never touches the database. `userAgent` is read only when
    /// the use is queued.
    func record(
        _ tokenID: TokenID, at date: Date, sourceIP: String?, userAgent: @autoclosure () -> String? = nil, slot: SecretSlot = .current
    ) {
        state.withLock { state in
            // Forgetting costs an early write and this node's uses of the last minute, which the store may not have yet.
            if state.uses.count > 200_000 { state.uses.removeAll() }
            guard state.uses[tokenID, default: TokenUses()].note(date, slot: slot, interval: minimumInterval) else { return }
            state.pending[Key(tokenID: tokenID, previous: slot == .previous)] = TokenUsage(
                tokenID: tokenID, at: date, sourceIP: sourceIP, userAgent: userAgent().map { String($0.prefix(256)) }, slot: slot)
        }
    }

    /// The latest uses of `tokenID`'s secrets seen on this node.
    func localUses(of tokenID: TokenID) -> LocalUses {
        state.withLock { $0.uses[tokenID]?.local ?? LocalUses() }
    }

    /// Writes what is pending in one batch. On failure the batch is kept for the next attempt.
    func flush() async {
        let batch = state.withLock { state in
            defer { state.pending.removeAll() }
            return Array(state.pending.values)
        }
        guard !batch.isEmpty else { return }
        do {
            try await store.recordUsage(batch)
        } catch {
            logger.warning("could not record token usage; will retry", metadata: ["error": "\(error)"])
            state.withLock { state in
                for usage in batch {
                    let key = Key(tokenID: usage.tokenID, previous: usage.slot == .previous)
                    if state.pending[key] == nil { state.pending[key] = usage }
                }
            }
        }
    }

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: self.flushInterval)
                await self.flush()
            }
        }
        // Whatever arrived since the last batch is written before the process exits.
        await flush()
    }
}
