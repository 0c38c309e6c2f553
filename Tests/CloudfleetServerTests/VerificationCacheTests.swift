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

    /// A cached token's Basic secret is checked before the ID and the secret are parsed; what the parse would refuse
    /// must still be refused, by the cache or by the parse after it.
    @Test func aCachedTokenIsCheckedBeforeTheParseAndRefusesWhatTheParseWould() async throws {
        let world = try await TestWorld.make()
        // An ID with a K, written directly: a KELVIN SIGN (U+212A) is canonically equivalent to it.
        let id = try #require(TokenID("K" + String(repeating: "a", count: TokenID.length - 1)))
        let secret = TokenSecret.generate()
        try await world.store.createToken(
            APIToken(
                id: id, organizationID: world.home, name: try TokenName("kelvin"), role: .user,
                secretDigest: SecretHasher(serverKey: world.dependencies.serverKey).digest(secret), createdAt: Date(), createdBy: "test"),
            audit: AuditEvent(
                organizationID: world.home, occurredAt: Date(), actor: "test", action: .tokenCreate, targetType: "token", targetID: id.rawValue))
        try await world.testCountingReads { counting, client in
            let exact = Credentials(id: id.rawValue, secret: secret.reveal)
            #expect(try await client.send(.get, "/v1/tokens/self", auth: exact.basic).status == .ok)
            let reads = counting.tokenLookups
            #expect(try await client.send(.get, "/v1/tokens/self", auth: exact.basic).status == .ok)
            #expect(counting.tokenLookups == reads, "answered from the cache")

            let kelvin = "\u{212A}" + id.rawValue.dropFirst()
            #expect(kelvin == id.rawValue && kelvin.utf8.count != id.rawValue.utf8.count, "equal as Swift strings, not as bytes")
            let refused = try await client.send(.get, "/v1/tokens/self", auth: Credentials(id: kelvin, secret: secret.reveal).basic)
            #expect(refused.status == .unauthorized)
            // A wrong secret of the cached token, well-formed or not, is refused as before (and audited when well-formed).
            let wrong = try await client.send(
                .get, "/v1/tokens/self", auth: Credentials(id: id.rawValue, secret: TokenSecret.generate().reveal).basic)
            #expect(wrong.status == .unauthorized)
            let malformed = try await client.send(.get, "/v1/tokens/self", auth: Credentials(id: id.rawValue, secret: secret.reveal + "x").basic)
            #expect(malformed.status == .unauthorized)
            #expect(counting.tokenLookups == reads, "no refusal read the store: the token is cached")
            try await eventually("one auth.failure event, for the well-formed wrong secret") {
                try await client.audit(world.admin, "token=\(id.rawValue)&action=auth.failure").count == 1
            }
        }
    }

    @Test func aPresentedIDIsFoundOnlyByteForByte() throws {
        let cache = VerificationCache()
        let id = try #require(TokenID("K" + String(repeating: "b", count: TokenID.length - 1)))
        let token = APIToken(
            id: id, organizationID: .generate(), name: try TokenName("t"), role: .user,
            secretDigest: SecretHasher(serverKey: .generate()).digest(TokenSecret.generate()), createdAt: Date(), createdBy: "test")
        let state = TokenVerificationState(token)
        cache.fill(state, epoch: cache.lookup(id).epoch)
        #expect(cache.lookup(rawID: id.rawValue) === state)
        #expect(cache.lookup(rawID: "\u{212A}" + id.rawValue.dropFirst()) == nil)
        #expect(cache.lookup(rawID: "k" + id.rawValue.dropFirst()) == nil)
        #expect(cache.lookup(rawID: "") == nil)
        #expect(id.matches(exactly: id.rawValue))
        #expect(!id.matches(exactly: "\u{212A}" + id.rawValue.dropFirst()))
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
