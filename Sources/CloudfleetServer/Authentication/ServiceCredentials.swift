import CloudfleetCore
import CloudfleetStore
import Foundation
import HTTPTypes
import HummingbirdAuth
import Synchronization

/// Checks the credentials of services (secret scanners, metrics scrapers) against the stored digests, read from
/// the store at most every few seconds.
final class ServiceCredentials: Sendable {
    private struct Snapshot {
        var records: [ServiceCredentialRecord]
        var loadedAt: Date
    }

    private let snapshot = Mutex<Snapshot?>(nil)
    private let store: any Store
    private let hasher: SecretHasher
    private let clock: @Sendable () -> Date
    private let timeToLive: TimeInterval = 5

    init(store: any Store, hasher: SecretHasher, clock: @escaping @Sendable () -> Date) {
        self.store = store
        self.hasher = hasher
        self.clock = clock
    }

    /// The service whose `kind` credential is the request's bearer token, or a 401.
    func authenticate(_ headers: HTTPFields, kind: ServiceCredential.Kind) async throws -> ServiceCredentialRecord {
        let refused = APIError(
            .unauthorized, code: "unauthorized", message: "Unauthorized: present a \(kind.rawValue) service credential as a bearer token.",
            headers: [.wwwAuthenticate: "Bearer realm=\"cloudfleet-service\""])
        guard let bearer = headers.bearer, let credential = try? ServiceCredential(parsing: bearer.token) else { throw refused }
        let now = clock()
        var records = snapshot.withLock { snapshot in
            snapshot.flatMap { now.timeIntervalSince($0.loadedAt) < timeToLive && $0.loadedAt <= now ? $0.records : nil }
        }
        if records == nil {
            let fresh = try await store.serviceCredentials()
            snapshot.withLock { $0 = Snapshot(records: fresh, loadedAt: now) }
            records = fresh
        }
        // Every record is compared, in constant time each, so timing says nothing about which one matched.
        var match: ServiceCredentialRecord?
        for record in records ?? [] where hasher.verify(credential, against: record.digest) && record.kind == kind {
            match = record
        }
        guard let match else { throw refused }
        return match
    }
}
