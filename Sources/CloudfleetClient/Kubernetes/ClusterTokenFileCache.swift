import CloudfleetAPI
import CloudfleetCore
import Crypto
import Foundation

/// Cluster tokens cached on disk for the kubectl credential plugin, one 0600 file per API address, token ID,
/// secret and cluster. kubectl starts the plugin for every command and keeps nothing between runs, so this
/// cache is what makes the plugin's usual path a file read with no network at all.
///
/// A token is used until shortly before it expires: a fifth of its lifetime, at most a minute. The file name is
/// a hash, so it reveals neither the secret nor which cluster it is for, and a changed secret never reuses an
/// old entry.
public struct ClusterTokenFileCache: Sendable {
    struct Entry: Codable {
        let token: String
        let issuedAt: Date
        let expiresAt: Date

        enum CodingKeys: String, CodingKey {
            case token
            case issuedAt = "issued_at"
            case expiresAt = "expires_at"
        }
    }

    /// A cached cluster token.
    public struct Hit: Sendable, Equatable {
        public let token: String
        public let expiresAt: Date
    }

    let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    func path(apiURL: String, tokenID: String, secret: String, clusterID: String) -> String {
        let material = "cluster-token\n\(apiURL)\n\(tokenID)\n\(secret)\n\(clusterID.lowercased())"
        return directory + "/cluster-token-\(Hex.lowercase(SHA256.hash(data: Array(material.utf8)).prefix(16))).json"
    }

    /// The cached token, if it is not about to expire.
    public func load(apiURL: String, tokenID: String, secret: String, clusterID: String, now: Date = Date()) -> Hit? {
        guard let data = SecureFile.read(path(apiURL: apiURL, tokenID: tokenID, secret: secret, clusterID: clusterID)),
            let entry = try? JSONDecoder.iso8601.decode(Entry.self, from: data)
        else { return nil }
        return Self.hit(entry, now: now)
    }

    /// ``load(apiURL:tokenID:secret:clusterID:now:)`` without Codable or Foundation's date formats, for the exec
    /// plugin's fast path: it reads exactly what ``store(_:issuedAt:expiresAt:apiURL:tokenID:secret:clusterID:)``
    /// writes and answers `nil` for anything else, which ``load(apiURL:tokenID:secret:clusterID:now:)`` then decides.
    public func loadPlain(apiURL: String, tokenID: String, secret: String, clusterID: String, now: Date = Date()) -> Hit? {
        guard let data = SecureFile.read(path(apiURL: apiURL, tokenID: tokenID, secret: secret, clusterID: clusterID)),
            let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
            let token = object[Entry.CodingKeys.token.rawValue] as? String,
            let issuedAt = (object[Entry.CodingKeys.issuedAt.rawValue] as? String).flatMap(UTCTimestamp.parse),
            let expiresAt = (object[Entry.CodingKeys.expiresAt.rawValue] as? String).flatMap(UTCTimestamp.parse)
        else { return nil }
        return Self.hit(Entry(token: token, issuedAt: issuedAt, expiresAt: expiresAt), now: now)
    }

    /// The entry's token, unless it is about to expire (or claims to be issued in the future).
    private static func hit(_ entry: Entry, now: Date) -> Hit? {
        let margin = min(60, max(0, entry.expiresAt.timeIntervalSince(entry.issuedAt)) / 5)
        guard entry.expiresAt.timeIntervalSince(now) > margin, entry.issuedAt <= now.addingTimeInterval(300) else { return nil }
        return Hit(token: entry.token, expiresAt: entry.expiresAt)
    }

    /// Keeps `token` for later runs; a cache that cannot be written only costs an exchange next time.
    public func store(
        _ token: String, issuedAt: Date, expiresAt: Date, apiURL: String, tokenID: String, secret: String, clusterID: String
    ) {
        guard let data = try? JSONEncoder.iso8601.encode(Entry(token: token, issuedAt: issuedAt, expiresAt: expiresAt)) else { return }
        try? SecureFile.write(data, to: path(apiURL: apiURL, tokenID: tokenID, secret: secret, clusterID: clusterID))
    }
}
