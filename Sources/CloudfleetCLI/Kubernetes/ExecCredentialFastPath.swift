import CloudfleetClient
import CloudfleetCore
import Foundation

/// The usual run of the kubectl credential plugin, answered before anything else is set up.
///
/// kubectl starts the plugin for every command, and nearly every run is a cache hit: a file read and a few lines
/// of JSON. Most of such a run used to go to starting the command-line parser (which builds the whole command
/// tree by reflection), the concurrency runtime, Codable and Foundation's date formats. This path recognises
/// exactly the arguments `cloudfleet clusters kubeconfig` writes (`clusters exec-credential CLUSTER_ID --profile P
/// [--api-url URL]`), resolves the credentials as the full command does, reads the cache entry with
/// ``ClusterTokenFileCache/loadPlain(apiURL:tokenID:secret:clusterID:now:)`` (the same hit rule) and writes the
/// ExecCredential with ``ExecCredentialOutput/renderPlain(token:expiresAt:apiVersion:)`` (the same text). Anything
/// else (other arguments, no credentials, a miss, an entry in another form) answers `nil`, and the full command
/// runs as before, with its own errors.
public enum ExecCredentialFastPath {
    /// The ExecCredential to print for `arguments` (without the program name), or `nil` to run the full command.
    public static func answer(arguments: [String], environment: [String: String]? = nil, now: Date = Date()) -> String? {
        guard let request = Request(arguments), let clusterID = ClusterID(request.clusterID) else { return nil }
        let environment = environment ?? relevantEnvironment()
        let store = ConfigurationStore(environment: environment)
        guard let configuration = store.loadPlain(),
            let credentials = try? CredentialResolver.resolve(
                profile: request.profile, apiURL: request.apiURL, configuration: configuration, environment: environment)
        else { return nil }
        let cache = ClusterTokenFileCache(directory: store.cacheDirectory)
        guard
            let hit = cache.loadPlain(
                apiURL: credentials.apiURL, tokenID: credentials.tokenID, secret: credentials.tokenSecret, clusterID: clusterID.description,
                now: now)
        else { return nil }
        return ExecCredentialOutput.renderPlain(
            token: hit.token, expiresAt: hit.expiresAt, apiVersion: ExecCredentialOutput.requestedAPIVersion(environment: environment))
    }

    /// The variables the command reads (`CLOUDFLEET_*`, `HOME`, `KUBERNETES_EXEC_INFO`), taken from the process
    /// environment without converting all the others, which `ProcessInfo` would.
    static func relevantEnvironment() -> [String: String] {
        #if canImport(Glibc)
        var environment: [String: String] = [:]
        var entry = environ
        while let pointer = entry.pointee {
            if strncmp(pointer, "CLOUDFLEET_", 11) == 0 || strncmp(pointer, "HOME=", 5) == 0 || strncmp(pointer, "KUBERNETES_EXEC_INFO=", 21) == 0 {
                let text = String(cString: pointer)
                if let equals = text.firstIndex(of: "=") {
                    environment[String(text[..<equals])] = String(text[text.index(after: equals)...])
                }
            }
            entry += 1
        }
        return environment
        #else
        return ProcessInfo.processInfo.environment
        #endif
    }

    /// `clusters exec-credential CLUSTER_ID` followed by `--profile P` and `--api-url URL` (each at most once, as
    /// `--flag value` or `--flag=value`), and nothing else.
    struct Request: Equatable {
        var clusterID: String
        var profile: String?
        var apiURL: String?

        init?(_ arguments: [String]) {
            guard arguments.count >= 3, arguments[0] == "clusters", arguments[1] == "exec-credential", !arguments[2].hasPrefix("-") else {
                return nil
            }
            clusterID = arguments[2]
            var rest = arguments[3...]
            while let word = rest.popFirst() {
                let name: Substring
                let value: String
                if let equals = word.firstIndex(of: "=") {
                    name = word[..<equals]
                    value = String(word[word.index(after: equals)...])
                } else {
                    guard let next = rest.popFirst() else { return nil }
                    name = word[...]
                    value = next
                }
                // A value that looks like an option is left to the full parser, which says what is wrong.
                guard !value.isEmpty, !value.hasPrefix("-") else { return nil }
                switch name {
                case "--profile" where profile == nil: profile = value
                case "--api-url" where apiURL == nil: apiURL = value
                default: return nil
                }
            }
        }
    }
}
