import CloudfleetAPI
import CloudfleetCore
import CloudfleetStore
import Foundation
import HTTPTypes
import Hummingbird

/// `/v1/clusters`: the organization's Kubernetes clusters, their webhook credentials and the exchange of a
/// token for a cluster token.
struct ClustersController {
    let clusters: ClusterService
    let authenticator: Authenticator
    let endpoints: KubernetesEndpoints
    let clusterTokenLifetime: TimeInterval

    func addRoutes(to group: AuthenticatedRoutes) {
        group.get("clusters", use: list)
        group.post("clusters", use: create)
        group.get("clusters/{id}", use: get)
        group.delete("clusters/{id}", use: delete)
        group.post("clusters/{id}/webhook-credential", use: issueWebhookCredential)
        group.post("clusters/{id}/token", use: issueClusterToken)
    }

    // MARK: Handlers

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> ListPage<ClusterInfo> {
        let organization = try context.requirePrincipal().organizationID
        try context.authorize(.listClusters, in: organization)
        let pagination = try Pagination(request)
        let page = try await clusters.list(organization: organization, after: try pagination.clusterCursor(), limit: pagination.limit)
        return ListPage(items: page.items.map { ClusterInfo($0, endpoints: endpoints) }, nextCursor: Pagination.encode(page.next))
    }

    @Sendable func create(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<ClusterInfo> {
        let organization = try context.requirePrincipal().organizationID
        try context.authorize(.createCluster, in: organization)
        let body = try await RequestBody.decode(CreateClusterRequest.self, from: request, context: context)
        let name = try ClusterName(body.name)
        let cluster: Cluster
        do {
            cluster = try await clusters.create(
                name: name, apiEndpoint: body.apiEndpoint, caBundle: body.caBundle, organization: organization,
                context: try context.auditContext())
        } catch StoreError.alreadyExists {
            throw APIError(.conflict, code: "conflict", message: "A cluster named \(name) exists in this organization already.", field: "name")
        }
        return EditedResponse(
            status: .created, headers: [.location: "/v1/clusters/\(cluster.id)"], response: ClusterInfo(cluster, endpoints: endpoints))
    }

    @Sendable func get(_ request: Request, context: AppRequestContext) async throws -> ClusterInfo {
        let organization = try context.requirePrincipal().organizationID
        try context.authorize(.readCluster, in: organization)
        return ClusterInfo(try await cluster(context, organization: organization), endpoints: endpoints)
    }

    @Sendable func delete(_ request: Request, context: AppRequestContext) async throws -> HTTPResponse.Status {
        let organization = try context.requirePrincipal().organizationID
        try context.authorize(.deleteCluster, in: organization)
        let id = try Self.clusterID(context)
        try await notFoundAsCluster { try await clusters.delete(id, organization: organization, context: try context.auditContext()) }
        return .noContent
    }

    @Sendable func issueWebhookCredential(_ request: Request, context: AppRequestContext) async throws
        -> EditedResponse<WebhookCredentialIssued>
    {
        let organization = try context.requirePrincipal().organizationID
        try context.authorize(.issueWebhookCredential, in: organization)
        let id = try Self.clusterID(context)
        let issued = try await notFoundAsCluster {
            try await clusters.issueWebhookCredential(id, organization: organization, context: try context.auditContext())
        }
        return EditedResponse(
            status: .ok, headers: [.cacheControl: "no-store", .pragma: "no-cache"],
            response: WebhookCredentialIssued(clusterID: issued.cluster.id.description, credential: issued.credential.reveal))
    }

    @Sendable func issueClusterToken(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<ClusterToken> {
        let principal = try context.requirePrincipal()
        try context.authorize(.issueClusterToken, in: principal.organizationID)
        let cluster = try await cluster(context, organization: principal.organizationID)
        guard case .token(let tokenID) = principal.kind else { throw APIError.forbidden }
        let state = try await authenticator.currentState(of: tokenID)
        let issued = try await authenticator.issueClusterToken(
            for: Authenticator.Verified(state: state, slot: context.secretSlot), cluster: cluster, lifetime: clusterTokenLifetime)
        let expiresIn = max(0, Int(issued.expiresAt.timeIntervalSince(authenticator.clock()).rounded(.down)))
        return EditedResponse(
            status: .ok, headers: [.cacheControl: "no-store", .pragma: "no-cache"],
            response: ClusterToken(token: issued.token, expiresAt: issued.expiresAt, expiresIn: expiresIn, clusterID: cluster.id.description))
    }

    // MARK: Helpers

    private func cluster(_ context: AppRequestContext, organization: OrganizationID) async throws -> Cluster {
        guard let cluster = try await clusters.get(try Self.clusterID(context), organization: organization) else {
            throw APIError.notFound("Cluster")
        }
        return cluster
    }

    /// The `{id}` path parameter; a string that cannot be a cluster ID is simply not found.
    static func clusterID(_ context: AppRequestContext) throws -> ClusterID {
        guard let raw = context.parameters.get("id"), let id = ClusterID(raw) else { throw APIError.notFound("Cluster") }
        return id
    }

    private func notFoundAsCluster<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch StoreError.notFound {
            throw APIError.notFound("Cluster")
        }
    }
}
