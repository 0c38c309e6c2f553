import CloudfleetCore
import Foundation

/// A Kubernetes cluster registered with an organization, whose API server accepts the organization's tokens.
public struct Cluster: Sendable, Equatable {
    public var id: ClusterID
    public var organizationID: OrganizationID
    /// Unique within the organization.
    public var name: ClusterName
    /// The kube-apiserver URL written into kubeconfigs (`https://…`).
    public var apiEndpoint: String
    /// PEM certificates that verify the API server, or `nil` for the system roots.
    public var caBundle: String?
    /// The keyed digest of the credential the cluster's API server presents to the TokenReview webhook;
    /// `nil` until one is issued.
    public var webhookCredentialDigest: SecretDigest?
    public var createdAt: Date
    public var updatedAt: Date
    /// The audit actor that registered the cluster.
    public var createdBy: String

    public init(
        id: ClusterID, organizationID: OrganizationID, name: ClusterName, apiEndpoint: String, caBundle: String? = nil,
        webhookCredentialDigest: SecretDigest? = nil, createdAt: Date, updatedAt: Date? = nil, createdBy: String
    ) {
        self.id = id
        self.organizationID = organizationID
        self.name = name
        self.apiEndpoint = apiEndpoint
        self.caBundle = caBundle
        self.webhookCredentialDigest = webhookCredentialDigest
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
        self.createdBy = createdBy
    }
}

/// A position in the cluster list, ordered by creation time, then ID.
public struct ClusterCursor: Sendable, Equatable {
    public var createdAt: Date
    public var id: ClusterID

    public init(createdAt: Date, id: ClusterID) {
        self.createdAt = createdAt
        self.id = id
    }
}
