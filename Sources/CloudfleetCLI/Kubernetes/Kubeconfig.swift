import CloudfleetClient
import Foundation
import Yams

/// The entries `cloudfleet clusters kubeconfig` adds to a kubeconfig: a cluster, a user that runs this CLI as an
/// exec credential plugin, and a context joining them.
struct KubeconfigEntries: Equatable {
    struct NamedCluster: Encodable, Equatable {
        struct Cluster: Encodable, Equatable {
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

    struct NamedUser: Encodable, Equatable {
        struct User: Encodable, Equatable {
            let exec: ExecConfig
        }

        let name: String
        let user: User
    }

    /// client-go's `ExecConfig` (`client.authentication.k8s.io/v1`): `interactiveMode` is required there.
    struct ExecConfig: Encodable, Equatable {
        let apiVersion: String
        let command: String
        let args: [String]
        let interactiveMode: String
        let provideClusterInfo: Bool
        let installHint: String
    }

    struct NamedContext: Encodable, Equatable {
        struct Context: Encodable, Equatable {
            let cluster: String
            let user: String
        }

        let name: String
        let context: Context
    }

    let cluster: NamedCluster
    let user: NamedUser
    let context: NamedContext

    static let execAPIVersion = "client.authentication.k8s.io/v1"

    /// The entries for cluster `clusterID` named `clusterName`, used through `profile`.
    init(
        clusterID: String, clusterName: String, server: String, caBundle: String?, profile: String, command: String, apiURL: String?
    ) {
        let clusterEntry = "cloudfleet-\(clusterName)-\(clusterID.prefix(8))"
        let userEntry = "\(clusterEntry)-\(profile)"
        cluster = NamedCluster(
            name: clusterEntry,
            cluster: .init(server: server, certificateAuthorityData: caBundle.map { Data($0.utf8).base64EncodedString() }))
        var args = ["clusters", "exec-credential", clusterID, "--profile", profile]
        if let apiURL { args += ["--api-url", apiURL] }
        user = NamedUser(
            name: userEntry,
            user: .init(
                exec: ExecConfig(
                    apiVersion: Self.execAPIVersion, command: command, args: args, interactiveMode: "Never", provideClusterInfo: false,
                    installHint: """
                        The Cloudfleet CLI (cloudfleet) authenticates you to this cluster. Install it, make sure it is on your PATH, \
                        and add the profile with `cloudfleet auth add-profile token \(profile) ORGANIZATION_ID TOKEN_ID TOKEN_SECRET`.
                        """)))
        context = NamedContext(name: userEntry, context: .init(cluster: clusterEntry, user: userEntry))
    }
}

/// Reading, merging and writing kubeconfig files without ever dropping what is already in them.
enum KubeconfigFile {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The file to change: `--kubeconfig`, else the first file of `$KUBECONFIG`, else `~/.kube/config` (kubectl's
    /// order).
    static func path(explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let list = environment["KUBECONFIG"], let first = list.split(separator: ":").first(where: { !$0.isEmpty }) {
            return String(first)
        }
        return (environment["HOME"] ?? NSHomeDirectory()) + "/.kube/config"
    }

    /// `existing` (the file's text, or `nil` when there is none) with `entries` added or replaced by name, and
    /// the current context set to theirs. Every other entry, field and preference is kept.
    static func merge(existing: String?, entries: KubeconfigEntries, setCurrentContext: Bool) throws -> String {
        var root: Node.Mapping
        let text = existing ?? ""
        if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            root = Node.Mapping([])
        } else {
            let parsed: Node?
            do {
                parsed = try Yams.compose(yaml: text)
            } catch {
                throw Failure(description: "it is not valid YAML")
            }
            guard let mapping = parsed?.mapping else { throw Failure(description: "it is not a kubeconfig (a YAML mapping)") }
            root = mapping
        }
        if root["apiVersion"] == nil { root["apiVersion"] = Node("v1") }
        if root["kind"] == nil { root["kind"] = Node("Config") }
        try upsert(entries.cluster, name: entries.cluster.name, into: "clusters", of: &root)
        try upsert(entries.user, name: entries.user.name, into: "users", of: &root)
        try upsert(entries.context, name: entries.context.name, into: "contexts", of: &root)
        if setCurrentContext || root["current-context"]?.string?.isEmpty != false {
            root["current-context"] = Node(entries.context.name)
        }
        return try Yams.serialize(node: .mapping(root))
    }

    private static func upsert(_ entry: some Encodable, name: String, into key: String, of root: inout Node.Mapping) throws {
        guard let node = try Yams.compose(yaml: YAMLEncoder().encode(entry)) else { return }
        var list: [Node]
        switch root[key] {
        case nil, .scalar?:  // absent or `null`
            list = []
        case .sequence(let sequence)?:
            list = Array(sequence)
        case .mapping?, .alias?:
            throw Failure(description: "its \(key) is not a list")
        }
        if let index = list.firstIndex(where: { $0.mapping?["name"]?.string == name }) {
            list[index] = node
        } else {
            list.append(node)
        }
        root[key] = .sequence(Node.Sequence(list))
    }

    /// Reads `path`, merges `entries` and writes the result atomically with mode 0600. A symbolic link (a
    /// kubeconfig kept with other dotfiles) is followed, as kubectl does, and stays a link.
    static func update(path link: String, entries: KubeconfigEntries, setCurrentContext: Bool) throws {
        let path = URL(fileURLWithPath: link).resolvingSymlinksInPath().path
        let existing: String?
        if FileManager.default.fileExists(atPath: path) {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw Failure(description: "cannot read \(path)")
            }
            existing = text
        } else {
            existing = nil
        }
        let merged: String
        do {
            merged = try merge(existing: existing, entries: entries, setCurrentContext: setCurrentContext)
        } catch let failure as Failure {
            throw Failure(description: "\(path) was left unchanged: \(failure.description)")
        }
        try SecureFile.write(Data(merged.utf8), to: path)
    }
}
