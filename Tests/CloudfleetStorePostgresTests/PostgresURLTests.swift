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

    /// Twenty connections unless the URL says otherwise: operators with many nodes lower it to stay under the
    /// database's `max_connections`.
    @Test func poolSizeIsTwentyUnlessTheURLSetsIt() throws {
        #expect(try PostgresURL.configuration("postgres://cloudfleet@db/cloudfleet").options.maximumConnections == 20)
        let sized = try PostgresURL.configuration("postgres://cloudfleet@db/cloudfleet?sslmode=disable&pool_max_conns=4")
        #expect(sized.options.maximumConnections == 4)
        #expect(try PostgresURL.configuration("postgres://cloudfleet@db/cloudfleet?pool_max_conns=2").options.maximumConnections == 2)
        #expect(try PostgresURL.configuration("postgres://cloudfleet@db/cloudfleet?pool_max_conns=500").options.maximumConnections == 500)
    }

    /// A size the pool cannot work with is refused at start, with the allowed range and without the password. One
    /// connection is too few: the revocation feed's `LISTEN` keeps one for itself.
    @Test(arguments: ["0", "1", "501", "-3", "four", "", "4.5", " 4"])
    func unusablePoolSizesAreRefused(size: String) throws {
        let url = "postgres://cloudfleet:not-in-errors@db/cloudfleet?pool_max_conns=" + size
        let failure = try #require(throws: PostgresURL.Failure.self) { try PostgresURL.configuration(url) }
        #expect(failure.description.contains("pool_max_conns must be a whole number from 2 to 500"))
        #expect(!failure.description.contains("not-in-errors"))
    }
}
