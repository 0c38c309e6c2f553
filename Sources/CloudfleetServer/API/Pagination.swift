import CloudfleetCore
import CloudfleetStore
import Foundation
import Hummingbird

/// Query parameters `limit` (1–200, default 50) and `cursor` (opaque, from a previous page's `next_cursor`).
struct Pagination {
    static let defaultLimit = 50
    static let maximumLimit = 200

    let limit: Int
    let cursor: String?

    init(_ request: Request) throws {
        let query = request.uri.queryParameters
        if let raw = query["limit"] {
            guard let limit = Int(String(raw)), (1...Self.maximumLimit).contains(limit) else {
                throw APIError.badRequest("limit must be a whole number from 1 to \(Self.maximumLimit).", field: "limit", code: "invalid_field")
            }
            self.limit = limit
        } else {
            self.limit = Self.defaultLimit
        }
        self.cursor = query["cursor"].map(String.init)
    }

    private static let invalidCursor = APIError.badRequest("cursor is not a cursor this list returned.", field: "cursor", code: "invalid_field")

    /// The token cursor: base64url of `<created_at microseconds>:<token id>`.
    func tokenCursor() throws -> TokenCursor? {
        try creationCursor(TokenID.init).map { TokenCursor(createdAt: $0.createdAt, id: $0.id) }
    }

    static func encode(_ cursor: TokenCursor?) -> String? {
        cursor.map { encodeCreation($0.createdAt, $0.id.rawValue) }
    }

    /// The cluster cursor: base64url of `<created_at microseconds>:<cluster id>`.
    func clusterCursor() throws -> ClusterCursor? {
        try creationCursor(ClusterID.init).map { ClusterCursor(createdAt: $0.createdAt, id: $0.id) }
    }

    static func encode(_ cursor: ClusterCursor?) -> String? {
        cursor.map { encodeCreation($0.createdAt, $0.id.description) }
    }

    /// A position in a list ordered by creation time, then ID.
    private func creationCursor<ID>(_ parseID: (String) -> ID?) throws -> (createdAt: Date, id: ID)? {
        guard let cursor else { return nil }
        guard let bytes = Base64URL.decode(cursor) else { throw Self.invalidCursor }
        let parts = String(decoding: bytes, as: UTF8.self).split(separator: ":", maxSplits: 1)
        guard parts.count == 2, let micros = Int64(parts[0]), let id = parseID(String(parts[1])) else { throw Self.invalidCursor }
        return (Date(timeIntervalSince1970: Double(micros) / 1_000_000), id)
    }

    private static func encodeCreation(_ createdAt: Date, _ id: String) -> String {
        Base64URL.encode(Array("\(Int64((createdAt.timeIntervalSince1970 * 1_000_000).rounded())):\(id)".utf8))
    }

    /// The audit cursor: base64url of the event's sequence number.
    func auditCursor() throws -> AuditCursor? {
        guard let cursor else { return nil }
        guard let bytes = Base64URL.decode(cursor), let sequence = Int64(String(decoding: bytes, as: UTF8.self)), sequence > 0 else {
            throw Self.invalidCursor
        }
        return AuditCursor(sequence: sequence)
    }

    static func encode(_ cursor: AuditCursor?) -> String? {
        cursor.map { Base64URL.encode(Array(String($0.sequence).utf8)) }
    }
}
