import CloudfleetCore
import CloudfleetStore
import CloudfleetStorePostgres
import Foundation
import PostgresNIO
import Synchronization
import Testing

/// Every committed change to a token is announced on the change feed, so other nodes drop what they cached; usage
/// and failed changes are not.
@Suite(.enabled(if: PostgresTestDatabase.enabled, "needs CLOUDFLEET_TEST_POSTGRES_URL (scripts/with-postgres)"))
struct PostgresChangeFeedTests {
    /// A follower of `store`'s change feed, subscribed: what it hears (token IDs, and `signing-keys`) in order.
    struct Feed {
        let heard: AsyncStream<String>
        let follower: Task<Void, Never>

        static func follow(_ store: PostgresStore) async -> Feed {
            let (heard, hear) = AsyncStream<String>.makeStream()
            let (subscribed, subscription) = AsyncStream<Void>.makeStream()
            let follower = Task {
                await store.followChanges(
                    onSubscribed: { subscription.yield() }, onChange: { hear.yield($0.rawValue) },
                    onSigningKeysChange: { hear.yield("signing-keys") }, onLost: {})
            }
            var waiting = subscribed.makeAsyncIterator()
            _ = await waiting.next()
            return Feed(heard: heard, follower: follower)
        }

        /// The next `count` announcements, or those heard within `limit`: a feed that falls silent fails the test
        /// rather than hanging it. Once the time has run out the stream is finished, and the feed hears no more.
        func next(_ count: Int, within limit: Duration = .seconds(20)) async -> [String] {
            let collected = Collected()
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await item in heard where collected.append(item) == count { return }
                }
                group.addTask { try? await Task.sleep(for: limit) }
                await group.next()
                group.cancelAll()
            }
            return collected.items.withLock { $0 }
        }

        /// What `next` heard so far, kept when its time runs out.
        final class Collected: Sendable {
            let items = Mutex<[String]>([])

            /// Adds `item`; the number heard.
            func append(_ item: String) -> Int {
                items.withLock { items in
                    items.append(item)
                    return items.count
                }
            }
        }
    }

    /// The audit record a test's change carries.
    static func audit(_ organization: OrganizationID, _ action: AuditAction, _ target: String) -> AuditEvent {
        AuditEvent(organizationID: organization, occurredAt: Date(), actor: "test", action: action, targetType: "token", targetID: target)
    }

    @Test func tokenChangesAreAnnouncedAndUsageIsNot() async throws {
        try await PostgresTestDatabase.withFreshStore { store in
            let hasher = SecretHasher(serverKey: ServerKey.generate())
            // A closure, not a local function: capturing the hasher in a local function of this async closure
            // crashed the debug build (a garbage key reference in the captured copy), twice in the project's history.
            let digest = { hasher.digest(TokenSecret.generate()) }
            let organization = Organization(id: .generate(), name: "Acme", createdAt: Date())
            let audit = { Self.audit(organization.id, $0, $1) }
            try await store.createOrganization(organization, audit: audit(.organizationCreate, organization.id.description))
            var tokens: [APIToken] = []
            for _ in 0..<2 {
                let token = APIToken(
                    id: .generate(), organizationID: organization.id, name: try TokenName("t"), role: .user, secretDigest: digest(),
                    createdAt: Date(), createdBy: "test")
                try await store.createToken(token, audit: audit(.tokenCreate, token.id.rawValue))
                tokens.append(token)
            }
            let (used, changed) = (tokens[0], tokens[1])

            let feed = await Feed.follow(store)
            defer { feed.follower.cancel() }

            // Usage of one token, then changes of the other: the first announcement must be the other's.
            try await store.recordUsage([
                TokenUsage(tokenID: used.id, at: Date(), sourceIP: "192.0.2.1", slot: .current),
                TokenUsage(tokenID: used.id, at: Date(), sourceIP: "192.0.2.1", slot: .previous),
            ])
            _ = try await store.updateToken(
                id: changed.id, organization: organization.id, change: TokenChange(allowedCIDRs: ["10.0.0.0/8"]), at: Date(),
                audit: audit(.tokenUpdate, changed.id.rawValue))
            let current = digest()
            _ = try await store.replaceSecret(
                id: changed.id, organization: organization.id, digest: current, previousValidUntil: Date().addingTimeInterval(60), at: Date(),
                audit: audit(.tokenRegenerate, changed.id.rawValue))
            await #expect(throws: StoreError.notFound) {
                _ = try await store.revokeLeakedSecret(
                    id: changed.id, leaked: digest(), replacement: digest(), at: Date(), audit: audit(.tokenRevokeLeaked, changed.id.rawValue))
            }
            _ = try await store.revokeLeakedSecret(
                id: changed.id, leaked: changed.secretDigest, replacement: digest(), at: Date(),
                audit: audit(.tokenRevokeLeaked, changed.id.rawValue))
            _ = try await store.revokeLeakedSecret(
                id: changed.id, leaked: current, replacement: digest(), at: Date(), audit: audit(.tokenRevokeLeaked, changed.id.rawValue))
            try await store.deleteToken(id: changed.id, organization: organization.id, audit: audit(.tokenDelete, changed.id.rawValue))
            // A last change of the used token marks the end: everything before it has been delivered by then.
            try await store.deleteToken(id: used.id, organization: organization.id, audit: audit(.tokenDelete, used.id.rawValue))

            let expected = Array(repeating: changed.id.rawValue, count: 5) + [used.id.rawValue]
            #expect(await feed.next(expected.count) == expected)
        }
    }

    /// The smallest pool `pool_max_conns` allows, two, is enough: the feed's `LISTEN` keeps one connection and
    /// concurrent writes share the other, with no operation holding one connection while it waits for a second.
    @Test func theFeedAndConcurrentWritesShareAPoolOfTwo() async throws {
        #expect(PostgresURL.poolSizes.lowerBound == 2)
        try await PostgresTestDatabase.withFreshStore(options: { $0.maximumConnections = PostgresURL.poolSizes.lowerBound }) { store in
            let hasher = SecretHasher(serverKey: ServerKey.generate())
            let organization = Organization(id: .generate(), name: "Acme", createdAt: Date())
            let audit: @Sendable (AuditAction, String) -> AuditEvent = { Self.audit(organization.id, $0, $1) }
            try await store.createOrganization(organization, audit: audit(.organizationCreate, organization.id.description))
            let feed = await Feed.follow(store)
            defer { feed.follower.cancel() }

            let digests = (0..<24).map { _ in hasher.digest(TokenSecret.generate()) }
            let created = try await withThrowingTaskGroup(of: TokenID.self) { group in
                for (index, digest) in digests.enumerated() {
                    group.addTask {
                        let token = APIToken(
                            id: .generate(), organizationID: organization.id, name: try TokenName("t\(index)"), role: .user,
                            secretDigest: digest, createdAt: Date(), createdBy: "test")
                        try await store.createToken(token, audit: audit(.tokenCreate, token.id.rawValue))
                        _ = try await store.token(id: token.id)
                        return token.id
                    }
                }
                return try await group.reduce(into: [TokenID]()) { $0.append($1) }
            }
            #expect(created.count == 24)
            let last = try #require(created.last)
            try await store.deleteToken(id: last, organization: organization.id, audit: audit(.tokenDelete, last.rawValue))
            // The feed still answers on its own connection: the deletion is announced.
            #expect(await feed.next(1) == [last.rawValue])
        }
    }
}
