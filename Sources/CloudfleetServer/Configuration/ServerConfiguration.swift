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
    /// How often last-use facts are written behind. Default 5 seconds; a token's last use is written at
    /// most once a minute.
    public var usageFlushInterval: TimeInterval
    /// Log level. `--log-level`, `CLOUDFLEET_LOG_LEVEL`; default `info`.
    public var logLevel: Logger.Level

    public init(
        host: String = "127.0.0.1", port: Int = 8080, dataDirectory: String = ServerConfiguration.defaultDataDirectory,
        databaseURL: String? = nil, serverKeyBase64: String? = nil, publicURL: String? = nil,
        accessTokenLifetime: TimeInterval = 900, usageFlushInterval: TimeInterval = 5, logLevel: Logger.Level = .info
    ) {
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.databaseURL = databaseURL
        self.serverKeyBase64 = serverKeyBase64
        self.publicURL = publicURL
        self.accessTokenLifetime = accessTokenLifetime
        self.usageFlushInterval = usageFlushInterval
        self.logLevel = logLevel
    }

    /// `~/.local/share/cloudfleet-server` (or under `$XDG_DATA_HOME`).
    public static var defaultDataDirectory: String {
        let environment = ProcessInfo.processInfo.environment
        if let xdg = environment["XDG_DATA_HOME"], !xdg.isEmpty { return xdg + "/cloudfleet-server" }
        return (environment["HOME"] ?? ".") + "/.local/share/cloudfleet-server"
    }

    /// The issuer written into access tokens.
    public var issuer: String { publicURL ?? "http://\(host):\(port)" }
}
