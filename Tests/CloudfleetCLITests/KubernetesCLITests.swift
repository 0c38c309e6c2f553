import ArgumentParser
import CloudfleetAPI
import CloudfleetClient
import CloudfleetCore
import Foundation
import Testing
import Yams

@testable import CloudfleetCLI

/// The kubeconfig merge, the printed cluster configuration, the ExecCredential and the plugin's cache.
@Suite struct KubernetesCLITests {
    static let clusterID = "56b474bb-5ba1-4261-938a-f23d1b724866"

    static func entries(profile: String = "ci", caBundle: String? = "PEM") -> KubeconfigEntries {
        KubeconfigEntries(
            clusterID: clusterID, clusterName: "prod", server: "https://203.0.113.10:6443", caBundle: caBundle, profile: profile,
            command: "cloudfleet", apiURL: nil)
    }

    static func mapping(_ yaml: String) throws -> Node.Mapping {
        try #require(try Yams.compose(yaml: yaml)?.mapping)
    }

    static func names(_ root: Node.Mapping, _ key: String) -> [String] {
        (root[key]?.sequence.map(Array.init) ?? []).compactMap { $0.mapping?["name"]?.string }
    }

    // MARK: Kubeconfig

    @Test func mergeIntoNothingWritesACompleteKubeconfig() throws {
        let root = try Self.mapping(try KubeconfigFile.merge(existing: nil, entries: Self.entries(), setCurrentContext: true))
        #expect(root["apiVersion"]?.string == "v1" && root["kind"]?.string == "Config")
        #expect(Self.names(root, "clusters") == ["cloudfleet-prod-56b474bb"])
        #expect(Self.names(root, "users") == ["cloudfleet-prod-56b474bb-ci"])
        #expect(root["current-context"]?.string == "cloudfleet-prod-56b474bb-ci")
        let cluster = try #require(root["clusters"]?.sequence?.first?.mapping?["cluster"]?.mapping)
        #expect(cluster["certificate-authority-data"]?.string == Data("PEM".utf8).base64EncodedString())
        let exec = try #require(root["users"]?.sequence?.first?.mapping?["user"]?.mapping?["exec"]?.mapping)
        #expect(exec["apiVersion"]?.string == "client.authentication.k8s.io/v1")
        #expect(exec["interactiveMode"]?.string == "Never")
        #expect(exec["command"]?.string == "cloudfleet")
        #expect(exec["installHint"]?.string?.isEmpty == false)
        let args = (exec["args"]?.sequence.map(Array.init) ?? []).compactMap(\.string)
        #expect(args == ["clusters", "exec-credential", Self.clusterID, "--profile", "ci"])
    }

    @Test func mergeKeepsEverythingElseAndReplacesByName() throws {
        let existing = """
            apiVersion: v1
            kind: Config
            preferences:
              colors: true
            clusters:
            - name: kind-dev
              cluster:
                server: https://127.0.0.1:40000
            - name: cloudfleet-prod-56b474bb
              cluster:
                server: https://old.example:6443
            users:
            - name: kind-dev
              user:
                token: abc
            contexts:
            - name: kind-dev
              context:
                cluster: kind-dev
                user: kind-dev
            current-context: kind-dev
            """
        let merged = try KubeconfigFile.merge(existing: existing, entries: Self.entries(), setCurrentContext: false)
        let root = try Self.mapping(merged)
        #expect(Self.names(root, "clusters") == ["kind-dev", "cloudfleet-prod-56b474bb"])
        #expect(Self.names(root, "users") == ["kind-dev", "cloudfleet-prod-56b474bb-ci"])
        #expect(Self.names(root, "contexts") == ["kind-dev", "cloudfleet-prod-56b474bb-ci"])
        #expect(root["current-context"]?.string == "kind-dev", "--no-set-current keeps the current context")
        #expect(root["preferences"]?.mapping?["colors"]?.bool == true)
        #expect(!merged.contains("old.example"), "the entry of the same name was replaced")
        #expect(merged.contains("token: abc"))
        // Merging again changes nothing: the operation is idempotent.
        #expect(try KubeconfigFile.merge(existing: merged, entries: Self.entries(), setCurrentContext: false) == merged)
    }

    @Test func twoProfilesGetTwoUsersAndContexts() throws {
        let first = try KubeconfigFile.merge(existing: nil, entries: Self.entries(profile: "admin"), setCurrentContext: true)
        let both = try Self.mapping(try KubeconfigFile.merge(existing: first, entries: Self.entries(profile: "viewer"), setCurrentContext: true))
        #expect(Self.names(both, "clusters") == ["cloudfleet-prod-56b474bb"])
        #expect(Self.names(both, "users") == ["cloudfleet-prod-56b474bb-admin", "cloudfleet-prod-56b474bb-viewer"])
        #expect(both["current-context"]?.string == "cloudfleet-prod-56b474bb-viewer")
    }

    @Test(arguments: ["clusters: [unclosed", "- just\n- a list\n", "clusters: {a: b}\n"])
    func mergeRefusesWhatIsNotAKubeconfig(_ existing: String) {
        #expect(throws: KubeconfigFile.Failure.self) {
            try KubeconfigFile.merge(existing: existing, entries: Self.entries(), setCurrentContext: true)
        }
    }

    @Test func updateLeavesAnInvalidFileUntouchedAndWritesMode0600() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kubeconfig-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let broken = directory + "/broken"
        try Data("clusters: [".utf8).write(to: URL(fileURLWithPath: broken))
        #expect(throws: KubeconfigFile.Failure.self) { try KubeconfigFile.update(path: broken, entries: Self.entries(), setCurrentContext: true) }
        #expect(String(decoding: try Data(contentsOf: URL(fileURLWithPath: broken)), as: UTF8.self) == "clusters: [")
        let fresh = directory + "/fresh/config"
        try KubeconfigFile.update(path: fresh, entries: Self.entries(), setCurrentContext: true)
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: fresh)[.posixPermissions] as? Int)
        #expect(mode == 0o600)
    }

    @Test func pathFollowsKubectlsOrder() {
        #expect(KubeconfigFile.path(explicit: "/x/config", environment: ["KUBECONFIG": "/a:/b"]) == "/x/config")
        #expect(KubeconfigFile.path(explicit: nil, environment: ["KUBECONFIG": ":/a:/b", "HOME": "/h"]) == "/a")
        #expect(KubeconfigFile.path(explicit: nil, environment: ["HOME": "/h"]) == "/h/.kube/config")
    }

    // MARK: auth-config

    static func cluster(issuerCA: String? = "CA PEM") -> ClusterInfo {
        ClusterInfo(
            id: clusterID, name: "prod", organizationID: "406a42a1-3cbc-44e3-9cb5-8140499afb41", apiEndpoint: "https://203.0.113.10:6443",
            caBundle: nil, issuer: "https://auth.example", audience: "cloudfleet:cluster:\(clusterID)",
            tokenReviewURL: "https://auth.example/v1/clusters/\(clusterID)/tokenreview", issuerCABundle: issuerCA, webhookConfigured: false,
            createdAt: Date(), updatedAt: Date(), createdBy: "token:x")
    }

    static func config(version: String = "1.34") throws -> AuthConfig {
        AuthConfig(
            cluster: cluster(), exampleTokenID: TokenID("nFYyVdtg8K1aDujwk3YFh1"),
            kubernetesVersion: try #require(AuthConfig.KubernetesVersion(version)), webhookCacheTTL: "30s")
    }

    @Test func webhookFilesHoldTheCredentialTheURLAndTheFlags() throws {
        let files = try Self.config().webhookFiles(credential: "cfwh_credential")
        #expect(files.map(\.name) == ["webhook.kubeconfig", "kube-apiserver-webhook.flags", "rbac.yaml", "rolebinding-example.yaml"])
        #expect(files.filter(\.secret).map(\.name) == ["webhook.kubeconfig"])
        let kubeconfig = try Self.mapping(files[0].content)
        let cluster = try #require(kubeconfig["clusters"]?.sequence?.first?.mapping?["cluster"]?.mapping)
        #expect(cluster["server"]?.string == "https://auth.example/v1/clusters/\(Self.clusterID)/tokenreview")
        #expect(cluster["certificate-authority-data"]?.string == Data("CA PEM".utf8).base64EncodedString())
        #expect(kubeconfig["users"]?.sequence?.first?.mapping?["user"]?.mapping?["token"]?.string == "cfwh_credential")
        #expect(kubeconfig["current-context"]?.string == "cloudfleet-webhook")
        #expect(files[1].content.contains("--authentication-token-webhook-version=v1"))
        #expect(files[1].content.contains("--authentication-token-webhook-cache-ttl=30s"))
    }

    @Test func rbacBindsTheTwoGroupsAndTheExampleNamesTheLowerCasedUser() throws {
        let files = try Self.config().rbacFiles()
        let documents = try Yams.compose_all(yaml: files[0].content).map { try #require($0.mapping) }
        let bindings = documents.map { ($0["subjects"]?.sequence?.first?.mapping?["name"]?.string, $0["roleRef"]?.mapping?["name"]?.string) }
        #expect(bindings.map(\.0) == ["cloudfleet:administrators", "cloudfleet:users"])
        #expect(bindings.map(\.1) == ["cluster-admin", "view"])
        let example = try Self.mapping(files[1].content)
        #expect(example["subjects"]?.sequence?.first?.mapping?["name"]?.string == "service-account-nfyyvdtg8k1adujwk3yfh1")
        #expect(example["kind"]?.string == "RoleBinding")
    }

    @Test(arguments: [
        ("1.36", "apiserver.config.k8s.io/v1"), ("1.34", "apiserver.config.k8s.io/v1"), ("1.33", "apiserver.config.k8s.io/v1beta1"),
        ("1.30", "apiserver.config.k8s.io/v1beta1"), ("v1.29.4", "apiserver.config.k8s.io/v1alpha1"),
    ])
    func authenticationConfigurationVersionFollowsTheAPIServer(_ version: String, _ apiVersion: String) throws {
        let files = try Self.config(version: version).oidcFiles()
        let file = try #require(files.first { $0.name == "authentication-config.yaml" })
        let root = try Self.mapping(file.content)
        #expect(root["apiVersion"]?.string == apiVersion)
        #expect(root["kind"]?.string == "AuthenticationConfiguration")
        let jwt = try #require(root["jwt"]?.sequence?.first?.mapping)
        #expect(jwt["issuer"]?.mapping?["url"]?.string == "https://auth.example")
        #expect(jwt["issuer"]?.mapping?["audiences"]?.sequence?.compactMap(\.string) == ["cloudfleet:cluster:\(Self.clusterID)"])
        #expect(jwt["issuer"]?.mapping?["certificateAuthority"]?.string == "CA PEM")
        #expect(jwt["claimMappings"]?.mapping?["username"]?.mapping?["claim"]?.string == "k8s_username")
        #expect(jwt["claimMappings"]?.mapping?["username"]?.mapping?["prefix"]?.string == "")
        let rules = (jwt["userValidationRules"]?.sequence.map(Array.init) ?? []).compactMap { $0.mapping?["expression"]?.string }
        #expect(rules == ["!user.username.startsWith('system:')", "user.groups.all(g, !g.startsWith('system:'))"])
    }

    @Test func beforeStructuredConfigurationOnlyTheFlagsArePrinted() throws {
        let files = try Self.config(version: "1.28").oidcFiles()
        #expect(!files.contains { $0.name == "authentication-config.yaml" })
        let flags = try #require(files.first { $0.name == "kube-apiserver-oidc.flags" }).content
        for flag in [
            "--oidc-issuer-url=https://auth.example", "--oidc-client-id=cloudfleet:cluster:\(Self.clusterID)", "--oidc-username-claim=k8s_username",
            "--oidc-username-prefix=-", "--oidc-groups-claim=k8s_groups", "--oidc-ca-file=",
        ] {
            #expect(flags.contains(flag), "missing \(flag)")
        }
    }

    @Test func authConfigValidatesModeAndVersion() {
        #expect(throws: (any Error).self) {
            try CloudfleetCommand.parseAsRoot(["clusters", "auth-config", Self.clusterID, "--mode", "magic"])
        }
        #expect(throws: (any Error).self) {
            try CloudfleetCommand.parseAsRoot(["clusters", "auth-config", Self.clusterID, "--mode", "oidc", "--kubernetes-version", "banana"])
        }
        #expect(throws: (any Error).self) { try CloudfleetCommand.parseAsRoot(["clusters", "kubeconfig", "not-a-uuid"]) }
    }

    // MARK: Exec credential

    @Test func execCredentialHasVersionKindTokenAndRFC3339Expiry() throws {
        let text = try ExecCredentialOutput.render(
            token: "eyJ.a.b", expiresAt: Date(timeIntervalSince1970: 1_795_926_147), apiVersion: "client.authentication.k8s.io/v1")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["apiVersion"] as? String == "client.authentication.k8s.io/v1")
        #expect(object["kind"] as? String == "ExecCredential")
        let status = try #require(object["status"] as? [String: Any])
        #expect(status["token"] as? String == "eyJ.a.b")
        #expect(status["expirationTimestamp"] as? String == "2026-11-29T04:22:27Z")
    }

    @Test func execCredentialAnswersInTheVersionKubectlAskedFor() {
        let beta = #"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{"interactive":false}}"#
        #expect(ExecCredentialOutput.requestedAPIVersion(environment: ["KUBERNETES_EXEC_INFO": beta]) == "client.authentication.k8s.io/v1beta1")
        #expect(ExecCredentialOutput.requestedAPIVersion(environment: [:]) == "client.authentication.k8s.io/v1")
        #expect(ExecCredentialOutput.requestedAPIVersion(environment: ["KUBERNETES_EXEC_INFO": "{nonsense"]) == "client.authentication.k8s.io/v1")
    }

    @Test func clusterTokenCacheIsKeyedBySecretAndClusterAndExpiresEarly() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cluster-cache-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cache = ClusterTokenFileCache(directory: directory)
        let issued = Date(timeIntervalSince1970: 1_000_000)
        cache.store(
            "jwt-1", issuedAt: issued, expiresAt: issued.addingTimeInterval(600), apiURL: "https://a", tokenID: "t", secret: "s1",
            clusterID: Self.clusterID)
        let hit = cache.load(apiURL: "https://a", tokenID: "t", secret: "s1", clusterID: Self.clusterID, now: issued.addingTimeInterval(10))
        #expect(hit?.token == "jwt-1")
        #expect(cache.load(apiURL: "https://a", tokenID: "t", secret: "s1", clusterID: Self.clusterID.uppercased(), now: issued)?.token == "jwt-1")
        #expect(cache.load(apiURL: "https://a", tokenID: "t", secret: "s2", clusterID: Self.clusterID, now: issued) == nil)
        #expect(cache.load(apiURL: "https://b", tokenID: "t", secret: "s1", clusterID: Self.clusterID, now: issued) == nil)
        // A minute before expiry (a fifth of 600 s is more than 60 s), the cache no longer answers.
        #expect(cache.load(apiURL: "https://a", tokenID: "t", secret: "s1", clusterID: Self.clusterID, now: issued.addingTimeInterval(539)) != nil)
        #expect(cache.load(apiURL: "https://a", tokenID: "t", secret: "s1", clusterID: Self.clusterID, now: issued.addingTimeInterval(541)) == nil)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory)
        #expect(files.count == 1 && !files[0].contains("s1") && !files[0].contains(Self.clusterID))
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: directory + "/" + files[0])[.posixPermissions] as? Int)
        #expect(mode == 0o600)
    }
}
