import Foundation
import NIOSSL
import PostgresNIO

/// Reads `postgres://user:password@host:port/database?sslmode=…&pool_max_conns=…` into a client configuration.
///
/// `sslmode`: `disable`; `prefer` (the default, as in libpq: TLS when the server offers it, certificate not
/// checked); `require`, `verify-ca` or `verify-full` (TLS, and the certificate must be valid for the host and
/// signed by the system trust store or by `sslrootcert=PATH`; stricter than libpq's `require`).
///
/// `pool_max_conns` (named as in pgx): the most connections the node opens, ``poolSizes`` (default 20). The
/// revocation feed's `LISTEN` keeps one of them, so at least two.
public enum PostgresURL {
    /// The sizes `pool_max_conns` may take.
    public static let poolSizes = 2...500
    /// The pool's size when the URL does not set `pool_max_conns`.
    public static let defaultPoolSize = 20

    /// Why the URL cannot be used; never repeats the password.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public static func configuration(_ string: String) throws -> PostgresClient.Configuration {
        guard let components = URLComponents(string: string), ["postgres", "postgresql"].contains(components.scheme ?? ""),
            let host = components.host, !host.isEmpty
        else { throw Failure(description: "the database URL must look like postgres://USER:PASSWORD@HOST:PORT/DATABASE") }
        let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
        if let root = query["sslrootcert"] {
            tlsConfiguration.trustRoots = .file(root)
        }
        let tls: PostgresClient.Configuration.TLS
        switch query["sslmode"] ?? "prefer" {
        case "disable": tls = .disable
        case "prefer", "allow":
            // As libpq does: encrypt when the server offers TLS, without checking whom the certificate names.
            var opportunistic = tlsConfiguration
            opportunistic.certificateVerification = .none
            tls = .prefer(opportunistic)
        case "require", "verify-ca", "verify-full": tls = .require(tlsConfiguration)
        case let other: throw Failure(description: "unsupported sslmode \(other); use disable, prefer or require")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        var configuration = PostgresClient.Configuration(
            host: host, port: components.port ?? 5432, username: components.user ?? "postgres", password: components.password,
            database: database.isEmpty ? nil : database, tls: tls)
        configuration.options.connectTimeout = .seconds(5)
        // Each time a connection goes idle the pool starts timers for its idle timeout and keep-alive and cancels
        // them when the connection is leased again, often after a single query. A cancelled `Task.sleep` still holds
        // its memory until its deadline would have passed (Swift 6.3 on Linux; with the pool's timer task, about 800
        // bytes per idle period as measured), so memory grows with the query rate times the idle timeout: with the
        // defaults (60 s and 30 s), 100–150 MB at a few thousand queries a second. Idle connections therefore close
        // after 15 s, the shortest that outlasts the 10 s operation deadline and the 3 s probe after it (that probe
        // should find an open connection rather than connect to a struggling database, docs/decisions.md). As no
        // connection stays idle long enough for a network to drop it, the keep-alive query is off; one that died
        // anyway fails its next query, which the store's recovery handles.
        configuration.options.connectionIdleTimeout = .seconds(15)
        configuration.options.keepAliveBehavior = nil
        configuration.options.maximumConnections = defaultPoolSize
        if let size = query["pool_max_conns"] {
            guard let size = Int(size), poolSizes.contains(size) else {
                throw Failure(
                    description:
                        "pool_max_conns must be a whole number from \(poolSizes.lowerBound) to \(poolSizes.upperBound) (default \(defaultPoolSize))")
            }
            configuration.options.maximumConnections = size
        }
        return configuration
    }
}
