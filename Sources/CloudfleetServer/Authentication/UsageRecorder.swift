import CloudfleetCore
import CloudfleetStore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Collects token last-use facts off the request path and writes them behind in batches, at most once per
/// token per ``minimumInterval``.
final class UsageRecorder: Service, Sendable {
    private struct State {
        var pending: [TokenID: TokenUsage] = [:]
        var lastQueued: [TokenID: Date] = [:]
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

    /// Notes a use of `tokenID`; cheap, never touches the database.
    func record(_ tokenID: TokenID, at date: Date, sourceIP: String?) {
        state.withLock { state in
            if let last = state.lastQueued[tokenID], date.timeIntervalSince(last) < minimumInterval { return }
            state.lastQueued[tokenID] = date
            state.pending[tokenID] = TokenUsage(tokenID: tokenID, at: date, sourceIP: sourceIP)
        }
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
                for usage in batch where state.pending[usage.tokenID] == nil {
                    state.pending[usage.tokenID] = usage
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
