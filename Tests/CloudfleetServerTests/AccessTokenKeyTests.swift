import CloudfleetCore
import Foundation
import HTTPTypes
import JWTKit
import Testing

@testable import CloudfleetServer

/// Access tokens are ES256, signed while the signing key is RS256 by its access-token companion, a key derived from
/// the server key and the signing key's id (`SigningKeyring`); cluster tokens keep the signing key.
@Suite struct AccessTokenKeyTests {
    @Test func accessTokensAreES256WhileClusterTokensKeepTheRS256Key() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let published = try #require(try await client.send(.get, "/.well-known/jwks.json").json["keys"] as? [[String: String]])
            #expect(published.count == 1 && published.first?["kty"] == "RSA", "the companion is not published")
            let kid = try #require(published.first?["kid"])

            let accessToken = try await client.accessToken(world.admin)
            let access = try DecodedJWT(accessToken).header
            #expect(access["alg"] as? String == "ES256" && access["kid"] as? String == kid + "-a")
            #expect(accessToken.split(separator: ".").last?.count == 86, "a P-256 signature, not a 342-character RS256 one")
            #expect(try await client.send(.get, "/v1/tokens/self", auth: Credentials.bearerHeader(accessToken)).status == .ok)
            // An access token signed by the RS256 key itself, as releases before companions minted them, still works.
            let keyring = try await SigningKeyring.load(store: world.store, serverKey: world.dependencies.serverKey)
            let claims = try await keyring.accessKeys.verify(accessToken, as: AccessTokenClaims.self)
            let older = try await keyring.keys.sign(claims, kid: JWKIdentifier(string: kid))
            #expect(try DecodedJWT(older).header["alg"] as? String == "RS256")
            #expect(try await client.send(.get, "/v1/tokens/self", auth: Credentials.bearerHeader(older)).status == .ok)

            let clusterID = try await client.createCluster(world.admin.basic, name: "prod")
            let cluster = try DecodedJWT(try await client.clusterToken(world.admin.basic, cluster: clusterID)).header
            #expect(cluster["alg"] as? String == "RS256" && cluster["kid"] as? String == kid)
            let discovery = try await client.send(.get, "/.well-known/openid-configuration").json
            #expect(discovery["id_token_signing_alg_values_supported"] as? [String] == ["RS256"])
        }
    }

    /// Nodes that share the database and the server key derive the same companion, so an access token minted by one
    /// verifies on any other; a node with another server key derives another.
    @Test func everyNodeWithTheServerKeyDerivesTheSameCompanion() async throws {
        let world = try await TestWorld.make()
        let (accessToken, otherNode) = try await world.closing {
            (
                try await world.run { client in try await client.accessToken(world.admin) },
                try await SigningKeyring.load(store: world.store, serverKey: world.dependencies.serverKey)
            )
        }
        let claims = try await otherNode.accessKeys.verify(accessToken, as: AccessTokenClaims.self)
        #expect(claims.sub.value == world.admin.id)

        let kid = otherNode.currentKID
        let again = try SigningKeyring.accessTokenKey(companionOf: kid, serverKey: world.dependencies.serverKey)
        let stranger = try SigningKeyring.accessTokenKey(companionOf: kid, serverKey: .generate())
        let anotherKey = try SigningKeyring.accessTokenKey(companionOf: "0123456789abcdef", serverKey: world.dependencies.serverKey)
        let companionKID = JWKIdentifier(string: SigningKeyring.companionKID(of: kid))
        for (what, key, accepted) in [
            ("the same derivation", again, true), ("another server key", stranger, false), ("another key id", anotherKey, false),
        ] {
            let verifier = JWTKeyCollection()
            await verifier.add(ecdsa: key.publicKey, kid: companionKID)
            #expect(((try? await verifier.verify(accessToken, as: AccessTokenClaims.self)) != nil) == accepted, "\(what)")
        }
    }

    /// A rotation replaces the companion along with the signing key: new access tokens carry the new one, and those of
    /// the previous one still work while the retired key does (a day).
    @Test func aRotationReplacesTheCompanionAndTheOldOneStillVerifies() async throws {
        let clock = TestClock()
        let world = try await TestWorld.make(now: clock.function)
        let oldToken = try await world.run { client in try await client.accessToken(world.admin) }
        let oldKID = try #require(try DecodedJWT(oldToken).header["kid"] as? String)

        let newKID = try await SigningKeyRotation.rotate(store: world.store, serverKey: world.dependencies.serverKey, now: clock.now)
        try await world.test { client in
            let newToken = try await client.accessToken(world.admin)
            let header = try DecodedJWT(newToken).header
            #expect(header["alg"] as? String == "ES256" && header["kid"] as? String == newKID + "-a" && newKID + "-a" != oldKID)
            for token in [oldToken, newToken] {
                #expect(try await client.send(.get, "/v1/tokens/self", auth: Credentials.bearerHeader(token)).status == .ok)
            }
            // Past the retired key's grace, its companion goes with it.
            let later = try await SigningKeyring.load(
                store: world.store, serverKey: world.dependencies.serverKey, now: clock.now.addingTimeInterval(SigningKeyring.retiredKeyGrace + 1))
            await #expect(throws: (any Error).self) { try await later.accessKeys.verify(oldToken, as: AccessTokenClaims.self) }
            _ = try await later.accessKeys.verify(newToken, as: AccessTokenClaims.self)
        }
    }

    /// Once the signing key is ES256, it signs access tokens itself: there is no companion.
    @Test func anES256SigningKeySignsAccessTokensItself() async throws {
        let world = try await TestWorld.make()
        let newKID = try await SigningKeyRotation.rotate(store: world.store, serverKey: world.dependencies.serverKey, algorithm: .es256)
        let keyring = try await SigningKeyring.load(store: world.store, serverKey: world.dependencies.serverKey)
        #expect(keyring.accessKID == newKID && keyring.currentKID == newKID)
        try await world.test { client in
            let header = try DecodedJWT(try await client.accessToken(world.admin)).header
            #expect(header["alg"] as? String == "ES256" && header["kid"] as? String == newKID)
        }
    }
}
