import CloudfleetCore
import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import JWTKit
import Testing

@testable import CloudfleetServer

/// `/.well-known/openid-configuration` and `/.well-known/jwks.json`: how Kubernetes verifies cluster tokens offline.
@Suite struct KubernetesOIDCTests {
    @Test func discoveryNamesTheIssuerAndItsKeys() async throws {
        // A trailing slash is not part of the issuer: Kubernetes compares `iss` byte for byte.
        let world = try await TestWorld.make().configured { $0.publicURL = "https://cloudfleet.example.com:8443/" }
        try await world.test { client in
            let issuer = "https://cloudfleet.example.com:8443"
            let reply = try await client.send(.get, "/.well-known/openid-configuration")
            #expect(reply.status == .ok)
            #expect(reply.headers[.cacheControl] == "public, max-age=300")
            #expect(reply.headers[.contentType]?.hasPrefix("application/json") == true)
            let document = try reply.json
            #expect(document["issuer"] as? String == issuer)
            #expect(document["jwks_uri"] as? String == issuer + "/.well-known/jwks.json")
            #expect(document["token_endpoint"] as? String == issuer + "/v1/auth/token")
            #expect(document["id_token_signing_alg_values_supported"] as? [String] == ["RS256"])
            #expect(document["response_types_supported"] as? [String] == ["id_token"])
            #expect(document["subject_types_supported"] as? [String] == ["public"])
            let claims = Set(document["claims_supported"] as? [String] ?? [])
            #expect(claims.isSuperset(of: ["iss", "sub", "aud", "exp", "iat", "k8s_username", "k8s_groups"]))

            // The cluster and its tokens name the same issuer.
            let id = try await client.createCluster(world.admin.basic, name: "prod")
            let cluster = try await client.send(.get, "/v1/clusters/\(id)", auth: world.admin.basic)
            #expect(try cluster.string("issuer") == issuer)
            #expect(try cluster.string("token_review_url") == issuer + "/v1/clusters/\(id)/tokenreview")
            let token = try DecodedJWT(try await client.clusterToken(world.admin.basic, cluster: id))
            #expect(token.claims["iss"] as? String == issuer)
        }
    }

    @Test func theWellKnownDocumentsNeedNoCredentials() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            for path in ["/.well-known/openid-configuration", "/.well-known/jwks.json"] {
                #expect(try await client.send(.get, path).status == .ok)
                // Credentials, even wrong ones, are ignored rather than refused.
                #expect(try await client.send(.get, path, auth: Credentials.bearerHeader("nonsense")).status == .ok)
            }
            let discovery = try await client.send(.get, "/.well-known/openid-configuration")
            #expect(try discovery.string("issuer") == world.configuration.issuer)
        }
    }

    @Test func theJWKSVerifiesClusterTokens() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let reply = try await client.send(.get, "/.well-known/jwks.json")
            #expect(reply.status == .ok)
            #expect(reply.headers[.cacheControl] == "public, max-age=60")
            let keys = try #require(try reply.json["keys"] as? [[String: String]])
            #expect(keys.count == 1)
            let key = try #require(keys.first)
            #expect(Set(key.keys) == ["kty", "use", "alg", "kid", "n", "e"])
            #expect(key["kty"] == "RSA")
            #expect(key["use"] == "sig")
            #expect(key["alg"] == "RS256")
            let n = try #require(key["n"])
            let e = try #require(key["e"])
            for value in [n, e] {
                #expect(!value.isEmpty)
                #expect(
                    value.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }, "base64url without padding: \(value)")
            }
            #expect(e == "AQAB")
            // The modulus of a 2048-bit key in the fewest octets (RFC 7518 §6.3.1.1): no leading zero.
            let modulus = try #require(Base64URL.decode(n))
            #expect(modulus.count == 256)
            #expect(modulus.first != 0)

            let id = try await client.createCluster(world.admin.basic, name: "prod")
            let token = try await client.clusterToken(world.user.basic, cluster: id)
            #expect(try DecodedJWT(token).header["kid"] as? String == key["kid"])

            // What a kube-apiserver does with the JWKS: build the key from n and e and check the signature.
            let verifier = JWTKeyCollection()
            await verifier.add(
                rsa: try Insecure.RSA.PublicKey(modulus: n, exponent: e), digestAlgorithm: .sha256,
                kid: JWKIdentifier(string: try #require(key["kid"])))
            let claims = try await verifier.verify(token, as: ClusterTokenClaims.self)
            #expect(claims.sub.value == world.user.id)
            #expect(claims.aud.value == ["cloudfleet:cluster:\(id)"])
            #expect(claims.kubernetesUsername == "service-account-\(world.user.id.lowercased())")
            #expect(claims.kubernetesGroups == [Kube.users])

            // The same key refuses a token whose claims were changed after signing.
            let parts = token.split(separator: ".").map(String.init)
            var promoted = try DecodedJWT(token).claims
            promoted["k8s_groups"] = [Kube.administrators]
            let payload = Base64URL.encode(try JSONSerialization.data(withJSONObject: promoted))
            await #expect(throws: (any Error).self) {
                _ = try await verifier.verify(parts[0] + "." + payload + "." + parts[2], as: ClusterTokenClaims.self)
            }
            // JWTKit can also read the published set as it is.
            let fromJWKS = JWTKeyCollection()
            try await fromJWKS.add(jwksJSON: reply.text)
            #expect(try await fromJWKS.verify(token, as: ClusterTokenClaims.self).sub.value == world.user.id)
        }
    }

    /// Before a rotation: the first key's ID, a cluster and its webhook credential, and a cluster token and an access
    /// token signed with the first key.
    private static func beforeRotation(_ world: TestWorld) async throws
        -> (kid: String, clusterID: String, credential: String, clusterToken: String, accessToken: String)
    {
        try await world.run { client in
            let keys = try #require(try await client.send(.get, "/.well-known/jwks.json").json["keys"] as? [[String: String]])
            let id = try await client.createCluster(world.admin.basic, name: "prod")
            let credential = try await client.issueWebhookCredential(world.admin.basic, cluster: id)
            return (
                try #require(keys.first?["kid"]), id, credential, try await client.clusterToken(world.admin.basic, cluster: id),
                try await client.accessToken(world.admin)
            )
        }
    }

    @Test func afterARotationTheJWKSHoldsTheOldAndTheNewKey() async throws {
        let clock = TestClock()
        let world = try await TestWorld.make(now: clock.function)
        let (oldKID, clusterID, credential, oldToken, _) = try await Self.beforeRotation(world)
        #expect(try DecodedJWT(oldToken).header["kid"] as? String == oldKID)

        let newKID = try await SigningKeyRotation.rotate(store: world.store, serverKey: world.dependencies.serverKey, now: clock.now)
        #expect(newKID != oldKID)

        // A server started after the rotation (single-node SQLite reloads its keys on start).
        try await world.test { client in
            let reply = try await client.send(.get, "/.well-known/jwks.json")
            let keys = try #require(try reply.json["keys"] as? [[String: String]])
            #expect(Set(keys.compactMap { $0["kid"] }) == [oldKID, newKID])

            let newToken = try await client.clusterToken(world.admin.basic, cluster: clusterID)
            #expect(try DecodedJWT(newToken).header["kid"] as? String == newKID, "new tokens are signed with the new key")
            for (token, kid) in [(oldToken, oldKID), (newToken, newKID)] {
                // Each token verifies with its own published key, and only with it. The key is added without a kid, so
                // it is the verifier's default and the signature alone decides.
                for key in keys {
                    let verifier = JWTKeyCollection()
                    await verifier.add(
                        rsa: try Insecure.RSA.PublicKey(modulus: try #require(key["n"]), exponent: try #require(key["e"])),
                        digestAlgorithm: .sha256)
                    let verified = (try? await verifier.verify(token, as: ClusterTokenClaims.self)) != nil
                    #expect(verified == (key["kid"] == kid), "token of \(kid) with key \(key["kid"] ?? "?")")
                }
                // And the webhook accepts both while the old key is in its grace period.
                #expect(try await client.verdict(cluster: clusterID, credential: credential, token: token).authenticated == true)
            }
        }
    }

    @Test func aRotationToES256PublishesAnECKeyAndEveryPathAcceptsBothKeys() async throws {
        let world = try await TestWorld.make()
        let (oldKID, clusterID, credential, oldClusterToken, oldAccessToken) = try await Self.beforeRotation(world)
        #expect(try DecodedJWT(oldClusterToken).header["alg"] as? String == "RS256", "the first key is RS256")
        #expect(try DecodedJWT(oldAccessToken).header["alg"] as? String == "ES256", "signed by its access-token companion")

        let newKID = try await SigningKeyRotation.rotate(store: world.store, serverKey: world.dependencies.serverKey, algorithm: .es256)

        try await world.test { client in
            let discovery = try await client.send(.get, "/.well-known/openid-configuration").json
            #expect(discovery["id_token_signing_alg_values_supported"] as? [String] == ["ES256", "RS256"], "the signing key's first")
            let reply = try await client.send(.get, "/.well-known/jwks.json")
            let keys = try #require(try reply.json["keys"] as? [[String: String]])
            let ec = try #require(keys.first { $0["kid"] == newKID })
            #expect(ec["kty"] == "EC" && ec["crv"] == "P-256" && ec["alg"] == "ES256" && ec["use"] == "sig")
            #expect(ec["n"] == nil && ec["e"] == nil)
            for coordinate in [ec["x"], ec["y"]] {
                // 32 bytes in base64url without padding (RFC 7518 §6.2.1.2).
                let text = try #require(coordinate)
                #expect(text.count == 43 && !text.contains { "=+/".contains($0) }, "\(text)")
            }
            #expect(keys.first { $0["kid"] == oldKID }?["kty"] == "RSA")

            let newClusterToken = try await client.clusterToken(world.admin.basic, cluster: clusterID)
            let newAccessToken = try await client.accessToken(world.admin)
            for token in [newClusterToken, newAccessToken] {
                let header = try DecodedJWT(token).header
                #expect(header["alg"] as? String == "ES256" && header["kid"] as? String == newKID)
            }
            // A verifier that knows only the published set (as a kube-apiserver in OIDC mode) accepts both keys' tokens.
            let verifier = JWTKeyCollection()
            try await verifier.add(jwksJSON: reply.text)
            for token in [oldClusterToken, newClusterToken] {
                #expect((try? await verifier.verify(token, as: ClusterTokenClaims.self)) != nil)
                #expect(try await client.verdict(cluster: clusterID, credential: credential, token: token).authenticated == true)
            }
            for token in [oldAccessToken, newAccessToken] {
                #expect(try await client.send(.get, "/v1/tokens/self", auth: Credentials.bearerHeader(token)).status == .ok)
            }
        }
    }
}
