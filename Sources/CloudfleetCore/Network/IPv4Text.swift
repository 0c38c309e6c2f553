/// Dotted-decimal text of IPv4 addresses, written by hand: `inet_ntop` goes through `sprintf`, a microsecond on
/// every authenticated request that records its source address.
public enum IPv4Text {
    /// The text of the address whose four bytes, first to last (network order), are `bytes`.
    public static func format(_ bytes: UnsafeRawBufferPointer) -> String {
        precondition(bytes.count == 4, "an IPv4 address has four bytes")
        return String(unsafeUninitializedCapacity: 15) { text in
            var count = 0
            for (index, byte) in bytes.enumerated() {
                if index > 0 {
                    text[count] = UInt8(ascii: ".")
                    count += 1
                }
                if byte >= 100 {
                    text[count] = UInt8(ascii: "0") + byte / 100
                    count += 1
                }
                if byte >= 10 {
                    text[count] = UInt8(ascii: "0") + byte / 10 % 10
                    count += 1
                }
                text[count] = UInt8(ascii: "0") + byte % 10
                count += 1
            }
            return count
        }
    }
}
