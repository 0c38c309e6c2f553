import CloudfleetAPI
import CloudfleetCore
import Foundation
import Yams

/// What `cloudfleet clusters auth-config` prints: the files and flags an operator applies to a cluster so its
/// API server accepts the organization's tokens, and the RBAC bindings of the two roles.
struct AuthConfig {
    /// How the kube-apiserver checks tokens.
    enum Mode: String, CaseIterable {
        /// It asks this service (`--authentication-token-webhook-config-file`); revocation within the cache TTL.
        case webhook
        /// It verifies cluster tokens itself against the OIDC discovery document and JWKS (`--authentication-config`
        /// or `--oidc-*`); revocation within the cluster-token lifetime.
        case oidc
    }

    /// One file to write, or one block to print.
    struct File: Equatable {
        let name: String
        let purpose: String
        let content: String
        /// Files holding a credential are written with mode 0600.
        let secret: Bool
    }

    /// A Kubernetes minor version, such as 1.34.
    struct KubernetesVersion: Comparable, CustomStringConvertible {
        let minor: Int

        init?(_ text: String) {
            let parts = text.trimmingCharacters(in: .whitespaces).drop(while: { $0 == "v" }).split(separator: ".")
            guard parts.count >= 2, parts[0] == "1", let minor = Int(parts[1]), minor >= 0 else { return nil }
            self.minor = minor
        }

        static func < (lhs: Self, rhs: Self) -> Bool { lhs.minor < rhs.minor }
        var description: String { "1.\(minor)" }
    }

    /// Where the kube-apiserver keeps the files; the flags name these paths.
    static let directory = "/etc/kubernetes/cloudfleet"

    let cluster: ClusterInfo
    /// A token whose user name the example RoleBinding shows (the profile's own token).
    let exampleTokenID: TokenID?
    let kubernetesVersion: KubernetesVersion
    let webhookCacheTTL: String

    // MARK: Webhook

    /// The webhook kubeconfig (holding `credential`), the flags and the RBAC files.
    func webhookFiles(credential: String) throws -> [File] {
        struct WebhookKubeconfig: Encodable {
            struct NamedCluster: Encodable {
                struct Cluster: Encodable {
                    let server: String
                    let certificateAuthorityData: String?
                    enum CodingKeys: String, CodingKey {
                        case server
                        case certificateAuthorityData = "certificate-authority-data"
                    }
                }
                let name: String
                let cluster: Cluster
            }
            struct NamedUser: Encodable {
                struct User: Encodable { let token: String }
                let name: String
                let user: User
            }
            struct NamedContext: Encodable {
                struct Context: Encodable {
                    let cluster: String
                    let user: String
                }
                let name: String
                let context: Context
            }
            let apiVersion = "v1"
            let kind = "Config"
            let clusters: [NamedCluster]
            let users: [NamedUser]
            let contexts: [NamedContext]
            let currentContext: String
            enum CodingKeys: String, CodingKey {
                case apiVersion, kind, clusters, users, contexts
                case currentContext = "current-context"
            }
        }
        let kubeconfig = WebhookKubeconfig(
            clusters: [
                .init(
                    name: "cloudfleet",
                    cluster: .init(
                        server: cluster.tokenReviewURL, certificateAuthorityData: cluster.issuerCABundle.map { Data($0.utf8).base64EncodedString() }))
            ],
            users: [.init(name: "kube-apiserver", user: .init(token: credential))],
            contexts: [.init(name: "cloudfleet-webhook", context: .init(cluster: "cloudfleet", user: "kube-apiserver"))],
            currentContext: "cloudfleet-webhook")
        let kubeconfigName = "webhook.kubeconfig"
        let flags = """
            # kube-apiserver flags: Cloudfleet webhook token authentication for cluster \(cluster.name) (\(cluster.id)).
            # For kube-apiserver 1.19 and later (TokenReview authentication.k8s.io/v1). Copy \(kubeconfigName) to
            # \(Self.directory)/\(kubeconfigName) (mode 0600) on every control-plane node, add these flags, restart the API server.
            # A revoked or regenerated token stops working within the cache TTL (\(webhookCacheTTL)).
            --authentication-token-webhook-config-file=\(Self.directory)/\(kubeconfigName)
            --authentication-token-webhook-version=v1
            --authentication-token-webhook-cache-ttl=\(webhookCacheTTL)

            """
        return [
            File(
                name: kubeconfigName, purpose: "webhook kubeconfig: how the kube-apiserver reaches Cloudfleet (holds the webhook credential)",
                content: try YAMLEncoder().encode(kubeconfig), secret: true),
            File(name: "kube-apiserver-webhook.flags", purpose: "kube-apiserver flags", content: flags, secret: false),
        ] + (try rbacFiles())
    }

    // MARK: OIDC

    /// The `AuthenticationConfiguration` (or, before 1.29, only the `--oidc-*` flags), the flags and RBAC files.
    func oidcFiles() throws -> [File] {
        var files: [File] = []
        if let apiVersion = authenticationConfigurationVersion {
            let name = "authentication-config.yaml"
            let gate =
                kubernetesVersion.minor == 29
                ? "\n# On 1.29 also set --feature-gates=StructuredAuthenticationConfiguration=true (alpha)." : ""
            let header = """
                # Structured authentication configuration for cluster \(cluster.name) (\(cluster.id)),
                # apiVersion \(apiVersion): for kube-apiserver \(versionRange(of: apiVersion)).
                # Copy to \(Self.directory)/\(name) on every control-plane node and start the API server with
                #   --authentication-config=\(Self.directory)/\(name)\(gate)
                # (mutually exclusive with the --oidc-* flags; the file is reloaded when it changes).
                # Revocation: a cluster token stays valid until it expires (minutes).

                """
            files.append(
                File(
                    name: name, purpose: "AuthenticationConfiguration",
                    content: header + (try YAMLEncoder().encode(authenticationConfiguration(apiVersion))),
                    secret: false))
        }
        var flags = """
            # kube-apiserver --oidc-* flags for cluster \(cluster.name) (\(cluster.id)): the alternative to
            # --authentication-config (and the only way before 1.29). Same mapping, made from the finished claims
            # k8s_username and k8s_groups; "-" turns the issuer prefix off. Use one or the other, never both.
            # Both algorithms of Cloudfleet's signing keys (RS256 unless rotated to ES256), so that a rotation from one
            # to the other needs no change here.
            --oidc-issuer-url=\(cluster.issuer)
            --oidc-client-id=\(cluster.audience)
            --oidc-username-claim=k8s_username
            --oidc-username-prefix=-
            --oidc-groups-claim=k8s_groups
            --oidc-required-claim=token_use=kube
            --oidc-required-claim=cluster=\(cluster.id)
            --oidc-signing-algs=RS256,ES256

            """
        if cluster.issuerCABundle != nil {
            flags += "--oidc-ca-file=\(Self.directory)/issuer-ca.crt\n"
        }
        files.append(File(name: "kube-apiserver-oidc.flags", purpose: "kube-apiserver --oidc-* flags (alternative)", content: flags, secret: false))
        if let bundle = cluster.issuerCABundle {
            files.append(
                File(name: "issuer-ca.crt", purpose: "CA bundle of the Cloudfleet issuer (for --oidc-ca-file)", content: bundle, secret: false))
        }
        return files + (try rbacFiles())
    }

    /// `apiserver.config.k8s.io/v1` from 1.34, `v1beta1` on 1.30–1.33, `v1alpha1` on 1.29; none before.
    var authenticationConfigurationVersion: String? {
        switch kubernetesVersion.minor {
        case 34...: "apiserver.config.k8s.io/v1"
        case 30...33: "apiserver.config.k8s.io/v1beta1"
        case 29: "apiserver.config.k8s.io/v1alpha1"
        default: nil
        }
    }

    private func versionRange(of apiVersion: String) -> String {
        switch apiVersion {
        case "apiserver.config.k8s.io/v1": "1.34 and later"
        case "apiserver.config.k8s.io/v1beta1": "1.30 to 1.33 (1.34 and later also read it)"
        default: "1.29, with the StructuredAuthenticationConfiguration feature gate"
        }
    }

    struct AuthenticationConfiguration: Encodable {
        struct JWT: Encodable {
            struct Issuer: Encodable {
                let url: String
                let audiences: [String]
                let certificateAuthority: String?
            }
            struct ClaimValidationRule: Encodable {
                let claim: String
                let requiredValue: String
            }
            struct ClaimOrPrefix: Encodable {
                let claim: String
                let prefix: String
            }
            struct Claim: Encodable {
                let claim: String
            }
            struct Extra: Encodable {
                let key: String
                let valueExpression: String
            }
            struct ClaimMappings: Encodable {
                let username: ClaimOrPrefix
                let groups: ClaimOrPrefix
                let uid: Claim
                let extra: [Extra]
            }
            struct UserValidationRule: Encodable {
                let expression: String
                let message: String
            }
            let issuer: Issuer
            let claimValidationRules: [ClaimValidationRule]
            let claimMappings: ClaimMappings
            let userValidationRules: [UserValidationRule]
        }
        let apiVersion: String
        let kind = "AuthenticationConfiguration"
        let jwt: [JWT]
    }

    func authenticationConfiguration(_ apiVersion: String) -> AuthenticationConfiguration {
        AuthenticationConfiguration(
            apiVersion: apiVersion,
            jwt: [
                .init(
                    issuer: .init(url: cluster.issuer, audiences: [cluster.audience], certificateAuthority: cluster.issuerCABundle),
                    claimValidationRules: [
                        .init(claim: "token_use", requiredValue: "kube"),
                        .init(claim: "cluster", requiredValue: cluster.id),
                    ],
                    claimMappings: .init(
                        username: .init(claim: "k8s_username", prefix: ""),
                        groups: .init(claim: "k8s_groups", prefix: ""),
                        uid: .init(claim: "sub"),
                        extra: [
                            .init(key: KubernetesIdentity.organizationExtraKey, valueExpression: "claims.org"),
                            .init(key: KubernetesIdentity.tokenNameExtraKey, valueExpression: "claims.token_name"),
                        ]),
                    userValidationRules: [
                        .init(expression: "!user.username.startsWith('system:')", message: "system: user names are reserved"),
                        .init(expression: "user.groups.all(g, !g.startsWith('system:'))", message: "system: groups are reserved"),
                    ])
            ])
    }

    // MARK: RBAC

    struct RoleBinding: Encodable {
        struct Metadata: Encodable {
            let name: String
            let namespace: String?
        }
        struct Subject: Encodable {
            let kind: String
            let name: String
            let apiGroup = "rbac.authorization.k8s.io"
        }
        struct RoleRef: Encodable {
            let kind = "ClusterRole"
            let name: String
            let apiGroup = "rbac.authorization.k8s.io"
        }
        let apiVersion = "rbac.authorization.k8s.io/v1"
        let kind: String
        let metadata: Metadata
        let subjects: [Subject]
        let roleRef: RoleRef
    }

    /// The two ClusterRoleBindings (administrators → cluster-admin, users → view) and the documentation's example
    /// RoleBinding for one token.
    func rbacFiles() throws -> [File] {
        let bindings = [Role.administrator, .user].map { role in
            RoleBinding(
                kind: "ClusterRoleBinding", metadata: .init(name: KubernetesIdentity.group(for: role), namespace: nil),
                subjects: [.init(kind: "Group", name: KubernetesIdentity.group(for: role))],
                roleRef: .init(name: KubernetesIdentity.clusterRole(for: role)))
        }
        let rbac =
            "# Cloudfleet roles in Kubernetes: Administrator tokens → cluster-admin, User tokens → view.\n"
            + "# Apply with: kubectl apply -f rbac.yaml\n"
            + (try bindings.map { try YAMLEncoder().encode($0) }.joined(separator: "---\n"))
        let user = (exampleTokenID ?? TokenID("nFYyVdtg8K1aDujwk3YFh1"))?.kubernetesUsername ?? "service-account-nfyyvdtg8k1adujwk3yfh1"
        let example = RoleBinding(
            kind: "RoleBinding", metadata: .init(name: "cluster-admin-binding", namespace: "your-namespace"),
            subjects: [.init(kind: "User", name: user)], roleRef: .init(name: "cluster-admin"))
        let exampleText =
            "# Example: more rights for one token. Its Kubernetes user is service-account- and the token ID lower-cased.\n"
            + "# Edit the namespace and role, then: kubectl apply -f rolebinding-example.yaml\n" + (try YAMLEncoder().encode(example))
        return [
            File(name: "rbac.yaml", purpose: "ClusterRoleBindings for the two roles", content: rbac, secret: false),
            File(name: "rolebinding-example.yaml", purpose: "example RoleBinding for one token", content: exampleText, secret: false),
        ]
    }
}
