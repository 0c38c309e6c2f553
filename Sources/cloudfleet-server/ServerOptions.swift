import ArgumentParser
import CloudfleetCore
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

    @Option(
        help:
            "Database URL: sqlite://PATH, or postgres://USER:PASSWORD@HOST:PORT/DATABASE[?sslmode=…&pool_max_conns=N]. Env: CLOUDFLEET_DATABASE_URL. Default: sqlite in the data directory."
    )
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

    @Option(
        help:
            "Issuer URL of the OpenID Connect provider people sign in to the console with (https, or http on loopback). Env: CLOUDFLEET_OIDC_ISSUER. Default: none (sign-in links only)."
    )
    var oidcIssuer: String?

    @Option(help: "Client ID registered with the OpenID Connect provider. Env: CLOUDFLEET_OIDC_CLIENT_ID.")
    var oidcClientId: String?

    @Option(
        help: "File holding the client secret registered with the OpenID Connect provider. Env: CLOUDFLEET_OIDC_CLIENT_SECRET (the secret itself)."
    )
    var oidcClientSecretFile: String?

    @Option(help: "Console session lifetime, such as 8h or 3600 (seconds); 5m to 7d. Env: CLOUDFLEET_CONSOLE_SESSION_LIFETIME. Default: 8h.")
    var consoleSessionLifetime: String?

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
        _ = try sessionLifetime()
        _ = try consoleSSO()
    }

    /// The console's single sign-on, checked: an issuer needs a client ID and a client secret, and must be https
    /// unless it is on this machine.
    func consoleSSO() throws -> OIDCClientConfiguration? {
        guard let issuer = env("CLOUDFLEET_OIDC_ISSUER", oidcIssuer) else {
            if env("CLOUDFLEET_OIDC_CLIENT_ID", oidcClientId) != nil {
                throw ValidationError("--oidc-client-id needs --oidc-issuer")
            }
            return nil
        }
        guard let url = URL(string: issuer), let scheme = url.scheme, let host = url.host, url.query == nil, url.fragment == nil,
            scheme == "https" || (scheme == "http" && ["localhost", "127.0.0.1", "::1"].contains(host))
        else {
            throw ValidationError("--oidc-issuer must be an https:// URL (http:// only for localhost), without query or fragment")
        }
        guard let clientID = env("CLOUDFLEET_OIDC_CLIENT_ID", oidcClientId) else {
            throw ValidationError("--oidc-issuer needs --oidc-client-id")
        }
        let secret: String
        if let path = oidcClientSecretFile {
            guard let contents = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ValidationError("--oidc-client-secret-file: cannot read \(path)")
            }
            secret = contents.trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            secret = ProcessInfo.processInfo.environment["CLOUDFLEET_OIDC_CLIENT_SECRET"] ?? ""
        }
        guard !secret.isEmpty else {
            throw ValidationError("--oidc-issuer needs a client secret: --oidc-client-secret-file PATH or CLOUDFLEET_OIDC_CLIENT_SECRET")
        }
        return OIDCClientConfiguration(issuer: issuer, clientID: clientID, clientSecret: secret)
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
        configuration.consoleSSO = try consoleSSO()
        if let lifetime = try sessionLifetime() { configuration.consoleSessionLifetime = lifetime }
        return configuration
    }

    private func sessionLifetime() throws -> TimeInterval? {
        guard let text = env("CLOUDFLEET_CONSOLE_SESSION_LIFETIME", consoleSessionLifetime) else { return nil }
        guard let duration = DurationText(text), (300...604_800).contains(duration.seconds) else {
            throw ValidationError("--console-session-lifetime must be a duration from 5m to 7d, such as 8h")
        }
        return duration.timeInterval
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
