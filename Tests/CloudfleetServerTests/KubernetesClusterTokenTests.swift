import CloudfleetCore
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import CloudfleetServer

/// `POST /v1/clusters/{id}/token`: exchanging a token for a short-lived cluster token.
@Suite struct KubernetesClusterTokenTests {
    @Test(arguments: [Role.administrator, .user], [false, true])
    func clusterTokensCarryTheDocumentedClaims(_ role: Role, _ viaBearer: Bool) async throws {
        let clock = TestClock()
        let world = try await TestWorld.make(now: clock.function).configured { $0.clusterTokenLifetime = 300 }
        try await world.test { client in
            let caller = role == .administrator ? world.admin : world.user
            let id = try await client.createCluster(world.admin.basic, name: "prod")
            let auth = viaBearer ? Credentials.bearerHeader(try await client.accessToken(caller)) : caller.basic
            let reply = try await client.send(.post, "/v1/clusters/\(id)/token", auth: auth)
            #expect(reply.status == .ok, "\(reply.text)")
            #expect(reply.headers[.cacheControl] == "no-store")
            #expect(reply.headers[.pragma] == "no-cache")
            #expect(Set(try reply.json.keys) == ["token", "token_type", "expires_at", "expires_in", "cluster_id"])
            #expect(try reply.string("token_type") == "Bearer")
            #expect(try reply.string("cluster_id") == id)
            #expect(try reply.json["expires_in"] as? Int == 300)

            let jwt = try DecodedJWT(try reply.string("token"))
            #expect(jwt.header["alg"] as? String == "RS256")
            #expect(jwt.header["kid"] is String)
            let claims = jwt.claims
            #expect(claims["iss"] as? String == world.configuration.issuer)
            #expect(claims["sub"] as? String == caller.id)
            #expect(jwt.audiences == ["cloudfleet:cluster:\(id)"])
            #expect(claims["token_use"] as? String == "kube")
            #expect(claims["org"] as? String == world.home.description)
            #expect(claims["cluster"] as? String == id)
            #expect(claims["role"] as? String == role.rawValue)
            #expect(claims["gen"] as? Int == 1)
            #expect(claims["token_name"] as? String == "\(role)")
            #expect(claims["k8s_username"] as? String == "service-account-\(caller.id.lowercased())")
            #expect(claims["k8s_groups"] as? [String] == [role == .administrator ? Kube.administrators : Kube.users])
            #expect((claims["jti"] as? String)?.isEmpty == false)
            let iat = try jwt.date("iat")
            #expect(iat == clock.now.timeIntervalSince1970, "iat is the injected clock's now")
            #expect(try jwt.date("nbf") == iat)
            #expect(try jwt.date("exp") - iat == 300, "the configured lifetime")
            let expiresAt = ISO8601DateFormatter().date(from: try reply.string("expires_at"))
            #expect(expiresAt?.timeIntervalSince1970 == (try jwt.date("exp")))
            #expect(!(claims["k8s_username"] as? String ?? "").hasPrefix("system:"))
            #expect(!(claims["k8s_groups"] as? [String] ?? []).contains { $0.hasPrefix("system:") })

            // Each exchange mints a distinct token.
            let again = try DecodedJWT(try await client.clusterToken(auth, cluster: id))
            #expect(again.claims["jti"] as? String != claims["jti"] as? String)
        }
    }

    @Test func aClusterTokenNeverOutlivesTheTokenItWasMintedFrom() async throws {
        let clock = TestClock()
        let world = try await TestWorld.make(now: clock.function)
        let expiring = try await world.expiringToken(.user, expiresAt: clock.now.addingTimeInterval(120), now: clock.now)
        try await world.test { client in
            let id = try await client.createCluster(world.admin.basic, name: "prod")
            let credential = try await client.issueWebhookCredential(world.admin.basic, cluster: id)
            let reply = try await client.send(.post, "/v1/clusters/\(id)/token", auth: expiring.basic)
            #expect(reply.status == .ok, "\(reply.text)")
            #expect(try reply.json["expires_in"] as? Int == 120)
            let token = try reply.string("token")
            let jwt = try DecodedJWT(token)
            #expect(try jwt.date("exp") - jwt.date("iat") == 120)
            #expect(try await client.verdict(cluster: id, credential: credential, token: token).authenticated == true)

            clock.advance(by: 121)
            #expect(try await client.send(.post, "/v1/clusters/\(id)/token", auth: expiring.basic).status == .unauthorized)
            let verdict = try await client.verdict(cluster: id, credential: credential, token: token)
            #expect(verdict.isPlainRefusal)
        }
    }

    @Test func aClusterTokenIsNotAnAccessToken() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let id = try await client.createCluster(world.admin.basic, name: "prod")
            let bearer = Credentials.bearerHeader(try await client.clusterToken(world.admin.basic, cluster: id))
            for (method, path) in [
                (HTTPRequest.Method.get, "/v1/tokens"), (.get, "/v1/organization"), (.get, "/v1/clusters"),
                (.post, "/v1/clusters/\(id)/token"), (.delete, "/v1/clusters/\(id)"),
            ] {
                let reply = try await client.send(method, path, auth: bearer)
                #expect(reply.status == .unauthorized, "\(method) \(path) accepted a cluster token: \(reply.text)")
                #expect(reply.headers[.wwwAuthenticate] != nil)
            }
            #expect(try await client.send(.get, "/v1/clusters/\(id)", auth: world.admin.basic).status == .ok)
        }
    }

    @Test func anAccessTokenIsNotAClusterToken() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let id = try await client.createCluster(world.admin.basic, name: "prod")
            let credential = try await client.issueWebhookCredential(world.admin.basic, cluster: id)
            let accessToken = try await client.accessToken(world.admin)
            let verdict = try await client.verdict(cluster: id, credential: credential, token: accessToken)
            #expect(verdict.isPlainRefusal)
            // Nor is the token's own secret, or its Basic form.
            for token in [world.admin.secret, "\(world.admin.id):\(world.admin.secret)"] {
                #expect(try await client.verdict(cluster: id, credential: credential, token: token).isPlainRefusal)
            }
        }
    }
}
