import CloudfleetCore
import CloudfleetStore
import CloudfleetStoreSQLite
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
import Yams

@testable import CloudfleetAPI
@testable import CloudfleetServer

/// Every authenticated endpoint × every kind of caller → the expected status (house style, "Tests").
/// The endpoint list is checked against the OpenAPI document, so a new endpoint without a row fails.
@Suite struct AccessControlMatrixTests {
    enum Endpoint: String, CaseIterable, Sendable {
        case listTokens = "GET /v1/tokens"
        case createToken = "POST /v1/tokens"
        case getCurrentToken = "GET /v1/tokens/self"
        case getToken = "GET /v1/tokens/{id}"
        case updateToken = "PATCH /v1/tokens/{id}"
        case regenerateSecret = "POST /v1/tokens/{id}/secret"
        case deleteToken = "DELETE /v1/tokens/{id}"
        case getOrganization = "GET /v1/organization"
        case updateOrganizationPolicy = "PATCH /v1/organization"
        case listAuditEvents = "GET /v1/audit-events"
        case listClusters = "GET /v1/clusters"
        case createCluster = "POST /v1/clusters"
        case getCluster = "GET /v1/clusters/{id}"
        case deleteCluster = "DELETE /v1/clusters/{id}"
        case issueWebhookCredential = "POST /v1/clusters/{id}/webhook-credential"
        case issueClusterToken = "POST /v1/clusters/{id}/token"

        var method: HTTPRequest.Method {
            switch rawValue.split(separator: " ")[0] {
            case "POST": .post
            case "PATCH": .patch
            case "DELETE": .delete
            default: .get
            }
        }

        /// The path with `{id}` replaced by the victim token or cluster, whichever the endpoint targets.
        func path(token: String, cluster: String) -> String {
            String(rawValue.split(separator: " ")[1]).replacingOccurrences(of: "{id}", with: targetsCluster ? cluster : token)
        }

        var body: String? {
            switch self {
            case .createToken: #"{"name":"made by matrix","role":"User"}"#
            case .updateToken: #"{"name":"renamed by matrix"}"#
            case .updateOrganizationPolicy: #"{"require_expiry":false}"#
            case .createCluster: #"{"name":"made-by-matrix","api_endpoint":"https://203.0.113.10:6443"}"#
            default: nil
            }
        }

        /// The status an authenticated caller gets: `success` at home, and the given answers otherwise.
        var success: Int {
            switch self {
            case .createToken, .createCluster: 201
            case .deleteToken, .deleteCluster: 204
            default: 200
            }
        }

        var changes: Bool {
            [
                .createToken, .updateToken, .regenerateSecret, .deleteToken, .updateOrganizationPolicy, .createCluster, .deleteCluster,
                .issueWebhookCredential,
            ].contains(self)
        }
        var targetsToken: Bool { [.getToken, .updateToken, .regenerateSecret, .deleteToken].contains(self) }
        var targetsCluster: Bool { [.getCluster, .deleteCluster, .issueWebhookCredential, .issueClusterToken].contains(self) }
    }

    enum Caller: String, CaseIterable, Sendable {
        case anonymous, wrongSecret, user, administrator, otherOrganization, regenerated, deleted, expired
        /// An Administrator token fenced to 10.0.0.0/8; router tests have no peer address, which no fence admits.
        case fenced
        /// A wrong secret for a token ID that has spent its burst of failures.
        case rateLimited
    }

    enum Scheme: String, CaseIterable, Sendable {
        case basic, bearer
    }

    static func expected(_ endpoint: Endpoint, _ caller: Caller) -> Int {
        switch caller {
        case .anonymous, .wrongSecret, .regenerated, .deleted, .expired:
            return 401
        case .fenced:
            return 403
        case .rateLimited:
            return 429
        case .administrator:
            return endpoint.success
        case .user:
            return endpoint.changes || endpoint == .listAuditEvents ? 403 : endpoint.success
        case .otherOrganization:
            // Another organization's token or cluster is invisible; organization-wide routes answer for the caller's own.
            return endpoint.targetsToken || endpoint.targetsCluster ? 404 : endpoint.success
        }
    }

    // MARK: Tests

    @Test(arguments: Endpoint.allCases, Scheme.allCases)
    func matrix(_ endpoint: Endpoint, _ scheme: Scheme) async throws {
        let world = try await TestWorld.make()
        // An expired Administrator token, written directly (the API only accepts expiries in the future).
        let expiredSecret = TokenSecret.generate()
        let expiredID = TokenID.generate()
        let past = Date().addingTimeInterval(-60)
        try await world.store.createToken(
            APIToken(
                id: expiredID, organizationID: world.home, name: try TokenName("expired"), role: .administrator,
                secretDigest: SecretHasher(serverKey: world.dependencies.serverKey).digest(expiredSecret),
                createdAt: past.addingTimeInterval(-3600), expiresAt: past, createdBy: "test"),
            audit: AuditEvent(
                organizationID: world.home, occurredAt: past, actor: "test", action: .tokenCreate, targetType: "token",
                targetID: expiredID.rawValue))
        let expired = Credentials(id: expiredID.rawValue, secret: expiredSecret.reveal)

        try await world.test { client in
            for caller in Caller.allCases {
                let victim = try await client.createToken(world.admin, name: "victim")
                let cluster = try await client.send(
                    .post, "/v1/clusters", auth: world.admin.basic,
                    json: #"{"name":"victim-\#(caller.rawValue.lowercased())","api_endpoint":"https://203.0.113.10:6443"}"#)
                #expect(cluster.status == .created, "victim cluster: \(cluster.text)")
                let clusterID = try cluster.string("id")
                let auth = try await headers(for: caller, scheme: scheme, world: world, client: client, expired: expired)
                let reply = try await client.send(
                    endpoint.method, endpoint.path(token: victim.id, cluster: clusterID), auth: auth, json: endpoint.body)
                #expect(
                    Int(reply.status.code) == Self.expected(endpoint, caller),
                    "\(endpoint.rawValue) as \(caller) with \(scheme): \(reply.status.code) \(reply.text)")
                if reply.status == .unauthorized {
                    #expect(reply.headers[.wwwAuthenticate] != nil)
                }
                // Only the holder of an expired token's right secret learns that it expired.
                #expect((reply.error.code == "token_expired") == (caller == .expired), "\(caller): \(reply.text)")
                if caller == .fenced { #expect(reply.error.code == "address_not_allowed", "\(reply.text)") }
                if caller == .rateLimited {
                    #expect(reply.error.code == "rate_limited", "\(reply.text)")
                    #expect(reply.headers[.retryAfter].flatMap { Int($0) }.map { (1...6).contains($0) } == true)
                }
                if reply.status.code >= 400 {
                    #expect(reply.error.code != nil, "error body for \(caller): \(reply.text)")
                }
                if reply.status.code >= 400, endpoint.targetsCluster {
                    // A refused call leaves the cluster as it was.
                    let after = try await client.send(.get, "/v1/clusters/\(clusterID)", auth: world.admin.basic)
                    #expect(after.status == .ok, "\(endpoint.rawValue) as \(caller) removed the cluster")
                    #expect(try after.json["webhook_configured"] as? Bool == false, "\(endpoint.rawValue) as \(caller) issued a credential")
                }
            }
        }
    }

    @Test func everyDocumentedAuthenticatedOperationHasARow() throws {
        let document = try #require(try Yams.load(yaml: String(decoding: OpenAPIDocument.yaml, as: UTF8.self)) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: Any])
        let defaultSecurity = try #require(document["security"] as? [[String: Any]])
        var byToken: Set<String> = []
        var byOtherSchemes: Set<String> = []
        for (path, item) in paths {
            for (method, operation) in (item as? [String: Any]) ?? [:] {
                guard ["get", "post", "patch", "put", "delete"].contains(method) else { continue }
                let security = ((operation as? [String: Any])?["security"] as? [[String: Any]]) ?? defaultSecurity
                if security.isEmpty { continue }  // Public operations.
                let schemes = Set(security.flatMap(\.keys))
                let operation = "\(method.uppercased()) \(path)"
                if schemes.isDisjoint(with: ["basicAuth", "bearerAuth"]) {
                    byOtherSchemes.insert(operation)
                } else {
                    #expect(schemes == ["basicAuth", "bearerAuth"], "\(operation) mixes token schemes with others: \(schemes)")
                    byToken.insert(operation)
                }
            }
        }
        #expect(byToken == Set(Endpoint.allCases.map(\.rawValue)))
        // The webhook authenticates its caller with the cluster's credential (KubernetesTests covers who may call
        // it); leak reports and metrics a service credential (LeakReportTests, MetricsTests).
        #expect(byOtherSchemes == ["POST /v1/clusters/{id}/tokenreview", "POST /v1/secrets/report", "GET /metrics"])
    }

    /// Every operation a token calls documents the refusals every such call can meet: 401, 403 (a fence), 429
    /// with `Retry-After`, and the expiry header on its success.
    @Test func everyAuthenticatedOperationDocumentsTheRefusals() throws {
        let document = try #require(try Yams.load(yaml: String(decoding: OpenAPIDocument.yaml, as: UTF8.self)) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: Any])
        let components = try #require(document["components"] as? [String: Any])
        let responses = try #require(components["responses"] as? [String: Any])
        let tooMany = try #require(responses["TooManyRequests"] as? [String: Any])
        #expect((tooMany["headers"] as? [String: Any])?["Retry-After"] != nil)
        for endpoint in Endpoint.allCases {
            let parts = endpoint.rawValue.split(separator: " ")
            let item = try #require(paths[String(parts[1])] as? [String: Any])
            let operation = try #require(item[parts[0].lowercased()] as? [String: Any])
            let answers = try #require(operation["responses"] as? [String: Any])
            for status in ["401", "403", "429"] {
                #expect(answers[status] != nil, "\(endpoint.rawValue) does not document \(status)")
            }
            #expect(
                ((answers["429"] as? [String: Any])?["$ref"] as? String) == "#/components/responses/TooManyRequests", "\(endpoint.rawValue)")
            for (status, answer) in answers where status.hasPrefix("2") {
                let headers = (answer as? [String: Any])?["headers"] as? [String: Any]
                #expect(headers?["Cloudfleet-Token-Expires-At"] != nil, "\(endpoint.rawValue) \(status) lacks the expiry header")
            }
        }
        let tokenEndpoint = try #require((paths["/v1/auth/token"] as? [String: Any])?["post"] as? [String: Any])
        let answers = try #require(tokenEndpoint["responses"] as? [String: Any])
        #expect(((answers["429"] as? [String: Any])?["headers"] as? [String: Any])?["Retry-After"] != nil)
        #expect(answers["403"] != nil)
    }

    // MARK: Helpers

    private func headers(for caller: Caller, scheme: Scheme, world: TestWorld, client: any TestClientProtocol, expired: Credentials)
        async throws -> HTTPFields
    {
        func auth(_ credentials: Credentials) async throws -> HTTPFields {
            scheme == .basic ? credentials.basic : Credentials.bearerHeader(try await client.accessToken(credentials))
        }
        switch caller {
        case .anonymous:
            return [:]
        case .wrongSecret:
            let wrong = Credentials(id: world.admin.id, secret: TokenSecret.generate().reveal)
            return scheme == .basic ? wrong.basic : Credentials.bearerHeader("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl")
        case .user:
            return try await auth(world.user)
        case .administrator:
            return try await auth(world.admin)
        case .otherOrganization:
            return try await auth(world.otherAdmin)
        case .regenerated:
            let doomed = try await client.createToken(world.admin, name: "regenerated", role: "Administrator")
            let headers = try await auth(doomed)
            let reply = try await client.send(.post, "/v1/tokens/\(doomed.id)/secret", auth: world.admin.basic)
            #expect(reply.status == .ok)
            return headers
        case .deleted:
            let doomed = try await client.createToken(world.admin, name: "deleted", role: "Administrator")
            let headers = try await auth(doomed)
            let reply = try await client.send(.delete, "/v1/tokens/\(doomed.id)", auth: world.admin.basic)
            #expect(reply.status == .noContent)
            return headers
        case .expired:
            // An expired token cannot even exchange its secret, so the bearer case uses Basic's refusal too.
            return expired.basic
        case .fenced:
            // Credentials obtained while the token could be used anywhere, then the fence goes up.
            let fenced = try await client.createToken(world.admin, name: "fenced", role: "Administrator")
            let headers = try await auth(fenced)
            let reply = try await client.send(
                .patch, "/v1/tokens/\(fenced.id)", auth: world.admin.basic, json: #"{"allowed_cidrs":["10.0.0.0/8"]}"#)
            #expect(reply.status == .ok)
            return headers
        case .rateLimited:
            // Only Basic credentials name a token ID to limit; router tests have no address to limit bearer tokens by.
            let target = try await client.createToken(world.admin, name: "limited", role: "Administrator")
            let wrong = Credentials(id: target.id, secret: TokenSecret.generate().reveal)
            for _ in 0..<10 {
                #expect(try await client.send(.get, "/v1/organization", auth: wrong.basic).status == .unauthorized)
            }
            return wrong.basic
        }
    }
}
