import Foundation
import Synchronization

/// The `Date` field's value (RFC 9110 IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`) for answers written outside
/// Hummingbird, which stamps its own from a cache it keeps to itself. Formatted at most once a second.
enum HTTPDate {
    private static let cached = Mutex<(second: Int, text: String)>((.min, ""))

    /// The current time as the `Date` field's value.
    static var now: String { text(for: Date()) }

    /// `date` as the `Date` field's value, to the second.
    static func text(for date: Date) -> String {
        let second = Int(date.timeIntervalSince1970.rounded(.down))
        return cached.withLock { cached in
            if cached.second != second {
                cached = (second, format(second))
            }
            return cached.text
        }
    }

    private static func format(_ second: Int) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(second)))
    }
}
