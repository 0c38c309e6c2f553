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
    /// What the feed delivered, in order.
    final class Heard: Sendable {
        let items = Mutex<[String]>([])
        var all: [String] { items.withLock { $0 } }
        func append(_ item: String) { items.withLock { $0.append(item) } }
    }

    @Test func tokenChangesAreAnnouncedAndUsageIsNot() async throws {
        try await PostgresTestDatabase.withFreshStore { store in
            let hasher = SecretHasher(serverKey: ServerKey.generate())
            // A closure, not a local function: capturing the hasher in a local function of this async closure
            // crashed the debug build (a garbage key reference in the captured copy), twice in the project's history.
            let digest = { hasher.digest(TokenSecret.generate()) }
            let organization = Organization(id: .generate(), name: "Acme", createdAt: Date())
            func audit(_ action: AuditAction, _ target: String) -> AuditEvent {
                AuditEvent(organizationID: organization.id, occurredAt: Date(), actor: "test", action: action, targetType: "token", targetID: target)
            }
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

            let heard = Heard()
            let (subscribed, subscription) = AsyncStream<Void>.makeStream()
            let follower = Task {
                await store.followChanges(
                    onSubscribed: { subscription.yield() }, onChange: { heard.append($0.rawValue) },
                    onSigningKeysChange: { heard.append("signing-keys") }, onLost: {})
            }
            defer { follower.cancel() }
            var waiting = subscribed.makeAsyncIterator()
            _ = await waiting.next()

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
            let deadline = ContinuousClock.now + .seconds(20)
            while heard.all.count < expected.count && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(heard.all == expected)
        }
    }

    /// The smallest pool `pool_max_conns` allows, two, is enough: the feed's `LISTEN` keeps one connection and
    /// concurrent writes share the other, with no operation holding one connection while it waits for a second.
    @Test func theFeedAndConcurrentWritesShareAPoolOfTwo() async throws {
        #expect(PostgresURL.poolSizes.lowerBound == 2)
        try await PostgresTestDatabase.withFreshStore(options: { $0.maximumConnections = PostgresURL.poolSizes.lowerBound }) { store in
            let hasher = SecretHasher(serverKey: ServerKey.generate())
            let organization = Organization(id: .generate(), name: "Acme", createdAt: Date())
            let audit: @Sendable (AuditAction, String) -> AuditEvent = { action, target in
                AuditEvent(organizationID: organization.id, occurredAt: Date(), actor: "test", action: action, targetType: "token", targetID: target)
            }
            try await store.createOrganization(organization, audit: audit(.organizationCreate, organization.id.description))

            let (announced, announce) = AsyncStream<TokenID>.makeStream()
            let (subscribed, subscription) = AsyncStream<Void>.makeStream()
            let follower = Task {
                await store.followChanges(
                    onSubscribed: { subscription.yield() }, onChange: { announce.yield($0) }, onSigningKeysChange: {}, onLost: {})
            }
            defer { follower.cancel() }
            var waiting = subscribed.makeAsyncIterator()
            _ = await waiting.next()

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
            var announcements = announced.makeAsyncIterator()
            #expect(await announcements.next() == last)
        }
    }
}
