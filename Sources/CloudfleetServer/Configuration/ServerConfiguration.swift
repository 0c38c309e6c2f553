import Foundation
import Logging

/// Every setting of `cloudfleet-server`, with its flag, environment variable and default in one place.
public struct ServerConfiguration: Sendable {
    /// Address to listen on. `--host`, `CLOUDFLEET_HOST`; default `127.0.0.1`.
    public var host: String
    /// Port to listen on. `--port`, `CLOUDFLEET_PORT`; default `8080` (`0` picks a free port).
    public var port: Int
    /// Directory for the embedded database and the server key. `--data-dir`, `CLOUDFLEET_DATA_DIR`;
    /// default `~/.local/share/cloudfleet-server`.
    public var dataDirectory: String
    /// Database location. `--database-url`, `CLOUDFLEET_DATABASE_URL`; default `sqlite://<data-dir>/cloudfleet.sqlite`.
    public var databaseURL: String?
    /// The server key, base64 (32 bytes), for several nodes sharing one database. `CLOUDFLEET_SERVER_KEY`;
    /// default: the file `server.key` in the data directory, created on first start.
    public var serverKeyBase64: String?
    /// The public base URL, used as the `iss` of access tokens. `--public-url`, `CLOUDFLEET_PUBLIC_URL`;
    /// default `http://<host>:<port>`.
    public var publicURL: String?
    /// Lifetime of access tokens from `/v1/auth/token`. `--access-token-lifetime` (seconds),
    /// `CLOUDFLEET_ACCESS_TOKEN_LIFETIME`; default 900 (15 minutes).
    public var accessTokenLifetime: TimeInterval
    /// Lifetime of cluster tokens from `/v1/clusters/{id}/token`. `--cluster-token-lifetime` (seconds),
    /// `CLOUDFLEET_CLUSTER_TOKEN_LIFETIME`; default 600 (10 minutes). In OIDC mode it bounds how long a revoked
    /// token keeps working in a cluster.
    public var clusterTokenLifetime: TimeInterval
    /// PEM certificate chain to serve HTTPS with. `--tls-cert`, `CLOUDFLEET_TLS_CERT`; default none (plain HTTP).
    public var tlsCertificatePath: String?
    /// PEM private key of ``tlsCertificatePath``. `--tls-key`, `CLOUDFLEET_TLS_KEY`.
    public var tlsKeyPath: String?
    /// PEM CA bundle that verifies the served certificate, handed to clusters in their authentication
    /// configuration. `--tls-ca`, `CLOUDFLEET_TLS_CA`; default none (clusters use their system roots).
    public var tlsCABundlePath: String?
    /// How long the previous secret of a regenerated token must have been idle, after the new secret was used,
    /// to be retired before its grace period ends. `--previous-secret-idle-retirement` (seconds),
    /// `CLOUDFLEET_PREVIOUS_SECRET_IDLE_RETIREMENT`; default 900 (15 minutes).
    public var previousSecretIdleRetirement: TimeInterval
    /// How often last-use facts are written behind. Default 5 seconds; a token's last use is written at
    /// most once a minute.
    public var usageFlushInterval: TimeInterval
    /// Single sign-on to the web console through an OpenID Connect provider. `--oidc-issuer`, `--oidc-client-id`,
    /// `--oidc-client-secret-file` or `CLOUDFLEET_OIDC_CLIENT_SECRET`; default none (sign-in links only).
    public var consoleSSO: OIDCClientConfiguration?
    /// How long a console session lasts. `--console-session-lifetime` (seconds), `CLOUDFLEET_CONSOLE_SESSION_LIFETIME`;
    /// default 28800 (8 hours).
    public var consoleSessionLifetime: TimeInterval = 8 * 3600
    /// Log level. `--log-level`, `CLOUDFLEET_LOG_LEVEL`; default `info`.
    public var logLevel: Logger.Level

    public init(
        host: String = "127.0.0.1", port: Int = 8080, dataDirectory: String = ServerConfiguration.defaultDataDirectory,
        databaseURL: String? = nil, serverKeyBase64: String? = nil, publicURL: String? = nil,
        accessTokenLifetime: TimeInterval = 900, clusterTokenLifetime: TimeInterval = 600, tlsCertificatePath: String? = nil,
        tlsKeyPath: String? = nil, tlsCABundlePath: String? = nil, previousSecretIdleRetirement: TimeInterval = 900,
        usageFlushInterval: TimeInterval = 5, logLevel: Logger.Level = .info
    ) {
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.databaseURL = databaseURL
        self.serverKeyBase64 = serverKeyBase64
        self.publicURL = publicURL
        self.accessTokenLifetime = accessTokenLifetime
        self.clusterTokenLifetime = clusterTokenLifetime
        self.tlsCertificatePath = tlsCertificatePath
        self.tlsKeyPath = tlsKeyPath
        self.tlsCABundlePath = tlsCABundlePath
        self.previousSecretIdleRetirement = previousSecretIdleRetirement
        self.usageFlushInterval = usageFlushInterval
        self.logLevel = logLevel
    }

    /// `~/.local/share/cloudfleet-server` (or under `$XDG_DATA_HOME`).
    public static var defaultDataDirectory: String {
        let environment = ProcessInfo.processInfo.environment
        if let xdg = environment["XDG_DATA_HOME"], !xdg.isEmpty { return xdg + "/cloudfleet-server" }
        return (environment["HOME"] ?? ".") + "/.local/share/cloudfleet-server"
    }

    /// Whether the server speaks HTTPS.
    public var servesTLS: Bool { tlsCertificatePath != nil }

    /// The issuer written into access and cluster tokens, also the OIDC discovery base URL; without a trailing
    /// slash, since Kubernetes compares it with the `iss` claim byte for byte.
    public var issuer: String {
        if let publicURL { return publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL }
        return "\(servesTLS ? "https" : "http")://\(host):\(port)"
    }
}
