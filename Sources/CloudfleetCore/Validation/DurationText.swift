import Foundation

/// A duration as people write it on the command line and in query strings: a whole number and a unit,
/// `s`, `m`, `h`, `d` or `w` (`90d`, `12h`, `1w`), or a plain number of seconds.
public struct DurationText: Sendable, Equatable, CustomStringConvertible {
    /// The duration in seconds.
    public let seconds: Int

    /// The longest duration accepted anywhere: ten years.
    public static let maximumSeconds = 10 * 366 * 86_400

    private static let units: [Character: Int] = ["s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800]

    /// Parses `text`; `nil` unless it is a positive whole number with an optional unit, at most ten years.
    public init?(_ text: String) {
        var digits = Substring(text.trimmingCharacters(in: .whitespaces))
        var unit = 1
        if let last = digits.last, let multiplier = Self.units[last] {
            unit = multiplier
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.count <= 12, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber),
            let value = Int(digits), value > 0, value <= Self.maximumSeconds / unit
        else { return nil }
        self.seconds = value * unit
    }

    /// A duration of `seconds`.
    public init(seconds: Int) {
        self.seconds = seconds
    }

    public var timeInterval: TimeInterval { TimeInterval(seconds) }

    /// The shortest exact form: `90d`, `1h`, `45s`.
    public var description: String {
        for (unit, multiplier) in [("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60)] where seconds % multiplier == 0 {
            return "\(seconds / multiplier)\(unit)"
        }
        return "\(seconds)s"
    }
}
