/// The base62 alphabet (`0-9A-Za-z`) used by token IDs, secrets and their checksums.
public enum Base62 {
    /// The 62 characters, in the order of their digit values.
    public static let alphabet: [Character] = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

    /// Whether `character` is one of the 62 characters of the alphabet.
    public static func contains(_ character: Character) -> Bool {
        guard let ascii = character.asciiValue else { return false }
        return contains(ascii)
    }

    /// Whether the UTF-8 code unit `byte` is one of the 62 characters of the alphabet. Parsers of credentials
    /// check bytes, not `Character`s: grapheme breaking is most of the cost of a parse on every request.
    @inline(__always)
    public static func contains(_ byte: UInt8) -> Bool {
        (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122)
    }

    /// The UTF-8 code unit of the digit worth `value` (0 to 61): `alphabet[value]` as a byte.
    @inline(__always)
    public static func digit(_ value: Int) -> UInt8 {
        switch value {
        case 0..<10: UInt8(ascii: "0") + UInt8(value)
        case 10..<36: UInt8(ascii: "A") + UInt8(value - 10)
        default: UInt8(ascii: "a") + UInt8(value - 36)
        }
    }

    /// A string of `length` characters drawn uniformly from the alphabet with the system CSPRNG.
    ///
    /// `SystemRandomNumberGenerator` reads the operating system's cryptographically secure source
    /// (`getrandom(2)` on Linux); `random(in:)` rejects biased draws, so every character is uniform.
    public static func random(length: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        var result = ""
        result.reserveCapacity(length)
        for _ in 0..<length {
            result.append(alphabet[Int.random(in: 0..<62, using: &generator)])
        }
        return result
    }

    /// `value` written in base62 with exactly `width` digits, most significant first (zero-padded).
    public static func encode(_ value: UInt64, width: Int) -> String {
        var digits = [UInt8](repeating: digit(0), count: width)
        var remaining = value
        for index in stride(from: width - 1, through: 0, by: -1) {
            digits[index] = digit(Int(remaining % 62))
            remaining /= 62
        }
        return String(decoding: digits, as: UTF8.self)
    }
}
