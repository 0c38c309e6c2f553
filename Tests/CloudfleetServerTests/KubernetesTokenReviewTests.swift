import CloudfleetCore
import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import JWTKit
import Testing
import _CryptoExtras

@testable import CloudfleetServer

/// `POST /v1/clusters/{id}/tokenreview`: the Kubernetes webhook token authenticator.
@Suite struct KubernetesTokenReviewTests {
    /// A cluster with its webhook credential.
    struct Cluster {
        let id: String
        let credential: String
    }

    private static func cluster(_ client: any TestClientProtocol, _ world: TestWorld, name: String = "prod") async throws -> Cluster {
        let id = try await client.createCluster(world.admin.basic, name: name)
        return Cluster(id: id, credential: try await client.issueWebhookCredential(world.admin.basic, cluster: id))
    }

    /// A world whose tests go through the router (`served` false) or a real socket, where a review whose facts are
    /// all cached is answered by `TokenReviewFastPath` instead: every verdict below must come out the same both ways.
    private static func world(served: Bool, now: @escaping @Sendable () -> Date = { Date() }) async throws -> TestWorld {
        let world = try await TestWorld.make(now: now)
        return served ? world.served() : world
    }

    // MARK: Verdicts

    @Test(arguments: [Kube.v1, Kube.v1beta1], [false, true])
    func aValidClusterTokenIsTheTokensKubernetesUser(_ apiVersion: String, served: Bool) async throws {
        let world = try await Self.world(served: served)
        try await world.test { client in
            let cluster = try await Self.cluster(client, world)
            for (caller, group, name) in [(world.admin, Kube.administrators, "Administrator"), (world.user, Kube.users, "User")] {
                let token = try await client.clusterToken(caller.basic, cluster: cluster.id)
                let reply = try await client.review(cluster: cluster.id, credential: cluster.credential, token: token, apiVersion: apiVersion)
                #expect(reply.status == .ok)
                let verdict = try Verdict(reply)
                #expect(verdict.apiVersion == apiVersion, "the request's version is echoed")
                #expect(verdict.kind == "TokenReview")
                #expect(verdict.topLevelKeys == ["apiVersion", "kind", "status"])
                #expect(verdict.statusKeys == ["authenticated", "user"], "never audiences or error: \(reply.text)")
                #expect(verdict.authenticated == true)
                #expect(verdict.userKeys == ["username", "uid", "groups", "extra"])
                #expect(verdict.username == "service-account-\(caller.id.lowercased())")
                #expect(verdict.uid == caller.id)
                #expect(verdict.groups == [group])
                #expect(verdict.extra == ["cloudfleet.io/organization": [world.home.description], "cloudfleet.io/token-name": [name]])
                #expect(!verdict.claimsASystemIdentity)
            }
            // A refusal echoes the version too.
            let refused = try await client.verdict(cluster: cluster.id, credential: cluster.credential, token: "garbage", apiVersion: apiVersion)
            #expect(refused.apiVersion == apiVersion)
            #expect(refused.kind == "TokenReview")
            #expect(refused.isPlainRefusal)
        }
    }

    @Test(arguments: [false, true]) func theCurrentRoleDecidesTheGroup(served: Bool) async throws {
        let world = try await Self.world(served: served)
        try await world.test { client in
            let cluster = try await Self.cluster(client, world)
            let ci = try await client.createToken(world.admin, name: "ci", role: "User")
            let token = try await client.clusterToken(ci.basic, cluster: cluster.id)
            #expect(try await client.verdict(cluster: cluster.id, credential: cluster.credential, token: token).groups == [Kube.users])
            let promoted = try await client.send(.patch, "/v1/tokens/\(ci.id)", auth: world.admin.basic, json: #"{"role":"Administrator"}"#)
            #expect(promoted.status == .ok)
            // The same cluster token, minted as a User: the next review answers with the role in force.
            #expect(try await client.verdict(cluster: cluster.id, credential: cluster.credential, token: token).groups == [Kube.administrators])
            _ = try await client.send(.patch, "/v1/tokens/\(ci.id)", auth: world.admin.basic, json: #"{"role":"User"}"#)
            #expect(try await client.verdict(cluster: cluster.id, credential: cluster.credential, token: token).groups == [Kube.users])
            // A rename shows in `extra` as well.
            _ = try await client.send(.patch, "/v1/tokens/\(ci.id)", auth: world.admin.basic, json: #"{"name":"ci renamed"}"#)
            let renamed = try await client.verdict(cluster: cluster.id, credential: cluster.credential, token: token)
            #expect(renamed.extra?["cloudfleet.io/token-name"] == ["ci renamed"])
        }
    }

    @Test func noNameEverClaimsASystemIdentity() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let cluster = try await Self.cluster(client, world)
            for name in ["system:masters", "system:serviceaccount:kube-system:default"] {
                let sneaky = try await client.createToken(world.admin, name: name, role: "Administrator")
                let token = try await client.clusterToken(sneaky.basic, cluster: cluster.id)
                let verdict = try await client.verdict(cluster: cluster.id, credential: cluster.credential, token: token)
                #expect(verdict.authenticated == true)
                #expect(verdict.username == "service-account-\(sneaky.id.lowercased())")
                #expect(verdict.groups == [Kube.administrators])
                #expect(!verdict.claimsASystemIdentity)
                let claims = try DecodedJWT(token).claims
                #expect(claims["k8s_groups"] as? [String] == [Kube.administrators])
                #expect(!(claims["k8s_username"] as? String ?? "system:").hasPrefix("system:"))
            }
        }
    }

    // MARK: Refusals

    @Test(arguments: [false, true]) func revocationAppliesAtTheNextReview(served: Bool) async throws {
        let clock = TestClock()
        let world = try await Self.world(served: served, now: clock.function)
        try await world.test { client in
            let cluster = try await Self.cluster(client, world)
            func verdict(_ token: String) async throws -> Verdict {
                try await client.verdict(cluster: cluster.id, credential: cluster.credential, token: token)
            }

            let regenerated = try await client.createToken(world.admin, name: "regenerated", role: "Administrator")
            let regeneratedToken = try await client.clusterToken(regenerated.basic, cluster: cluster.id)
            #expect(try await verdict(regeneratedToken).authenticated == true)
            #expect(try await client.send(.post, "/v1/tokens/\(regenerated.id)/secret", auth: world.admin.basic).status == .ok)
            #expect(try await verdict(regeneratedToken).isPlainRefusal, "a regenerated token's cluster token")

            let deleted = try await client.createToken(world.admin, name: "deleted", role: "Administrator")
            let deletedToken = try await client.clusterToken(deleted.basic, cluster: cluster.id)
            #expect(try await verdict(deletedToken).authenticated == true)
            #expect(try await client.send(.delete, "/v1/tokens/\(deleted.id)", auth: world.admin.basic).status == .noContent)
            #expect(try await verdict(deletedToken).isPlainRefusal, "a deleted token's cluster token")

            // Expiry by the injected clock: valid up to the last second, refused after.
            let expiring = try await client.clusterToken(world.admin.basic, cluster: cluster.id)
            clock.advance(by: world.configuration.clusterTokenLifetime - 1)
            #expect(try await verdict(expiring).authenticated == true)
            clock.advance(by: 2)
            #expect(try await verdict(expiring).isPlainRefusal, "an expired cluster token")
            // The token itself still works and can mint a fresh one.
            #expect(try await verdict(try await client.clusterToken(world.admin.basic, cluster: cluster.id)).authenticated == true)
        }
    }

    @Test(arguments: [false, true]) func aTokenForOneClusterIsRefusedByAnother(served: Bool) async throws {
        let world = try await Self.world(served: served)
        try await world.test { client in
            let first = try await Self.cluster(client, world, name: "first")
            let second = try await Self.cluster(client, world, name: "second")
            let forFirst = try await client.clusterToken(world.admin.basic, cluster: first.id)
            #expect(try await client.verdict(cluster: first.id, credential: first.credential, token: forFirst).authenticated == true)
            #expect(try await client.verdict(cluster: second.id, credential: second.credential, token: forFirst).isPlainRefusal)

            // Another organization's cluster, with its own credential, refuses it too.
            let theirsID = try await client.createCluster(world.otherAdmin.basic, name: "first")
            let theirs = try await client.issueWebhookCredential(world.otherAdmin.basic, cluster: theirsID)
            #expect(try await client.verdict(cluster: theirsID, credential: theirs, token: forFirst).isPlainRefusal)
            let theirToken = try await client.clusterToken(world.otherAdmin.basic, cluster: theirsID)
            #expect(try await client.verdict(cluster: theirsID, credential: theirs, token: theirToken).authenticated == true)
            #expect(try await client.verdict(cluster: first.id, credential: first.credential, token: theirToken).isPlainRefusal)
        }
    }

    static let garbage: [String] = [
        "", "garbage", "a.b.c", "eyJ.eyJ.", "eyJhbGciOiJub25lIn0.e30.", "eyJ" + String(repeating: "A", count: 5000) + ".eyJ.sig",
        "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
    ]

    @Test(arguments: [false, true]) func garbageAndForgeriesArePlainRefusals(served: Bool) async throws {
        let world = try await Self.world(served: served)
        try await world.test { client in
            let cluster = try await Self.cluster(client, world)
            let clusterID = try #require(ClusterID(cluster.id))
            let keyring = try await SigningKeyring.load(store: world.store, serverKey: world.dependencies.serverKey)
            let kid = JWKIdentifier(string: keyring.currentKID)
            let genuine = Self.claims(world, cluster: clusterID, subject: world.user.id, role: .user)

            // The control: hand-made claims signed with the server's own key are accepted, so every refusal below is
            // about the one thing that differs.
            let control = try await keyring.keys.sign(genuine, kid: kid)
            let accepted = try await client.verdict(cluster: cluster.id, credential: cluster.credential, token: control)
            #expect(accepted.authenticated == true)
            #expect(accepted.groups == [Kube.users])

            var forgeries: [String: String] = [:]
            // Signed with keys the server does not have.
            let hmac = JWTKeyCollection()
            await hmac.add(hmac: HMACKey(from: "not the server's key, but long enough for HS256"), digestAlgorithm: .sha256, kid: kid)
            forgeries["HS256 with the server's kid"] = try await hmac.sign(genuine, kid: kid)
            let hmacNoKID = JWTKeyCollection()
            await hmacNoKID.add(hmac: HMACKey(from: "not the server's key, but long enough for HS256"), digestAlgorithm: .sha256)
            forgeries["HS256 without kid"] = try await hmacNoKID.sign(genuine)
            let stranger = try Insecure.RSA.PrivateKey(backing: try _RSA.Signing.PrivateKey(keySize: .bits2048))
            let strangerKeys = JWTKeyCollection()
            await strangerKeys.add(rsa: stranger, digestAlgorithm: .sha256, kid: kid)
            forgeries["RS256 by another key with the server's kid"] = try await strangerKeys.sign(genuine, kid: kid)
            let strangerNoKID = JWTKeyCollection()
            await strangerNoKID.add(rsa: stranger, digestAlgorithm: .sha256)
            forgeries["RS256 by another key without kid"] = try await strangerNoKID.sign(genuine)
            forgeries["a service-account JWT"] = try await strangerNoKID.sign(ServiceAccountClaims())
            // Signed by the server's access-token key, which signs access tokens only (`SigningKeyring`).
            forgeries["signed by the access-token companion"] = try await keyring.accessKeys.sign(
                genuine, kid: JWKIdentifier(string: keyring.accessKID))
            // Unsigned, and re-signed claims.
            let parts = control.split(separator: ".").map(String.init)
            forgeries["alg none"] = Base64URL.encode(Array(#"{"alg":"none","typ":"JWT"}"#.utf8)) + "." + parts[1] + "."
            var promoted = genuine
            promoted.role = "Administrator"
            promoted.kubernetesGroups = [Kube.administrators, "system:masters"]
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .secondsSince1970
            let promotedPayload = Base64URL.encode(try encoder.encode(promoted))
            forgeries["the genuine signature over changed claims"] = parts[0] + "." + promotedPayload + "." + parts[2]
            // Signed by the server's key, but not a token for this cluster and this token.
            func signed(_ change: (inout ClusterTokenClaims) -> Void) async throws -> String {
                var claims = genuine
                change(&claims)
                return try await keyring.keys.sign(claims, kid: kid)
            }
            forgeries["another issuer"] = try await signed { $0.iss = IssuerClaim(value: "https://evil.example") }
            forgeries["another audience"] = try await signed { $0.aud = AudienceClaim(value: ["cloudfleet:cluster:\(ClusterID.generate())"]) }
            forgeries["the API audience"] = try await signed { $0.aud = AudienceClaim(value: ["cloudfleet-api"]) }
            forgeries["another cluster claim"] = try await signed { $0.clusterID = ClusterID.generate().description }
            forgeries["another use"] = try await signed { $0.tokenUse = "access" }
            forgeries["a stale generation"] = try await signed { $0.secretGeneration = 0 }
            forgeries["a future generation"] = try await signed { $0.secretGeneration = 2 }
            forgeries["an unknown token"] = try await signed { $0.sub = SubjectClaim(value: TokenID.generate().rawValue) }
            forgeries["a malformed subject"] = try await signed { $0.sub = SubjectClaim(value: "system:masters") }
            forgeries["another organization's token"] = try await signed {
                $0.sub = SubjectClaim(value: world.otherAdmin.id)
                $0.organizationID = world.other.description
            }
            forgeries["another organization's token claiming this one"] = try await signed { $0.sub = SubjectClaim(value: world.otherAdmin.id) }
            forgeries["another organization claimed"] = try await signed { $0.organizationID = world.other.description }
            forgeries["expired"] = try await signed {
                $0.iat = IssuedAtClaim(value: Date().addingTimeInterval(-700))
                $0.exp = ExpirationClaim(value: Date().addingTimeInterval(-100))
            }
            for (index, token) in Self.garbage.enumerated() { forgeries["garbage \(index)"] = token }
            forgeries["a token secret"] = world.admin.secret

            for (what, token) in forgeries.sorted(by: { $0.key < $1.key }) {
                let reply = try await client.review(cluster: cluster.id, credential: cluster.credential, token: token)
                #expect(reply.status == .ok, "\(what): \(reply.text)")
                let verdict = try Verdict(reply)
                #expect(verdict.isPlainRefusal, "\(what) was not a plain refusal: \(reply.text)")
                #expect(!reply.text.contains("error"), "\(what): \(reply.text)")
                #expect(!reply.text.contains("audiences"), "\(what): \(reply.text)")
            }
        }
    }

    // MARK: The caller

    @Test(arguments: [false, true]) func onlyThisClustersCurrentCredentialMayCall(served: Bool) async throws {
        let world = try await Self.world(served: served)
        try await world.test { client in
            let cluster = try await Self.cluster(client, world)
            let other = try await Self.cluster(client, world, name: "other")
            let bare = try await client.createCluster(world.admin.basic, name: "bare")
            let token = try await client.clusterToken(world.admin.basic, cluster: cluster.id)
            let body = try Kube.tokenReview(token)
            func call(_ id: String, _ auth: HTTPFields) async throws -> Reply {
                try await client.send(.post, "/v1/clusters/\(id)/tokenreview", auth: auth, json: body)
            }
            var corrupted = Array(cluster.credential)
            corrupted[10] = corrupted[10] == "A" ? "B" : "A"
            let refusals: [(String, String, HTTPFields)] = [
                ("no credential", cluster.id, [:]),
                ("the admin's Basic credentials", cluster.id, world.admin.basic),
                ("an access token", cluster.id, Credentials.bearerHeader(try await client.accessToken(world.admin))),
                ("a cluster token", cluster.id, Credentials.bearerHeader(token)),
                ("a token secret", cluster.id, Credentials.bearerHeader(world.admin.secret)),
                ("a made-up credential", cluster.id, Credentials.bearerHeader(WebhookCredential.generate().reveal)),
                ("a corrupted credential", cluster.id, Credentials.bearerHeader(String(corrupted))),
                ("the credential as Basic", cluster.id, [.authorization: "Basic " + Data("x:\(cluster.credential)".utf8).base64EncodedString()]),
                ("another cluster's credential", cluster.id, Credentials.bearerHeader(other.credential)),
                ("a cluster without credential", bare, Credentials.bearerHeader(cluster.credential)),
                ("an unknown cluster", ClusterID.generate().description, Credentials.bearerHeader(cluster.credential)),
                ("a malformed cluster ID", "not-a-cluster", Credentials.bearerHeader(cluster.credential)),
            ]
            for (what, id, auth) in refusals {
                let reply = try await call(id, auth)
                #expect(reply.status == .unauthorized, "\(what): \(reply.status) \(reply.text)")
                #expect(reply.headers[.wwwAuthenticate] == #"Bearer realm="cloudfleet-webhook""#, "\(what)")
                #expect(reply.error.code == "unauthorized", "\(what): \(reply.text)")
                #expect(!reply.text.contains("authenticated"), "\(what) got a verdict: \(reply.text)")
            }
            // The right credential works, with the cluster ID in any case.
            #expect(try Verdict(try await call(cluster.id.uppercased(), Credentials.bearerHeader(cluster.credential))).authenticated == true)

            // A replaced credential is refused at once, and so is every credential of a deleted cluster.
            let replacement = try await client.issueWebhookCredential(world.admin.basic, cluster: cluster.id)
            #expect(try await call(cluster.id, Credentials.bearerHeader(cluster.credential)).status == .unauthorized)
            #expect(try Verdict(try await call(cluster.id, Credentials.bearerHeader(replacement))).authenticated == true)
            #expect(try await client.send(.delete, "/v1/clusters/\(cluster.id)", auth: world.admin.basic).status == .noContent)
            #expect(try await call(cluster.id, Credentials.bearerHeader(replacement)).status == .unauthorized)
            // The other cluster is unaffected.
            let otherToken = try await client.clusterToken(world.admin.basic, cluster: other.id)
            #expect(try await client.verdict(cluster: other.id, credential: other.credential, token: otherToken).authenticated == true)
        }
    }

    static let badBodies: [String] = [
        "not json",
        "[]",
        "{}",
        #"{"apiVersion":"authentication.k8s.io/v2","kind":"TokenReview","spec":{"token":"x"}}"#,
        #"{"apiVersion":"v1","kind":"TokenReview","spec":{"token":"x"}}"#,
        #"{"kind":"TokenReview","spec":{"token":"x"}}"#,
        #"{"apiVersion":"authentication.k8s.io/v1","kind":"SubjectAccessReview","spec":{"token":"x"}}"#,
        #"{"apiVersion":"authentication.k8s.io/v1","spec":{"token":"x"}}"#,
        #"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview"}"#,
        #"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{}}"#,
        #"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":7}}"#,
        #"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":"token"}"#,
    ]

    @Test(arguments: [false, true]) func malformedReviewsAreBadRequests(served: Bool) async throws {
        let world = try await Self.world(served: served)
        try await world.test { client in
            let cluster = try await Self.cluster(client, world)
            for body in Self.badBodies {
                let reply = try await client.send(
                    .post, "/v1/clusters/\(cluster.id)/tokenreview", auth: Credentials.bearerHeader(cluster.credential), json: body)
                #expect(reply.status == .badRequest, "\(body): \(reply.text)")
                #expect(reply.error.code == "invalid_token_review", "\(body): \(reply.text)")
                // Without the credential, the caller learns nothing, not even that the body is wrong.
                let anonymous = try await client.send(.post, "/v1/clusters/\(cluster.id)/tokenreview", json: body)
                #expect(anonymous.status == .unauthorized, "\(body): \(anonymous.text)")
            }
            let huge = try Kube.tokenReview(String(repeating: "e", count: 70_000))
            let large = try await client.send(
                .post, "/v1/clusters/\(cluster.id)/tokenreview", auth: Credentials.bearerHeader(cluster.credential), json: huge)
            #expect(large.status == .contentTooLarge)
        }
    }

    // MARK: The route

    /// The webhook's route is matched on the path's bytes before the router (`TokenReviewRouteResponder`); only the
    /// exact form is taken there, and every other form is left to the router.
    @Test(
        arguments: [
            ("/v1/clusters/2iKo4Asy51EUx2gpJFW76t/tokenreview", "2iKo4Asy51EUx2gpJFW76t"),
            ("/v1/clusters/x/tokenreview", "x"),
            ("/v1/clusters/%C3%A9/tokenreview", "%C3%A9"),
            ("/v1/clusters/\u{E9}/tokenreview", "\u{E9}"),
            ("/v1/clusters//tokenreview", nil),
            ("/v1/clusters/a/b/tokenreview", nil),
            ("/v1/clusters/a/tokenreview/", nil),
            ("/v1/clusters/tokenreview", nil),
            ("/v1/clusters/a/tokenreviews", nil),
            ("/v1/clusters/a/tokenreview?x=1", nil),
            ("/v2/clusters/a/tokenreview", nil),
            ("//v1/clusters/a/tokenreview", nil),
            ("/v1/clusters/", nil),
            ("", nil),
        ] as [(String, String?)])
    func theRouteIsMatchedOnTheExactPathOnly(_ path: String, _ clusterID: String?) {
        #expect(TokenReviewController.clusterID(inPath: path).map(String.init) == clusterID)
    }

    @Test func theRouterAnswersTheFormsTheRouteResponderLeavesToIt() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let cluster = try await Self.cluster(client, world)
            let token = try await client.clusterToken(world.user.basic, cluster: cluster.id)
            let auth = Credentials.bearerHeader(cluster.credential)
            let body = try Kube.tokenReview(token)
            // Through the route responder, and through the router (a trailing slash, a doubled slash): one verdict.
            var verdicts: [Verdict] = []
            for path in [
                "/v1/clusters/\(cluster.id)/tokenreview", "/v1/clusters/\(cluster.id)/tokenreview/", "/v1//clusters/\(cluster.id)/tokenreview",
            ] {
                let reply = try await client.send(.post, path, auth: auth, json: body)
                #expect(reply.status == .ok, "\(path): \(reply.text)")
                verdicts.append(try Verdict(reply))
            }
            #expect(verdicts.allSatisfy { $0.authenticated == true && $0.username == "service-account-\(world.user.id.lowercased())" })
            // Another method is the router's answer, as before the route responder.
            let viaResponder = try await client.send(.get, "/v1/clusters/\(cluster.id)/tokenreview", auth: auth)
            let viaRouter = try await client.send(.get, "/v1/clusters/\(cluster.id)/tokenreview/", auth: auth)
            #expect(viaResponder.status == .notFound)
            #expect(viaRouter.status == .notFound)
            // Without the credential the route responder refuses as the router did.
            let refused = try await client.send(.post, "/v1/clusters/\(cluster.id)/tokenreview", json: body)
            #expect(refused.status == .unauthorized)
            #expect(refused.headers[.wwwAuthenticate] == "Bearer realm=\"cloudfleet-webhook\"")
        }
    }

    // MARK: Helpers

    /// The claims the server would put into a cluster token of `subject` for `cluster`, valid for ten minutes.
    private static func claims(_ world: TestWorld, cluster: ClusterID, subject: String, role: Role) -> ClusterTokenClaims {
        let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        return ClusterTokenClaims(
            iss: IssuerClaim(value: world.configuration.issuer), sub: SubjectClaim(value: subject), aud: AudienceClaim(value: [cluster.audience]),
            iat: IssuedAtClaim(value: now), nbf: NotBeforeClaim(value: now), exp: ExpirationClaim(value: now.addingTimeInterval(600)),
            jti: IDClaim(value: "forged"), tokenUse: "kube", organizationID: world.home.description, clusterID: cluster.description,
            role: role.rawValue, secretGeneration: 1, tokenName: "\(role)", kubernetesUsername: "service-account-\(subject.lowercased())",
            kubernetesGroups: [role == .administrator ? Kube.administrators : Kube.users])
    }
}

/// The claims of a Kubernetes service-account token, which the webhook must not mistake for its own.
private struct ServiceAccountClaims: JWTPayload {
    var iss = IssuerClaim(value: "https://kubernetes.default.svc.cluster.local")
    var sub = SubjectClaim(value: "system:serviceaccount:kube-system:default")
    var aud = AudienceClaim(value: ["https://kubernetes.default.svc.cluster.local"])
    var exp = ExpirationClaim(value: Date().addingTimeInterval(3600))

    func verify(using algorithm: some JWTAlgorithm) async throws {}
}
