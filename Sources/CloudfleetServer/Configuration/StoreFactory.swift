import CloudfleetStore
import CloudfleetStorePostgres
import CloudfleetStoreSQLite
import Foundation
import Logging

/// The composition root's choice of store backend, from `--database-url`.
public enum StoreFactory {
    /// Why the database URL cannot be used.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Opens and migrates the configured store: `postgres://USER:PASSWORD@HOST:PORT/DATABASE[?sslmode=…]`,
    /// `sqlite://PATH` (or `sqlite:PATH`) or, by default, the SQLite file `cloudfleet.sqlite` in the data directory.
    public static func open(configuration: ServerConfiguration, logger: Logger) async throws -> any Store {
        let path: String
        switch configuration.databaseURL {
        case nil:
            try DataDirectory.ensure(configuration.dataDirectory)
            path = configuration.dataDirectory + "/cloudfleet.sqlite"
        case let url? where url.hasPrefix("sqlite://"):
            path = String(url.dropFirst("sqlite://".count))
        case let url? where url.hasPrefix("sqlite:"):
            path = String(url.dropFirst("sqlite:".count))
        case let url? where url.hasPrefix("postgres://") || url.hasPrefix("postgresql://"):
            let store: PostgresStore
            do {
                store = try PostgresStore.connect(url: url, logger: logger)
            } catch let error as PostgresURL.Failure {
                throw Failure(description: error.description)
            }
            do {
                try await store.migrate()
            } catch {
                try? await store.close()
                throw error
            }
            return store
        case let url?:
            throw Failure(
                description:
                    "unsupported database URL scheme in \(url.prefix(while: { $0 != ":" })):…; use sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE"
            )
        }
        guard !path.isEmpty else { throw Failure(description: "the sqlite:// URL names no file") }
        let store = try await SQLiteStore.open(path: path, logger: logger)
        try await store.migrate()
        return store
    }
}
