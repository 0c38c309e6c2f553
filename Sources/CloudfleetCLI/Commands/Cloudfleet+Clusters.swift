import ArgumentParser
import CloudfleetAPI
import CloudfleetClient
import CloudfleetCore
import Foundation

/// `cloudfleet clusters`: the organization's Kubernetes clusters, kubeconfigs and the credential plugin.
struct Clusters: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Use your tokens with Kubernetes clusters.",
        subcommands: [Create.self, List.self, Describe.self, Delete.self, Kubeconfig.self, AuthConfig.self, ExecCredential.self]
    )

    @OptionGroup var options: ClientOptions
}

/// The cluster a command acts on, checked before anything is sent.
struct ClusterTarget: ParsableArguments {
    @Argument(help: "Cluster ID.") var id: String

    func validate() throws {
        guard ClusterID(id) != nil else { throw ValidationError("CLUSTER_ID must be a cluster ID (a UUID, as `cloudfleet clusters list` shows)") }
    }

    /// The ID in its canonical lower-case form.
    var canonical: String { ClusterID(id)?.description ?? id }
}

extension Clusters {
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a cluster whose API server should accept your organization's tokens (Administrator).",
            discussion: """
                Example:
                  cloudfleet clusters create --name prod --api-endpoint https://203.0.113.10:6443 --ca-file ca.crt
                Then run `cloudfleet clusters auth-config CLUSTER_ID --mode webhook|oidc` for the API server's settings.
                """)

        @ParentCommand var parent: Clusters
        @OptionGroup var options: ClientOptions
        @Option(help: "Cluster name: lower-case letters, digits and hyphens.") var name: String
        @Option(help: "URL of the cluster's Kubernetes API server (https://…).") var apiEndpoint: String
        @Option(help: "PEM file of the CA that signed the API server's certificate (default: the system roots).") var caFile: String?

        func validate() throws {
            do {
                _ = try ClusterName(name)
            } catch {
                throw ValidationError("--name \(error.reason)")
            }
        }

        func run() async throws {
            let options = options.merged(with: parent.options)
            let caBundle = try caFile.map { path in
                guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                    throw CLIFailure.exit("cannot read the CA file \(path)", code: 1)
                }
                return text
            }
            let client = try options.client()
            let cluster = try await CLIFailure.wrap { try await client.createCluster(name: name, apiEndpoint: apiEndpoint, caBundle: caBundle) }
            try options.renderer.cluster(cluster)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the clusters of your organization.")

        @ParentCommand var parent: Clusters
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let options = options.merged(with: parent.options)
            let client = try options.client()
            let clusters = try await CLIFailure.wrap { try await client.allClusters() }
            try options.renderer.clusters(clusters)
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one cluster.")

        @ParentCommand var parent: Clusters
        @OptionGroup var options: ClientOptions
        @OptionGroup var target: ClusterTarget

        func run() async throws {
            let options = options.merged(with: parent.options)
            let client = try options.client()
            let cluster = try await CLIFailure.wrap { try await client.cluster(id: target.canonical) }
            try options.renderer.cluster(cluster)
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a cluster (Administrator); its webhook credential and cluster tokens stop working.",
            discussion: "Asks for confirmation on a terminal unless --yes is given; never asks when standard input is not a terminal.")

        @ParentCommand var parent: Clusters
        @OptionGroup var options: ClientOptions
        @OptionGroup var target: ClusterTarget
        @Flag(name: [.short, .long], help: "Do not ask for confirmation.") var yes = false

        func run() async throws {
            let options = options.merged(with: parent.options)
            let client = try options.client()
            if !yes, isatty(STDIN_FILENO) == 1 {
                let cluster = try await CLIFailure.wrap { try await client.cluster(id: target.canonical) }
                FileHandle.standardError.write(Data("Delete cluster \(cluster.id) (\(cluster.name))? Tokens stop working there. [y/N] ".utf8))
                guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
                    throw CLIFailure.exit("not deleted", code: 1)
                }
            }
            try await CLIFailure.wrap { try await client.deleteCluster(id: target.canonical) }
            FileHandle.standardError.write(Data("Cluster \(target.canonical) deleted.\n".utf8))
        }
    }

    struct Kubeconfig: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a cluster, a user and a context for this profile's token to your kubeconfig.",
            discussion: """
                Merges into the kubeconfig (--kubeconfig, else the first file of $KUBECONFIG, else ~/.kube/config): entries of \
                the same name are replaced, everything else is kept, and the file is written with mode 0600. The user runs \
                `cloudfleet clusters exec-credential` as a kubectl credential plugin, which exchanges the token for a \
                short-lived cluster token and caches it. In the cluster the token is the user service-account-<token ID \
                lower-cased>, in the group of its role (Administrator → cluster-admin, User → view).
                """)

        @ParentCommand var parent: Clusters
        @OptionGroup var options: ClientOptions
        @OptionGroup var target: ClusterTarget
        @Option(help: "Kubeconfig file to change.") var kubeconfig: String?
        @Flag(inversion: .prefixedNo, help: "Make the new context the current one.") var setCurrent = true

        func run() async throws {
            let options = options.merged(with: parent.options)
            let credentials = try options.credentials()
            guard let profile = credentials.profileName else {
                throw CLIFailure.exit(
                    "clusters kubeconfig needs a profile, since kubectl runs the CLI later without your environment: "
                        + "add one with `cloudfleet auth add-profile token PROFILE_NAME ORGANIZATION_ID TOKEN_ID TOKEN_SECRET`",
                    code: 1)
            }
            let client = try options.client()
            let cluster = try await CLIFailure.wrap { try await client.cluster(id: target.canonical) }
            let entries = KubeconfigEntries(
                clusterID: cluster.id, clusterName: cluster.name, server: cluster.apiEndpoint, caBundle: cluster.caBundle, profile: profile,
                command: Self.pluginCommand(), apiURL: options.apiURL)
            let path = KubeconfigFile.path(explicit: kubeconfig)
            do {
                try KubeconfigFile.update(path: path, entries: entries, setCurrentContext: setCurrent)
            } catch let failure as KubeconfigFile.Failure {
                throw CLIFailure.exit(failure.description, code: 1)
            } catch let failure as SecureFile.Failure {
                throw CLIFailure.exit(failure.description, code: 1)
            }
            print("Context \(entries.context.name) written to \(path)\(setCurrent ? " and made current" : "").")
            print("Kubernetes user: \(TokenID(credentials.tokenID)?.kubernetesUsername ?? "service-account-" + credentials.tokenID.lowercased())")
        }

        /// `cloudfleet` when that name on the PATH is this very program, else this program's absolute path, so the
        /// plugin runs even when the CLI is not on kubectl's PATH.
        static func pluginCommand(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
            let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
            guard let program = Bundle.main.executablePath.map({ URL(fileURLWithPath: $0).resolvingSymlinksInPath().path }) ?? Optional(executable)
            else { return "cloudfleet" }
            for directory in (environment["PATH"] ?? "").split(separator: ":") {
                let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent("cloudfleet")
                if FileManager.default.isExecutableFile(atPath: candidate.path) {
                    return candidate.resolvingSymlinksInPath().path == program ? "cloudfleet" : program
                }
            }
            return program
        }
    }

    struct AuthConfig: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "auth-config",
            abstract: "Print what a cluster's API server needs to accept your tokens, and the RBAC bindings.",
            discussion: """
                --mode webhook: a webhook kubeconfig and kube-apiserver flags; the API server asks Cloudfleet about every \
                new token (revocation within the cache TTL). This issues a new webhook credential for the cluster: the \
                previous one stops working, so apply the new files on every control-plane node. Needs an Administrator token.
                --mode oidc: an AuthenticationConfiguration and the --oidc-* alternative; the API server verifies cluster \
                tokens itself (revocation within the cluster-token lifetime). Needs Cloudfleet served over HTTPS.
                Both print rbac.yaml (administrators → cluster-admin, users → view) and an example RoleBinding.
                With --output-dir the files are written there (credentials with mode 0600) instead of printed.
                """)

        @ParentCommand var parent: Clusters
        @OptionGroup var options: ClientOptions
        @OptionGroup var target: ClusterTarget
        @Option(help: "webhook or oidc.") var mode: String
        @Option(help: "Kubernetes version of the API server, such as 1.33.") var kubernetesVersion = "1.34"
        @Option(help: "Webhook mode: how long the API server caches each answer.") var webhookCacheTtl = "30s"
        @Option(help: "Write the files into this directory instead of printing them.") var outputDir: String?

        func validate() throws {
            guard AuthConfigMode(rawValue: mode) != nil else { throw ValidationError("--mode must be webhook or oidc") }
            guard let version = CloudfleetCLI.AuthConfig.KubernetesVersion(kubernetesVersion), version.minor >= 19 else {
                throw ValidationError("--kubernetes-version must be a version such as 1.34 (1.19 or later)")
            }
            let ttl = webhookCacheTtl.wholeMatch(of: /[0-9]+(s|m)/)
            guard ttl != nil else { throw ValidationError("--webhook-cache-ttl must be a duration such as 30s or 2m") }
        }

        func run() async throws {
            let options = options.merged(with: parent.options)
            let credentials = try options.credentials()
            let client = try options.client()
            let cluster = try await CLIFailure.wrap { try await client.cluster(id: target.canonical) }
            guard let version = CloudfleetCLI.AuthConfig.KubernetesVersion(kubernetesVersion) else { throw ExitCode(64) }
            let config = CloudfleetCLI.AuthConfig(
                cluster: cluster, exampleTokenID: TokenID(credentials.tokenID), kubernetesVersion: version, webhookCacheTTL: webhookCacheTtl)
            let files: [CloudfleetCLI.AuthConfig.File]
            switch AuthConfigMode(rawValue: mode) {
            case .webhook:
                let issued = try await CLIFailure.wrap { try await client.issueWebhookCredential(clusterID: cluster.id) }
                files = try config.webhookFiles(credential: issued.credential)
                FileHandle.standardError.write(
                    Data("A new webhook credential was issued for \(cluster.name); the previous one no longer works.\n".utf8))
            case .oidc:
                if !cluster.issuer.lowercased().hasPrefix("https://") {
                    FileHandle.standardError.write(
                        Data(
                            "warning: the issuer \(cluster.issuer) is not HTTPS; Kubernetes accepts only https issuers. Serve Cloudfleet with --tls-cert and --tls-key (or set --public-url).\n"
                                .utf8))
                }
                files = try config.oidcFiles()
            case nil:
                throw ExitCode(64)
            }
            if let outputDir {
                for file in files {
                    let path = URL(fileURLWithPath: outputDir).appendingPathComponent(file.name).path
                    try CLIFailure.wrap { try SecureFile.write(Data(file.content.utf8), to: path, mode: file.secret ? 0o600 : 0o644) }
                    print("wrote \(path)  (\(file.purpose))")
                }
            } else {
                for file in files {
                    print("# ===== \(file.name): \(file.purpose) =====")
                    print(file.content, terminator: file.content.hasSuffix("\n") ? "" : "\n")
                }
            }
        }
    }

    /// The kubectl credential plugin: prints an ExecCredential holding a cluster token.
    struct ExecCredential: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "exec-credential",
            abstract: "Print a cluster token as a kubectl ExecCredential (run by kubectl; see `clusters kubeconfig`).",
            discussion: """
                Answers from its own cache (~/.cloudfleet/cache, mode 0600) without any network call while the cached \
                token is valid; otherwise exchanges the profile's token for a new cluster token. Errors go to standard \
                error as one line, with a non-zero exit.
                """)

        @ParentCommand var parent: Clusters
        @OptionGroup var options: ClientOptions
        @OptionGroup var target: ClusterTarget

        func run() async throws {
            let options = options.merged(with: parent.options)
            let credentials = try options.credentials()
            let apiVersion = ExecCredentialOutput.requestedAPIVersion()
            let cache = ClusterTokenFileCache(directory: ConfigurationStore().cacheDirectory)
            let clusterID = target.canonical
            if let hit = cache.load(apiURL: credentials.apiURL, tokenID: credentials.tokenID, secret: credentials.tokenSecret, clusterID: clusterID) {
                try ExecCredentialOutput.print(token: hit.token, expiresAt: hit.expiresAt, apiVersion: apiVersion)
                return
            }
            let client = try options.client()
            let issued = try await CLIFailure.wrap { try await client.clusterToken(clusterID: clusterID) }
            cache.store(
                issued.token, issuedAt: Date(), expiresAt: issued.expiresAt, apiURL: credentials.apiURL, tokenID: credentials.tokenID,
                secret: credentials.tokenSecret, clusterID: clusterID)
            try ExecCredentialOutput.print(token: issued.token, expiresAt: issued.expiresAt, apiVersion: apiVersion)
        }
    }
}

/// The characters of base64url: letters, digits, `-` and `_`.
enum Base64URLAlphabet {
    static func contains(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "_"):
            true
        default: false
        }
    }
}

/// `--mode` of `clusters auth-config`.
typealias AuthConfigMode = AuthConfig.Mode

/// The `ExecCredential` client-go reads from a credential plugin.
enum ExecCredentialOutput {
    static let supportedVersions = ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"]

    struct Credential: Encodable {
        struct Status: Encodable {
            let token: String
            let expirationTimestamp: String
        }
        let apiVersion: String
        let kind = "ExecCredential"
        let status: Status
    }

    /// The version kubectl asked for in `KUBERNETES_EXEC_INFO` (answering another one fails), else v1.
    static func requestedAPIVersion(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        struct Info: Decodable { let apiVersion: String? }
        guard let raw = environment["KUBERNETES_EXEC_INFO"], let info = try? JSONDecoder().decode(Info.self, from: Data(raw.utf8)),
            let version = info.apiVersion, supportedVersions.contains(version)
        else { return supportedVersions[0] }
        return version
    }

    static func render(token: String, expiresAt: Date, apiVersion: String) throws -> String {
        let timestamp = expiresAt.formatted(.iso8601)  // RFC 3339, UTC, whole seconds.
        let credential = Credential(apiVersion: apiVersion, status: .init(token: token, expirationTimestamp: timestamp))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(credential), as: UTF8.self)
    }

    /// ``render(token:expiresAt:apiVersion:)`` written out by hand, for the exec plugin's fast path: the same text
    /// for a token of JWT characters (base64url and dots, which JSON needs no escape for) and an expiry in years
    /// 1970-9999; `nil` for anything else.
    static func renderPlain(token: String, expiresAt: Date, apiVersion: String) -> String? {
        let safe = token.utf8.allSatisfy { byte in
            Base64URLAlphabet.contains(byte) || byte == UInt8(ascii: ".")
        }
        guard safe, supportedVersions.contains(apiVersion), let timestamp = UTCTimestamp.format(expiresAt) else { return nil }
        return #"{"apiVersion":""# + apiVersion + #"","kind":"ExecCredential","status":{"expirationTimestamp":""# + timestamp
            + #"","token":""# + token + #""}}"#
    }

    static func print(token: String, expiresAt: Date, apiVersion: String) throws {
        Swift.print(try render(token: token, expiresAt: expiresAt, apiVersion: apiVersion))
    }
}
