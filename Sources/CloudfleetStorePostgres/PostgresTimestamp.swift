import Foundation
import NIOCore
import PostgresNIO

/// A time bound as `timestamptz`, rounded to the nearest microsecond. postgres-nio's own `Date` encoding truncates,
/// which stores some times a microsecond early (and a time read back can then be bound a microsecond earlier
/// still), breaking the microsecond round trip and exact comparisons such as keyset cursors and expiry windows.
struct PostgresTimestamp: PostgresNonThrowingEncodable, Sendable {
    /// Microseconds since 2000-01-01 00:00 UTC, PostgreSQL's epoch.
    let microseconds: Int64

    private static let epoch = Date(timeIntervalSince1970: 946_684_800)

    init(_ date: Date) {
        self.microseconds = Int64((date.timeIntervalSince(Self.epoch) * 1_000_000).rounded())
    }

    static var psqlType: PostgresDataType { .timestamptz }
    static var psqlFormat: PostgresFormat { .binary }

    func encode<JSONEncoder: PostgresJSONEncoder>(into byteBuffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        byteBuffer.writeInteger(microseconds)
    }
}

extension Date {
    /// This time as the store binds it.
    var timestamp: PostgresTimestamp { PostgresTimestamp(self) }
}
