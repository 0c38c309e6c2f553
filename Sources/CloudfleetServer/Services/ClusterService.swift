import CloudfleetCore
import CloudfleetStore
import Foundation
import NIOSSL
import Synchronization

/// Registering the organization's Kubernetes clusters and issuing the credential each cluster's API server
/// presents to the TokenReview webhook. Every change is audited in its own transaction.
public struct ClusterService: Sendable {
    let store: any Store
    let hasher: SecretHasher
    let directory: ClusterDirectory
    let clock: @Sendable () -> Date

    /// Registers a cluster in `organization`.
    public func create(
        name: ClusterName, apiEndpoint: String, caBundle: String?, organization: OrganizationID, context: AuditContext
    ) async throws -> Cluster {
        let endpoint = try Self.validateEndpoint(apiEndpoint)
        let bundle = try caBundle.map { bundle throws(ValidationError) in try Self.validateCABundle(bundle) }
        let cluster = Cluster(
            id: .generate(), organizationID: organization, name: name, apiEndpoint: endpoint, caBundle: bundle, createdAt: clock(),
            createdBy: context.actor)
        try await store.createCluster(
            cluster,
            audit: event(.clusterCreate, cluster.id, organization, context, details: ["name": name.rawValue, "api_endpoint": endpoint]))
        directory.invalidate(cluster.id)
        return cluster
    }

    /// A cluster of `organization`, or `nil` (also for a cluster of another organization).
    public func get(_ id: ClusterID, organization: OrganizationID) async throws -> Cluster? {
        guard let cluster = try await store.cluster(id: id), cluster.organizationID == organization else { return nil }
        return cluster
    }

    /// One page of the clusters of `organization`.
    public func list(organization: OrganizationID, after cursor: ClusterCursor?, limit: Int) async throws -> Page<Cluster, ClusterCursor> {
        try await store.listClusters(organization: organization, after: cursor, limit: limit)
    }

    /// Deletes a cluster of `organization`; its webhook credential and cluster tokens stop working.
    public func delete(_ id: ClusterID, organization: OrganizationID, context: AuditContext) async throws {
        try await store.deleteCluster(id: id, organization: organization, audit: event(.clusterDelete, id, organization, context))
        directory.invalidate(id)
    }

    /// Issues a new webhook credential for a cluster of `organization`, replacing the previous one at once.
    public func issueWebhookCredential(_ id: ClusterID, organization: OrganizationID, context: AuditContext) async throws
        -> (cluster: Cluster, credential: WebhookCredential)
    {
        let credential = WebhookCredential.generate()
        let cluster = try await store.replaceWebhookCredential(
            id: id, organization: organization, digest: hasher.digest(credential), at: clock(),
            audit: event(.clusterWebhookCredentialIssue, id, organization, context))
        directory.invalidate(id)
        return (cluster, credential)
    }

    // MARK: Validation

    /// The longest accepted API endpoint URL.
    static let maximumEndpointLength = 2048

    /// An `https://host[:port][/path]` URL without credentials, query, fragment, white space or control characters.
    static func validateEndpoint(_ raw: String) throws(ValidationError) -> String {
        let value = raw.trimmingCharacters(in: .whitespaces)
        let invalid = ValidationError(
            field: "api_endpoint", reason: "must be an https:// URL of the Kubernetes API server, such as https://203.0.113.10:6443")
        guard value.utf8.count <= maximumEndpointLength, value.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value != 0x7F }),
            let components = URLComponents(string: value), components.scheme?.lowercased() == "https", let host = components.host,
            !host.isEmpty, components.user == nil, components.password == nil, components.query == nil, components.fragment == nil,
            components.port.map({ (1...65535).contains($0) }) ?? true
        else { throw invalid }
        return value
    }

    /// One or more PEM certificates and nothing else: a private key pasted by mistake would otherwise be shown to
    /// every token of the organization and written into kubeconfigs.
    static func validateCABundle(_ raw: String) throws(ValidationError) -> String {
        let invalid = ValidationError(
            field: "ca_bundle", reason: "must be one or more PEM certificates (-----BEGIN CERTIFICATE-----) and nothing else")
        var insideBlock = false
        var blocks = 0
        for line in raw.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.hasPrefix("-----BEGIN ") {
                guard !insideBlock, text == "-----BEGIN CERTIFICATE-----" else { throw invalid }
                insideBlock = true
                blocks += 1
            } else if text.hasPrefix("-----END ") {
                guard insideBlock, text == "-----END CERTIFICATE-----" else { throw invalid }
                insideBlock = false
            } else if !insideBlock, !text.isEmpty {
                throw invalid
            }
        }
        guard !insideBlock, blocks > 0, let certificates = try? NIOSSLCertificate.fromPEMBytes(Array(raw.utf8)),
            certificates.count == blocks
        else { throw invalid }
        return raw
    }

    private func event(
        _ action: AuditAction, _ id: ClusterID, _ organization: OrganizationID, _ context: AuditContext, details: [String: String] = [:]
    ) -> AuditEvent {
        AuditEvent(
            organizationID: organization, occurredAt: clock(), actor: context.actor, action: action, targetType: "cluster",
            targetID: id.description, sourceIP: context.sourceIP, requestID: context.requestID, details: details)
    }
}

/// Clusters as the webhook and the cluster-token exchange look them up on every call, kept for a few seconds.
///
/// A change on this node invalidates its entry at once; other nodes see a deleted cluster or a replaced webhook
/// credential within ``timeToLive``.
final class ClusterDirectory: Sendable {
    private struct Entry {
        let cluster: Cluster?
        let fetchedAt: Date
    }

    private let entries = Mutex<[ClusterID: Entry]>([:])
    private let store: any Store
    private let clock: @Sendable () -> Date
    let timeToLive: TimeInterval
    private let capacity = 10_000

    init(store: any Store, clock: @escaping @Sendable () -> Date, timeToLive: TimeInterval = 5) {
        self.store = store
        self.clock = clock
        self.timeToLive = timeToLive
    }

    /// The cluster with `id` in any organization, or `nil`.
    func cluster(_ id: ClusterID) async throws -> Cluster? {
        let now = clock()
        let cached = entries.withLock { $0[id] }
        if let cached, now.timeIntervalSince(cached.fetchedAt) < timeToLive, cached.fetchedAt <= now { return cached.cluster }
        let cluster = try await store.cluster(id: id)
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll() }
            entries[id] = Entry(cluster: cluster, fetchedAt: now)
        }
        return cluster
    }

    func invalidate(_ id: ClusterID) {
        _ = entries.withLock { $0.removeValue(forKey: id) }
    }
}
