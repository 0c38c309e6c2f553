import CloudfleetAPI
import CloudfleetCore
import CloudfleetStore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdAuth
import Logging
import NIOCore

/// `POST /v1/clusters/{id}/tokenreview`: the Kubernetes webhook token authenticator (architecture §5).
///
/// The kube-apiserver posts a TokenReview (`authentication.k8s.io/v1` or `v1beta1`) holding the bearer token
/// a client presented, and authenticates itself with the cluster's webhook credential, so the endpoint cannot
/// be used to test stolen tokens. The answer is always HTTP 200 with a TokenReview of the request's version:
/// the user `service-account-<token id lower-cased>` and its role's group, or a plain `authenticated: false`
/// (cached by the API server, so floods of bad tokens stay cheap). `status.audiences` is never set.
struct TokenReviewController {
    static let supportedVersions: Set<String> = ["authentication.k8s.io/v1", "authentication.k8s.io/v1beta1"]

    let directory: ClusterDirectory
    let hasher: SecretHasher
    let authenticator: Authenticator
    let usage: UsageRecorder
    let metrics: ServerMetrics

    /// The route, as the router names it in `endpointPath` (the metrics' route label).
    static let path = "/v1/clusters/{id}/tokenreview"

    func addRoutes(to router: AppRouter) {
        router.post(RouterPath(Self.path), use: review)
    }

    /// The `{id}` of the route when `path` is exactly the route, with one non-empty segment for the `{id}`: what
    /// `TokenReviewRouteResponder` takes before the router.
    static func clusterID(inPath path: String) -> Substring? {
        var path = path
        // Over the path's UTF-8 in place: String's UTF-8 view steps through a generic iterator, about 4,000
        // instructions a review.
        let id = path.withUTF8 { bytes -> Range<Int>? in
            guard bytes.count > clusterPathPrefix.count + clusterPathSuffix.count, bytes.starts(with: clusterPathPrefix),
                bytes[(bytes.count - clusterPathSuffix.count)...].elementsEqual(clusterPathSuffix)
            else { return nil }
            let id = clusterPathPrefix.count..<(bytes.count - clusterPathSuffix.count)
            return bytes[id].contains(UInt8(ascii: "/")) ? nil : id
        }
        guard let id else { return nil }
        let utf8 = path.utf8
        return path[utf8.index(utf8.startIndex, offsetBy: id.lowerBound)..<utf8.index(utf8.startIndex, offsetBy: id.upperBound)]
    }

    private static let clusterPathPrefix = Array("/v1/clusters/".utf8)
    private static let clusterPathSuffix = Array("/tokenreview".utf8)

    /// `routes` with this controller's route taken before them, behind `middlewares`: see `TokenReviewRouteResponder`.
    func responder<Routes: HTTPResponder>(over routes: Routes, middlewares: MiddlewareGroup<AppRequestContext>)
        -> TokenReviewRouteResponder<Routes>
    {
        let review = middlewares.constructResponder(
            finalResponder: CallbackResponder { request, context in
                try await self.review(request, context: context).response(from: request, context: context)
            })
        return TokenReviewRouteResponder(review: review, routes: routes)
    }

    /// The fields of a TokenReview that the answer depends on; each is required, and others are ignored.
    struct TokenReviewRequest: Decodable {
        struct Spec: Decodable {
            let token: String
        }

        let apiVersion: String
        let kind: String
        let spec: Spec
    }

    /// One decoder for every review: its options never change, and making one is part of what a review costs.
    private static let decoder = JSONDecoder()

    /// The answer to a caller without the cluster's webhook credential, made once rather than on each review.
    private static let refused = APIError(
        .unauthorized, code: "unauthorized", message: "Unauthorized: present the cluster's webhook credential as a bearer token.",
        headers: [.wwwAuthenticate: "Bearer realm=\"cloudfleet-webhook\""])

    struct TokenReviewResponse: Encodable, JSONWritable, ResponseGenerator {
        struct User: Encodable {
            let username: String
            let uid: String
            let groups: [String]
            let extra: [String: [String]]
        }

        struct Status: Encodable {
            let authenticated: Bool
            let user: User?
        }

        let apiVersion: String
        let kind = "TokenReview"
        let status: Status

        /// The same bytes as `JSONEncoder` writes (a test compares them), at a fraction of the cost: the webhook
        /// answers every kubectl request the API server has not cached.
        func write(to writer: inout JSONWriter) {
            writer.object { writer in
                writer.field("apiVersion", apiVersion)
                writer.field("kind", kind)
                writer.key("status")
                writer.object { writer in
                    writer.field("authenticated", status.authenticated)
                    guard let user = status.user else { return }
                    writer.key("user")
                    writer.object { writer in
                        writer.key("extra")
                        writer.object { writer in
                            // Sorted by UTF-8 bytes, as JSONEncoder's `.sortedKeys` sorts (not by String's `<`).
                            for key in user.extra.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
                                writer.key(escaping: key)
                                writer.array(user.extra[key] ?? []) { $0.string($1) }
                            }
                        }
                        writer.field("groups", user.groups)
                        writer.field("uid", user.uid)
                        writer.field("username", user.username)
                    }
                }
            }
        }

        func response(from request: Request, context: some RequestContext) -> Response { jsonResponse() }
    }

    @Sendable func review(_ request: Request, context: AppRequestContext) async throws -> TokenReviewResponse {
        let cluster = try await authenticateCaller(request, context: context)
        let body = try await request.body.collect(upTo: context.maxUploadSize)
        guard let review = Self.decodeReview(body) else {
            throw APIError.badRequest(
                "Send a TokenReview of apiVersion authentication.k8s.io/v1 or v1beta1 with spec.token.", code: "invalid_token_review")
        }
        let verdict: Result<Authenticator.Verified, Authenticator.ClusterFailure>
        do {
            verdict = .success(try await authenticator.verify(clusterToken: review.spec.token, for: cluster))
        } catch .unavailable {
            // Not a verdict: an error is not cached by the API server, which retries on a later request.
            throw APIError.unavailable
        } catch {
            verdict = .failure(error)
        }
        return answer(
            review, verdict: verdict, cluster: cluster, sourceIP: context.sourceIP, userAgent: request.headers[.userAgent],
            logger: context.logger)
    }

    /// The answer to a review that `TokenReviewFastPath` can give from this node's caches alone, on the event loop:
    /// the caller's cluster and the reviewed token's signature and state are all cached. `nil` for anything else
    /// (a miss, a refused caller, a malformed review), which `review` then answers as it answers every review.
    func answerFromCaches(clusterID: Substring, headers: HTTPFields, body: ByteBuffer, sourceIP: String?, logger: Logger)
        -> TokenReviewResponse?
    {
        guard let (id, credential) = Self.presentedCaller(clusterID: String(clusterID), headers: headers),
            case let cluster?? = directory.cachedCluster(id), isCaller(cluster, presenting: credential),
            let review = Self.decodeReview(body),
            let verdict = authenticator.verifyFromCaches(clusterToken: review.spec.token, for: cluster)
        else { return nil }
        return answer(review, verdict: verdict, cluster: cluster, sourceIP: sourceIP, userAgent: headers[.userAgent], logger: logger)
    }

    /// A well-formed TokenReview of a supported version, or `nil`.
    private static func decodeReview(_ body: ByteBuffer) -> TokenReviewRequest? {
        guard let review = try? decoder.decode(TokenReviewRequest.self, from: Data(body.readableBytesView)),
            supportedVersions.contains(review.apiVersion), review.kind == "TokenReview"
        else { return nil }
        return review
    }

    /// The answer to `review` once the token's verdict is known, with the use and the outcome recorded.
    private func answer(
        _ review: TokenReviewRequest, verdict: Result<Authenticator.Verified, Authenticator.ClusterFailure>, cluster: Cluster,
        sourceIP: String?, userAgent: String?, logger: Logger
    ) -> TokenReviewResponse {
        switch verdict {
        case .success(let verified):
            let state = verified.state
            // A cluster token minted from the previous secret is a use of that secret, not of the new one.
            usage.record(state.id, at: authenticator.clock(), sourceIP: sourceIP, userAgent: userAgent, slot: verified.slot)
            metrics.authentication(.webhook, .success)
            let identity = KubernetesIdentity(tokenID: state.id, role: state.role, organizationID: state.organizationID, tokenName: state.name)
            return TokenReviewResponse(
                apiVersion: review.apiVersion,
                status: .init(
                    authenticated: true,
                    user: .init(username: identity.username, uid: identity.uid, groups: identity.groups, extra: identity.extra)))
        case .failure(let error):
            logger.debug("token review refused", metadata: ["cluster_id": "\(cluster.id)", "reason": "\(error)"])
            metrics.authentication(.webhook, error == .expired ? .expired : .failure)
            return TokenReviewResponse(apiVersion: review.apiVersion, status: .init(authenticated: false, user: nil))
        }
    }

    /// The cluster whose API server is calling, proven by its webhook credential.
    private func authenticateCaller(_ request: Request, context: AppRequestContext) async throws -> Cluster {
        guard let (id, credential) = Self.presentedCaller(clusterID: context.parameters.get("id"), headers: request.headers),
            let cluster = try await directory.cluster(id), isCaller(cluster, presenting: credential)
        else { throw Self.refused }
        return cluster
    }

    /// The cluster ID of the path and the webhook credential of the `Authorization` field, when both are well-formed.
    private static func presentedCaller(clusterID raw: String?, headers: HTTPFields) -> (ClusterID, WebhookCredential)? {
        guard let raw, let id = ClusterID(raw), case .bearer(let bearer)? = headers.presentedCredentials,
            let credential = try? WebhookCredential(parsing: bearer)
        else { return nil }
        return (id, credential)
    }

    /// Whether `credential` is `cluster`'s current webhook credential.
    private func isCaller(_ cluster: Cluster, presenting credential: WebhookCredential) -> Bool {
        guard let digest = cluster.webhookCredentialDigest else { return false }
        return hasher.verify(credential, against: digest)
    }
}
