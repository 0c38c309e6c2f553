import Foundation

/// A value that writes its own JSON, for the responses on the authenticated hot paths.
///
/// Foundation's `JSONEncoder` was 13–16 % of the CPU time of a token read or a TokenReview (bench/history.md).
/// Writers produce exactly the bytes the server's `JSONEncoder` (sorted keys, ISO 8601 dates, unescaped
/// slashes) produces for the same value, so the two paths can never disagree; the tests compare them.
public protocol JSONWritable: Sendable {
    func write(to writer: inout JSONWriter)
}

extension JSONWritable {
    /// The JSON of the value, as UTF-8.
    public var jsonBytes: [UInt8] {
        var writer = JSONWriter()
        write(to: &writer)
        return writer.bytes
    }
}

/// Writes compact JSON into a byte array. Callers write the keys of each object in sorted order, as
/// `JSONEncoder` with `.sortedKeys` does; ``key(_:)`` and the value methods take care of commas.
public struct JSONWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    /// Whether the next key or array element needs a comma before it.
    private var needsSeparator = false

    /// A writer with room for `capacity` bytes. The default holds the answers of the hot paths (a token is about
    /// 600 bytes) and keeps the buffer, with the array's header, under the 1,032 bytes that glibc serves from its
    /// per-thread cache: 1,024 bytes took malloc's slower path on every request.
    public init(capacity: Int = 768) {
        bytes.reserveCapacity(capacity)
    }

    // MARK: Structure

    public mutating func object(_ body: (inout JSONWriter) -> Void) {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsSeparator = false
        body(&self)
        bytes.append(UInt8(ascii: "}"))
        needsSeparator = true
    }

    public mutating func array<Elements: Sequence>(_ elements: Elements, _ element: (inout JSONWriter, Elements.Element) -> Void) {
        separate()
        bytes.append(UInt8(ascii: "["))
        needsSeparator = false
        for value in elements { element(&self, value) }
        bytes.append(UInt8(ascii: "]"))
        needsSeparator = true
    }

    /// An object key; the value written next belongs to it. Keys are the API's own snake_case names.
    public mutating func key(_ key: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        key.withUTF8Buffer { bytes.append(contentsOf: $0) }
        // Two appends, not one of an array literal: the literal was a third of this function's cost.
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
        needsSeparator = false
    }

    /// An object key that is data, such as a Kubernetes `extra` key: escaped like any string.
    public mutating func key(escaping key: String) {
        string(key)
        bytes.append(UInt8(ascii: ":"))
        needsSeparator = false
    }

    // MARK: Values

    public mutating func string(_ value: String) {
        separate()
        // Read in place where the bytes are contiguous (native and small strings): `withUTF8` mutates, and the copy
        // it needed cost a retain and a release of every heap-allocated string written.
        if value.utf8.withContiguousStorageIfAvailable({ appendEscaped($0) }) == nil {
            var value = value
            value.withUTF8 { appendEscaped($0) }
        }
        needsSeparator = true
    }

    public mutating func int(_ value: Int) {
        separate()
        bytes.append(contentsOf: String(value).utf8)
        needsSeparator = true
    }

    public mutating func bool(_ value: Bool) {
        separate()
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
        needsSeparator = true
    }

    public mutating func null() {
        separate()
        bytes.append(contentsOf: "null".utf8)
        needsSeparator = true
    }

    /// A date as `JSONEncoder`'s `.iso8601` strategy writes it: `2026-11-29T10:00:00Z`, whole seconds, UTC.
    public mutating func date(_ value: Date) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        // Dates before 1970 (none the server stores) are left to Foundation, whose calendar turns Julian before 1582.
        if !UTCTimestamp.append(value, to: &bytes) { bytes.append(contentsOf: value.formatted(.iso8601).utf8) }
        bytes.append(UInt8(ascii: "\""))
        needsSeparator = true
    }

    // MARK: Fields

    public mutating func field(_ name: StaticString, _ value: String) {
        key(name)
        string(value)
    }

    public mutating func field(_ name: StaticString, _ value: String?) {
        key(name)
        if let value { string(value) } else { null() }
    }

    public mutating func field(_ name: StaticString, _ value: Int) {
        key(name)
        int(value)
    }

    public mutating func field(_ name: StaticString, _ value: Bool) {
        key(name)
        bool(value)
    }

    public mutating func field(_ name: StaticString, _ value: Date) {
        key(name)
        date(value)
    }

    public mutating func field(_ name: StaticString, _ value: Date?) {
        key(name)
        if let value { date(value) } else { null() }
    }

    public mutating func field(_ name: StaticString, _ values: [String]) {
        key(name)
        array(values) { $0.string($1) }
    }

    public mutating func field(_ name: StaticString, _ value: some JSONWritable) {
        key(name)
        value.write(to: &self)
    }

    // MARK: Internals

    private mutating func separate() {
        if needsSeparator { bytes.append(UInt8(ascii: ",")) }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// Whether any of the eight bytes of `word` is one that JSON escapes: below 0x20, `"` or `\`. With `x - 0x01…01`,
    /// a byte borrows into its top bit only when it is below the subtrahend's byte and its own top bit is clear, so
    /// each test is exact for the word as a whole (the classic `haszero`/`hasless` of Bit Twiddling Hacks).
    @inline(__always)
    private static func needsEscape(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let tops: UInt64 = 0x8080_8080_8080_8080
        let control = (word &- ones &* 0x20) & ~word & tops
        let quote = ((word ^ (ones &* 0x22)) &- ones) & ~(word ^ (ones &* 0x22)) & tops
        let backslash = ((word ^ (ones &* 0x5C)) &- ones) & ~(word ^ (ones &* 0x5C)) & tops
        return control | quote | backslash != 0
    }

    /// The string in quotes, escaped as `JSONEncoder` escapes it with `.withoutEscapingSlashes`: `"` and `\`,
    /// the short forms `\b \f \n \r \t`, and `\u00XX` for the other control characters. Everything else is
    /// copied as UTF-8.
    private mutating func appendEscaped(_ utf8: UnsafeBufferPointer<UInt8>) {
        bytes.append(UInt8(ascii: "\""))
        var start = 0
        // Eight bytes at a time up to the first word with a byte to escape (most strings have none), then byte by byte.
        var clean = 0
        if let base = utf8.baseAddress {
            while clean + 8 <= utf8.count, !Self.needsEscape(UnsafeRawPointer(base + clean).loadUnaligned(as: UInt64.self)) { clean += 8 }
        }
        for index in clean..<utf8.count {
            let byte = utf8[index]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<index]))
            start = index + 1
            bytes.append(UInt8(ascii: "\\"))
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(byte)
            case 0x08: bytes.append(UInt8(ascii: "b"))
            case 0x0C: bytes.append(UInt8(ascii: "f"))
            case 0x0A: bytes.append(UInt8(ascii: "n"))
            case 0x0D: bytes.append(UInt8(ascii: "r"))
            case 0x09: bytes.append(UInt8(ascii: "t"))
            default:
                bytes.append(contentsOf: [
                    UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), Self.hexDigits[Int(byte >> 4)], Self.hexDigits[Int(byte & 0xF)],
                ])
            }
        }
        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...]))
        bytes.append(UInt8(ascii: "\""))
    }
}
