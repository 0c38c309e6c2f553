import CloudfleetCore
import CloudfleetStore
import CloudfleetStoreSQLite
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import CloudfleetServer

/// Speed by design: a known token authenticates from memory, and every change reaches the cache at once.
@Suite struct VerificationCacheTests {
    @Test func aKnownTokenAuthenticatesWithoutADatabaseRoundTrip() async throws {
        let world = try await TestWorld.make()
        try await world.testCountingReads { counting, client in
            let bearer = Credentials.bearerHeader(try await client.accessToken(world.user))
            let afterExchange = counting.tokenLookups
            #expect(afterExchange == 1, "the first use reads the token once")
            for _ in 0..<20 {
                #expect(try await client.send(.get, "/v1/organization", auth: world.user.basic).status == .ok)
                #expect(try await client.send(.get, "/v1/organization", auth: bearer).status == .ok)
            }
            #expect(counting.tokenLookups == afterExchange, "40 authenticated calls, no further look-up")

            // A change invalidates and reads the new state once (the service warms the cache for the token's next
            // request); the calls after it need no look-up and see the new role.
            #expect(try await client.send(.get, "/v1/organization", auth: world.admin.basic).status == .ok)  // admin cached
            let beforeChange = counting.tokenLookups
            let promoted = try await client.send(
                .patch, "/v1/tokens/\(world.user.id)", auth: world.admin.basic, json: #"{"role":"Administrator"}"#)
            #expect(promoted.status == .ok)
            #expect(counting.tokenLookups == beforeChange + 1)
            #expect(try await client.send(.get, "/v1/audit-events", auth: bearer).status == .ok)
            #expect(try await client.send(.get, "/v1/audit-events", auth: world.user.basic).status == .ok)
            #expect(counting.tokenLookups == beforeChange + 1)
        }
    }

    @Test func aFillThatRacesAnInvalidationIsDropped() throws {
        let cache = VerificationCache()
        let token = APIToken(
            id: .generate(), organizationID: .generate(), name: try TokenName("t"), role: .user,
            secretDigest: SecretHasher(serverKey: .generate()).digest(TokenSecret.generate()), createdAt: Date(), createdBy: "test")
        let (missing, epoch) = cache.lookup(token.id)
        #expect(missing == nil)
        // The row was read (old state), then a change committed and invalidated before the fill.
        cache.invalidate(token.id)
        cache.fill(TokenVerificationState(token), epoch: epoch)
        #expect(cache.lookup(token.id).state == nil, "the stale row must not be cached")
        // A fill with a current epoch is kept.
        let (_, current) = cache.lookup(token.id)
        let state = TokenVerificationState(token)
        cache.fill(state, epoch: current)
        #expect(cache.lookup(token.id).state === state)
    }

    @Test func capacityIsBounded() throws {
        let cache = VerificationCache(capacity: 10)
        let hasher = SecretHasher(serverKey: .generate())
        for _ in 0..<50 {
            let token = APIToken(
                id: .generate(), organizationID: .generate(), name: try TokenName("t"), role: .user,
                secretDigest: hasher.digest(TokenSecret.generate()),
                createdAt: Date(), createdBy: "test")
            cache.fill(TokenVerificationState(token), epoch: cache.lookup(token.id).epoch)
        }
        #expect(cache.count <= 10)
    }
}
