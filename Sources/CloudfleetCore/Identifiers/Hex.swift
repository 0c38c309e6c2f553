/// Lower-case hexadecimal, two digits a byte: the names of the CLI's cache files and the text of UUIDs. Written
/// out rather than with `String(format:)` or Foundation's `uuidString`, which go through `sprintf` (and, in the
/// exec plugin, start Foundation's formatting machinery on every run).
public enum Hex {
    /// The lower-case digit of `nibble` (0 to 15).
    @inlinable
    public static func digit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") - 10 + nibble
    }

    /// `bytes` as lower-case hexadecimal.
    @inlinable
    public static func lowercase(_ bytes: some Sequence<UInt8>) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            text.append(digit(byte >> 4))
            text.append(digit(byte & 0x0F))
        }
        return String(decoding: text, as: UTF8.self)
    }
}
