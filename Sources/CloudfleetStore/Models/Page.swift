import CloudfleetCore
import Foundation

/// One page of a keyset-paginated list and where the next page starts.
public struct Page<Item: Sendable, Cursor: Sendable>: Sendable {
    public var items: [Item]
    /// Where the next page starts; `nil` on the last page.
    public var next: Cursor?

    public init(items: [Item], next: Cursor?) {
        self.items = items
        self.next = next
    }
}

/// A position in the token list, ordered by creation time, then ID.
public struct TokenCursor: Sendable, Equatable {
    public var createdAt: Date
    public var id: TokenID

    public init(createdAt: Date, id: TokenID) {
        self.createdAt = createdAt
        self.id = id
    }
}

/// A position in the audit trail, which is listed newest first by its sequence number.
public struct AuditCursor: Sendable, Equatable {
    public var sequence: Int64

    public init(sequence: Int64) {
        self.sequence = sequence
    }
}
