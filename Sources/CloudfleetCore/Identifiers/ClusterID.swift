import Foundation

/// The identifier of a Kubernetes cluster registered with an organization (a UUID, shown lower-cased).
public struct ClusterID: UUIDIdentifier {
    public static let noun = "a cluster ID"
    public let uuid: UUID

    public init(_ uuid: UUID) {
        self.uuid = uuid
    }

    /// The `aud` of cluster tokens for this cluster: what the kube-apiserver is configured to accept.
    public var audience: String { "cloudfleet:cluster:" + description }
}
