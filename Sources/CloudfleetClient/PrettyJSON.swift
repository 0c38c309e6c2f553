import Foundation

/// JSON for people to read: what `--output json` prints and the configuration file. Keys sorted, so the same
/// value always reads the same; dates in ISO 8601; slashes in URLs left alone; and empty arrays and objects
/// written `[]` and `{}`, where `JSONEncoder`'s `.prettyPrinted` writes them over three lines (`[`, an empty
/// line, `]`).
public enum PrettyJSON {
    public static func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return compactingEmptyContainers(try encoder.encode(value))
    }

    /// `json` with each `[` or `{` that is followed by a line break and only white space up to its `]` or `}`
    /// written as `[]` or `{}`.
    ///
    /// Only structure is touched: a JSON string cannot hold a raw line break (it is written `\n`), so a bracket
    /// followed by one is never inside a string.
    static func compactingEmptyContainers(_ json: Data) -> Data {
        let bytes = [UInt8](json)
        var output = [UInt8]()
        output.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            output.append(byte)
            index += 1
            let close: UInt8
            switch byte {
            case UInt8(ascii: "["): close = UInt8(ascii: "]")
            case UInt8(ascii: "{"): close = UInt8(ascii: "}")
            default: continue
            }
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\n") else { continue }
            var end = index
            while end < bytes.count, bytes[end] == UInt8(ascii: "\n") || bytes[end] == UInt8(ascii: " ") {
                end += 1
            }
            if end < bytes.count, bytes[end] == close {
                output.append(close)
                index = end + 1
            }
        }
        return Data(output)
    }
}
