import ArgumentParser
import CloudfleetServer
import Foundation
import Logging

/// Options shared by `serve` and `admin`: where the data lives. Each flag falls back to its `CLOUDFLEET_*`
/// environment variable, then to the default of ``ServerConfiguration``.
struct ServerOptions: ParsableArguments {
    @Option(help: "Address to listen on. Env: CLOUDFLEET_HOST. Default: 127.0.0.1.")
    var host: String?

    @Option(help: "Port to listen on (0 picks a free port). Env: CLOUDFLEET_PORT. Default: 8080.")
    var port: Int?

    @Option(help: "Directory for the embedded database and the server key. Env: CLOUDFLEET_DATA_DIR. Default: ~/.local/share/cloudfleet-server.")
    var dataDir: String?

    @Option(help: "Database URL: sqlite://PATH. Env: CLOUDFLEET_DATABASE_URL. Default: sqlite in the data directory.")
    var databaseURL: String?

    @Option(help: "Public base URL, used as the access-token issuer. Env: CLOUDFLEET_PUBLIC_URL. Default: http://HOST:PORT.")
    var publicURL: String?

    @Option(help: "Access-token lifetime in seconds. Env: CLOUDFLEET_ACCESS_TOKEN_LIFETIME. Default: 900.")
    var accessTokenLifetime: Int?

    @Option(help: "Cluster-token lifetime in seconds. Env: CLOUDFLEET_CLUSTER_TOKEN_LIFETIME. Default: 600.")
    var clusterTokenLifetime: Int?

    @Option(
        help:
            "Seconds the previous secret of a token regenerated with a grace period must be idle, after the new one was used, to be retired early. Env: CLOUDFLEET_PREVIOUS_SECRET_IDLE_RETIREMENT. Default: 900."
    )
    var previousSecretIdleRetirement: Int?

    @Option(help: "PEM certificate chain to serve HTTPS with. Env: CLOUDFLEET_TLS_CERT. Default: plain HTTP.")
    var tlsCert: String?

    @Option(help: "PEM private key of --tls-cert. Env: CLOUDFLEET_TLS_KEY.")
    var tlsKey: String?

    @Option(help: "PEM CA bundle that verifies --tls-cert, handed to clusters by `cloudfleet clusters auth-config`. Env: CLOUDFLEET_TLS_CA.")
    var tlsCa: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical. Env: CLOUDFLEET_LOG_LEVEL. Default: info.")
    var logLevel: String?

    func validate() throws {
        if let port = try resolvedPort(), !(0...65535).contains(port) { throw ValidationError("--port must be from 0 to 65535") }
        if let lifetime = try resolvedLifetime(), !(60...86_400).contains(lifetime) {
            throw ValidationError("--access-token-lifetime must be from 60 to 86400 seconds")
        }
        if let lifetime = try integer("CLOUDFLEET_CLUSTER_TOKEN_LIFETIME", clusterTokenLifetime), !(60...3600).contains(lifetime) {
            throw ValidationError("--cluster-token-lifetime must be from 60 to 3600 seconds")
        }
        if let idle = try integer("CLOUDFLEET_PREVIOUS_SECRET_IDLE_RETIREMENT", previousSecretIdleRetirement), !(60...604_800).contains(idle) {
            throw ValidationError("--previous-secret-idle-retirement must be from 60 to 604800 seconds")
        }
        if (env("CLOUDFLEET_TLS_CERT", tlsCert) == nil) != (env("CLOUDFLEET_TLS_KEY", tlsKey) == nil) {
            throw ValidationError("--tls-cert and --tls-key go together: give both or neither")
        }
        if let level = env("CLOUDFLEET_LOG_LEVEL", logLevel), Logger.Level(rawValue: level) == nil {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
    }

    /// The configuration these options describe.
    func configuration() throws -> ServerConfiguration {
        var configuration = ServerConfiguration()
        if let host = env("CLOUDFLEET_HOST", host) { configuration.host = host }
        if let port = try resolvedPort() { configuration.port = port }
        if let dataDir = env("CLOUDFLEET_DATA_DIR", dataDir) { configuration.dataDirectory = dataDir }
        configuration.databaseURL = env("CLOUDFLEET_DATABASE_URL", databaseURL)
        configuration.publicURL = env("CLOUDFLEET_PUBLIC_URL", publicURL)
        configuration.serverKeyBase64 = ProcessInfo.processInfo.environment["CLOUDFLEET_SERVER_KEY"]
        if let lifetime = try resolvedLifetime() { configuration.accessTokenLifetime = TimeInterval(lifetime) }
        if let lifetime = try integer("CLOUDFLEET_CLUSTER_TOKEN_LIFETIME", clusterTokenLifetime) {
            configuration.clusterTokenLifetime = TimeInterval(lifetime)
        }
        if let idle = try integer("CLOUDFLEET_PREVIOUS_SECRET_IDLE_RETIREMENT", previousSecretIdleRetirement) {
            configuration.previousSecretIdleRetirement = TimeInterval(idle)
        }
        configuration.tlsCertificatePath = env("CLOUDFLEET_TLS_CERT", tlsCert)
        configuration.tlsKeyPath = env("CLOUDFLEET_TLS_KEY", tlsKey)
        configuration.tlsCABundlePath = env("CLOUDFLEET_TLS_CA", tlsCa)
        if let level = env("CLOUDFLEET_LOG_LEVEL", logLevel).flatMap(Logger.Level.init(rawValue:)) { configuration.logLevel = level }
        return configuration
    }

    private func resolvedPort() throws -> Int? {
        try integer("CLOUDFLEET_PORT", port)
    }

    private func resolvedLifetime() throws -> Int? {
        try integer("CLOUDFLEET_ACCESS_TOKEN_LIFETIME", accessTokenLifetime)
    }

    private func integer(_ variable: String, _ flag: Int?) throws -> Int? {
        if let flag { return flag }
        guard let raw = ProcessInfo.processInfo.environment[variable], !raw.isEmpty else { return nil }
        guard let value = Int(raw) else { throw ValidationError("\(variable) must be a whole number") }
        return value
    }

    private func env(_ variable: String, _ flag: String?) -> String? {
        if let flag { return flag }
        guard let value = ProcessInfo.processInfo.environment[variable], !value.isEmpty else { return nil }
        return value
    }
}
