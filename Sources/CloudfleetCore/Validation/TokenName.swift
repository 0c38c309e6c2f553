/// The human-friendly name of a token: 1 to 100 printable characters after trimming surrounding white space.
public struct TokenName: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The longest name accepted, in characters.
    public static let maximumLength = 100

    /// The trimmed name.
    public let rawValue: String

    /// Validates and trims `input`.
    public init(_ input: String) throws(ValidationError) {
        let trimmed = input.trimmingWhitespace()
        guard !trimmed.isEmpty else {
            throw ValidationError(field: "name", reason: "must not be empty")
        }
        guard trimmed.count <= Self.maximumLength else {
            throw ValidationError(field: "name", reason: "must be at most \(Self.maximumLength) characters")
        }
        guard trimmed.unicodeScalars.allSatisfy(\.isPrintable) else {
            throw ValidationError(field: "name", reason: "must contain only printable characters")
        }
        self.rawValue = trimmed
    }

    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        let string = try decoder.singleValueContainer().decode(String.self)
        do {
            self = try TokenName(string)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.reason))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

extension Unicode.Scalar {
    /// False for control, format, surrogate, unassigned and private-use scalars and for line or paragraph
    /// separators: what would corrupt a table, a log line or a terminal.
    var isPrintable: Bool {
        switch properties.generalCategory {
        case .control, .format, .surrogate, .unassigned, .privateUse, .lineSeparator, .paragraphSeparator:
            return false
        default:
            return true
        }
    }
}

extension String {
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }
}
