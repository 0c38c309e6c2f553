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

    private struct State {
        var pending: [Key: TokenUsage] = [:]
        var lastQueued: [Key: Date] = [:]
        var local: [TokenID: LocalUses] = [:]
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

    /// Notes a use of `tokenID`'s secret in `slot`; cheap, never touches the database.
    func record(_ tokenID: TokenID, at date: Date, sourceIP: String?, userAgent: String? = nil, slot: SecretSlot = .current) {
        let key = Key(tokenID: tokenID, previous: slot == .previous)
        state.withLock { state in
            if state.local.count > 200_000 { state.local.removeAll() }
            switch slot {
            case .current: state.local[tokenID, default: LocalUses()].current = date
            case .previous: state.local[tokenID, default: LocalUses()].previous = date
            }
            if let last = state.lastQueued[key], date.timeIntervalSince(last) < minimumInterval { return }
            state.lastQueued[key] = date
            state.pending[key] = TokenUsage(
                tokenID: tokenID, at: date, sourceIP: sourceIP, userAgent: userAgent.map { String($0.prefix(256)) }, slot: slot)
        }
    }

    /// The latest uses of `tokenID`'s secrets seen on this node.
    func localUses(of tokenID: TokenID) -> LocalUses {
        state.withLock { $0.local[tokenID] ?? LocalUses() }
    }

    /// Writes what is pending in one batch. On failure the batch is kept for the next attempt.
    func flush() async {
        let batch = state.withLock { state in
            defer { state.pending.removeAll() }
            if state.lastQueued.count > 200_000 { state.lastQueued.removeAll() }
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
