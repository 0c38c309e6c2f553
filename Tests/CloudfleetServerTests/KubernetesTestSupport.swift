import CloudfleetCore
import CloudfleetStore
import CloudfleetStoreSQLite
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Synchronization

@testable import CloudfleetServer

/// A clock the test moves by hand. It starts at the current whole second, so that libraries which still read
/// the wall clock (JWTKit's `exp` check) agree with the server until the test moves it forward.
final class TestClock: Sendable {
    private let current: Mutex<Date>

    init() {
        current = Mutex(Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down)))
    }

    var now: Date { current.withLock { $0 } }

    func advance(by seconds: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }

    /// The clock as `AppDependencies` takes it.
    var function: @Sendable () -> Date { { self.now } }
}

/// Fixed values of the Kubernetes tests.
enum Kube {
    static let v1 = "authentication.k8s.io/v1"
    static let v1beta1 = "authentication.k8s.io/v1beta1"
    static let endpoint = "https://203.0.113.10:6443"
    static let administrators = "cloudfleet:administrators"
    static let users = "cloudfleet:users"

    /// A self-signed test CA (P-256, no private key kept anywhere).
    static let caBundle = """
        -----BEGIN CERTIFICATE-----
        MIIBoTCCAUegAwIBAgIUaTaS8C5WLiTMEVdNpF3wv9j7zDkwCgYIKoZIzj0EAwIw
        JTEjMCEGA1UEAwwaQ2xvdWRmbGVldCB0ZXN0IGNsdXN0ZXIgQ0EwIBcNMjYxMTI5
        MDQxNTI1WhgPMjEyNjExMDUwNDE1MjVaMCUxIzAhBgNVBAMMGkNsb3VkZmxlZXQg
        dGVzdCBjbHVzdGVyIENBMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAETTyzK+dV
        UE+Os9vnpqsrIEyA9Tz6IM+ka1DVr5qDPx/U2D734TCnO73p2pN4qUkfKwi9QLFt
        aPtTNAJg+2R+7qNTMFEwHQYDVR0OBBYEFHdV78Z3eWrDoisI7xy6ReBYqcYpMB8G
        A1UdIwQYMBaAFHdV78Z3eWrDoisI7xy6ReBYqcYpMA8GA1UdEwEB/wQFMAMBAf8w
        CgYIKoZIzj0EAwIDSAAwRQIhAMaSS4xLKN2Pywnl+mwBrySaD39ZKg2x3V9HF+AY
        QoQFAiBENgRyW/vXgWA6b4is91OuVEPyLO0fGJDhpJr8ErkvAw==
        -----END CERTIFICATE-----

        """

    /// The fields of a cluster as the API shows it, exactly.
    static let clusterFields: Set<String> = [
        "id", "name", "organization_id", "api_endpoint", "ca_bundle", "issuer", "audience", "token_review_url", "issuer_ca_bundle",
        "webhook_configured", "created_at", "updated_at", "created_by",
    ]

    /// A JSON body from a dictionary, so that arbitrary strings are escaped properly.
    static func json(_ object: [String: Any]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    /// A TokenReview request body.
    static func tokenReview(_ token: String, apiVersion: String = v1) throws -> String {
        try json(["apiVersion": apiVersion, "kind": "TokenReview", "metadata": ["creationTimestamp": NSNull()], "spec": ["token": token]])
    }
}

/// The header and claims of a JWT, decoded without verifying anything.
struct DecodedJWT {
    let header: [String: Any]
    let claims: [String: Any]

    init(_ token: String) throws {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw TestFailure("not a JWT: \(token)") }
        func object(_ part: Substring) throws -> [String: Any] {
            guard let bytes = Base64URL.decode(String(part)),
                let object = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
            else { throw TestFailure("not a base64url JSON object: \(part)") }
            return object
        }
        header = try object(parts[0])
        claims = try object(parts[1])
    }

    /// A NumericDate claim.
    func date(_ claim: String) throws -> Double {
        guard let value = claims[claim] as? Double else { throw TestFailure("no numeric \(claim) in \(claims)") }
        return value
    }

    /// `aud`, a string or an array of strings.
    var audiences: [String] {
        (claims["aud"] as? [String]) ?? [claims["aud"] as? String].compactMap { $0 }
    }
}

/// A TokenReview answer, with the shape checks every answer must pass.
struct Verdict {
    let apiVersion: String?
    let kind: String?
    let topLevelKeys: Set<String>
    let statusKeys: Set<String>
    let authenticated: Bool?
    let userKeys: Set<String>
    let username: String?
    let uid: String?
    let groups: [String]?
    let extra: [String: [String]]?

    init(_ reply: Reply) throws {
        guard reply.status == .ok else { throw TestFailure("TokenReview answered \(reply.status): \(reply.text)") }
        let json = try reply.json
        apiVersion = json["apiVersion"] as? String
        kind = json["kind"] as? String
        topLevelKeys = Set(json.keys)
        let status = (json["status"] as? [String: Any]) ?? [:]
        statusKeys = Set(status.keys)
        authenticated = status["authenticated"] as? Bool
        let user = status["user"] as? [String: Any]
        userKeys = Set(user?.keys ?? [:].keys)
        username = user?["username"] as? String
        uid = user?["uid"] as? String
        groups = user?["groups"] as? [String]
        extra = user?["extra"] as? [String: [String]]
    }

    /// A plain refusal: `authenticated: false` and nothing else, no `user`, `error` or `audiences`.
    var isPlainRefusal: Bool {
        authenticated == false && statusKeys == ["authenticated"] && topLevelKeys == ["apiVersion", "kind", "status"]
    }

    /// Whether any name Kubernetes would see is in its reserved `system:` namespace.
    var claimsASystemIdentity: Bool {
        (username?.hasPrefix("system:") ?? false) || (groups ?? []).contains { $0.hasPrefix("system:") }
    }
}

extension TestClientProtocol {
    /// Registers a cluster and returns its ID.
    func createCluster(_ auth: HTTPFields, name: String, endpoint: String = Kube.endpoint) async throws -> String {
        let reply = try await send(.post, "/v1/clusters", auth: auth, json: try Kube.json(["name": name, "api_endpoint": endpoint]))
        guard reply.status == .created else { throw TestFailure("cluster create failed: \(reply.status) \(reply.text)") }
        return try reply.string("id")
    }

    /// Issues a cluster's webhook credential and returns it.
    func issueWebhookCredential(_ auth: HTTPFields, cluster: String) async throws -> String {
        let reply = try await send(.post, "/v1/clusters/\(cluster)/webhook-credential", auth: auth)
        guard reply.status == .ok else { throw TestFailure("webhook credential failed: \(reply.status) \(reply.text)") }
        return try reply.string("credential")
    }

    /// Exchanges the calling token for a cluster token.
    func clusterToken(_ auth: HTTPFields, cluster: String) async throws -> String {
        let reply = try await send(.post, "/v1/clusters/\(cluster)/token", auth: auth)
        guard reply.status == .ok else { throw TestFailure("cluster token failed: \(reply.status) \(reply.text)") }
        return try reply.string("token")
    }

    /// Posts a TokenReview for `token` to `cluster`'s webhook with `credential` (none if `nil`).
    ///
    /// Served on a socket, the review goes over a connection of its own, as a kube-apiserver's do: the webhook's
    /// fast path (`TokenReviewFastPath`) stays only on connections that open with a review.
    func review(cluster: String, credential: String?, token: String, apiVersion: String = Kube.v1) async throws -> Reply {
        var headers: HTTPFields = credential.map { Credentials.bearerHeader($0) } ?? [:]
        let path = "/v1/clusters/\(cluster)/tokenreview"
        let body = try Kube.tokenReview(token, apiVersion: apiVersion)
        guard let port else { return try await send(.post, path, auth: headers, json: body) }
        headers[.contentType] = "application/json"
        let request = TestClient.Request(path, method: .post, authority: "localhost", headers: headers, body: ByteBuffer(string: body))
        return try await TestClient.withClient(host: "localhost", port: port) { client in
            let response = try await client.execute(request)
            return Reply(status: response.head.status, headers: response.head.headerFields, body: response.body ?? ByteBuffer())
        }
    }

    /// The verdict of `cluster`'s webhook on `token`.
    func verdict(cluster: String, credential: String, token: String, apiVersion: String = Kube.v1) async throws -> Verdict {
        try Verdict(try await review(cluster: cluster, credential: credential, token: token, apiVersion: apiVersion))
    }

    /// The organization's audit events about `target`, newest first.
    func auditEvents(_ auth: HTTPFields, target: String) async throws -> (events: [[String: Any]], text: String) {
        let reply = try await send(.get, "/v1/audit-events?limit=200", auth: auth)
        guard reply.status == .ok, let items = try reply.json["items"] as? [[String: Any]] else {
            throw TestFailure("audit events failed: \(reply.status) \(reply.text)")
        }
        return (items.filter { $0["target_id"] as? String == target }, reply.text)
    }
}

extension TestWorld {
    /// Writes an Administrator or User token that expires at `expiresAt` directly into the store (expiry has no API).
    func expiringToken(_ role: Role, expiresAt: Date, now: Date) async throws -> Credentials {
        let secret = TokenSecret.generate()
        let id = TokenID.generate()
        try await store.createToken(
            APIToken(
                id: id, organizationID: home, name: try TokenName("expiring"), role: role,
                secretDigest: SecretHasher(serverKey: dependencies.serverKey).digest(secret), createdAt: now, expiresAt: expiresAt,
                createdBy: "test"),
            audit: AuditEvent(
                organizationID: home, occurredAt: now, actor: "test", action: .tokenCreate, targetType: "token", targetID: id.rawValue))
        return Credentials(id: id.rawValue, secret: secret.reveal)
    }
}
