import CloudfleetStore
import Synchronization
import Testing

@testable import CloudfleetStorePostgres

/// The deadline of each store operation (`PostgresStore.withTimeout` and `OperationDeadlines`). No database needed.
@Suite struct PostgresOperationDeadlineTests {
    /// Each operation used to leave a timer task sleeping out the whole timeout after its answer: ten seconds of a
    /// sleeping task per request, 100 MB and more under load. The answer must take its deadline with it.
    @Test func theAnswerTakesItsDeadlineWithIt() async throws {
        let deadlines = OperationDeadlines()
        for value in 0..<100 {
            #expect(try await PostgresStore.withTimeout(.seconds(3600), deadlines: deadlines) { value } == value)
        }
        await #expect(throws: CancellationError.self) {
            try await PostgresStore.withTimeout(.seconds(3600), deadlines: deadlines) { () async throws -> Int in throw CancellationError() }
        }
        #expect(deadlines.count == 0)
    }

    @Test(.timeLimit(.minutes(1)))
    func aSlowOperationTimesOutAndIsCancelled() async throws {
        let deadlines = OperationDeadlines()
        let watchdog = Task { await deadlines.watch(every: .milliseconds(10)) }
        defer { watchdog.cancel() }
        let (outcomes, outcome) = AsyncStream.makeStream(of: String.self)
        await #expect(throws: StoreError.self) {
            try await PostgresStore.withTimeout(.milliseconds(50), deadlines: deadlines) {
                do {
                    try await Task.sleep(for: .seconds(3600))
                    outcome.yield("finished")
                } catch {
                    outcome.yield("cancelled")
                }
                return 0
            }
        }
        // The query behind a timed-out operation is cancelled, not left to run.
        var iterator = outcomes.makeAsyncIterator()
        #expect(await iterator.next() == "cancelled")
        #expect(deadlines.count == 0)
    }

    @Test func onlyDeadlinesThatHavePassedExpire() {
        let deadlines = OperationDeadlines()
        let now = ContinuousClock.now
        let expired = Expired()
        _ = deadlines.add(now - .seconds(1)) { expired.record("past") }
        _ = deadlines.add(now) { expired.record("now") }
        let later = deadlines.add(now + .seconds(1)) { expired.record("later") }
        deadlines.expire(at: now)
        #expect(expired.names == ["now", "past"])
        #expect(deadlines.count == 1)
        deadlines.remove(later)
        deadlines.expire(at: now + .seconds(2))
        #expect(expired.names == ["now", "past"])
        #expect(deadlines.count == 0)
    }

    final class Expired: Sendable {
        private let list = Mutex<[String]>([])
        func record(_ name: String) { list.withLock { $0.append(name) } }
        var names: [String] { list.withLock { $0.sorted() } }
    }
}
