import CloudfleetCore
import Crypto
import Foundation

/// Access tokens cached on disk (mode 0600) until shortly before they expire, one file per API address, token
/// ID and secret, so a regenerated secret never reuses an old token and nothing in the file name reveals the
/// secret.
public struct AccessTokenFileCache: Sendable {
    struct Entry: Codable {
        let accessToken: String
        let expiresAt: Date

        enum CodingKeys: String, CodingKey {
            case accessToken = "access_token"
            case expiresAt = "expires_at"
        }
    }

    let directory: String
    /// How long before expiry a cached token is no longer used.
    let margin: TimeInterval

    public init(directory: String, margin: TimeInterval = 60) {
        self.directory = directory
        self.margin = margin
    }

    func path(apiURL: String, tokenID: String, secret: String) -> String {
        directory + "/access-token-\(Hex.lowercase(SHA256.hash(data: Array("\(apiURL)\n\(tokenID)\n\(secret)".utf8)).prefix(16))).json"
    }

    func load(apiURL: String, tokenID: String, secret: String, now: Date = Date()) -> String? {
        guard let data = SecureFile.read(path(apiURL: apiURL, tokenID: tokenID, secret: secret)),
            let entry = try? JSONDecoder.iso8601.decode(Entry.self, from: data),
            entry.expiresAt.timeIntervalSince(now) > margin
        else { return nil }
        return entry.accessToken
    }

    func store(_ accessToken: String, expiresAt: Date, apiURL: String, tokenID: String, secret: String) {
        guard let data = try? JSONEncoder.iso8601.encode(Entry(accessToken: accessToken, expiresAt: expiresAt)) else { return }
        // A cache that cannot be written only costs a token exchange next time.
        try? SecureFile.write(data, to: path(apiURL: apiURL, tokenID: tokenID, secret: secret))
    }

    /// Deletes the cached access token of these credentials, if any.
    public func forget(apiURL: String, tokenID: String, secret: String) {
        remove(apiURL: apiURL, tokenID: tokenID, secret: secret)
    }

    func remove(apiURL: String, tokenID: String, secret: String) {
        try? FileManager.default.removeItem(atPath: path(apiURL: apiURL, tokenID: tokenID, secret: secret))
    }
}

extension JSONDecoder {
    static var iso8601: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}

extension JSONEncoder {
    static var iso8601: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }
}
