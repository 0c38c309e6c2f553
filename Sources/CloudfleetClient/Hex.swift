/// Lower-case hexadecimal, two digits a byte: the names of the cache files. Written out rather than with
/// `String(format:)`, which starts Foundation's formatting machinery on the exec plugin's every run.
enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    static func lowercase(_ bytes: some Sequence<UInt8>) -> String {
        var text: [UInt8] = []
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
