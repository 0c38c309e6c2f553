import CloudfleetStorePostgres
import PostgresNIO
import Testing

/// The pool settings every store gets from its URL. No database needed.
@Suite struct PostgresURLTests {
    /// Idle connections close after 15 s with no keep-alive query: the pool's idle and keep-alive timers hold
    /// memory per query until their deadline (docs/decisions.md), and 15 s still outlasts the 10 s operation
    /// deadline and its 3 s probe.
    @Test func idleConnectionsCloseAfterFifteenSecondsWithoutKeepAlive() throws {
        let configuration = try PostgresURL.configuration("postgres://cloudfleet@127.0.0.1:5432/cloudfleet")
        #expect(configuration.options.connectionIdleTimeout == .seconds(15))
        #expect(configuration.options.keepAliveBehavior == nil)
        #expect(configuration.options.connectTimeout == .seconds(5))
    }
}
