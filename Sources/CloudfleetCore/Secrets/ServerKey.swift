import Crypto

/// The server's 256-bit key for the keyed secret digest. It lives outside the database (a file in the data
/// directory, or configuration for several nodes), so a copy of the database alone cannot test secrets.
public struct ServerKey: Sendable, CustomStringConvertible, CustomReflectable {
    /// The number of bytes of a server key.
    public static let byteCount = 32

    let key: SymmetricKey

    /// Wraps raw key bytes; `nil` unless exactly 32 bytes.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        self.key = SymmetricKey(data: Array(bytes))
    }

    /// A new random key from the system CSPRNG.
    public static func generate() -> ServerKey {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<byteCount).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        // 32 bytes always make a key.
        return ServerKey(validated: bytes)
    }

    private init(validated bytes: [UInt8]) {
        self.key = SymmetricKey(data: bytes)
    }

    /// The raw bytes, for writing the key file. Never log them.
    public var bytes: [UInt8] { key.withUnsafeBytes { Array($0) } }

    /// A key for another purpose, derived with HKDF-SHA256 so that one configured key serves several uses.
    public func derivedKey(purpose: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: key, info: Array(purpose.utf8), outputByteCount: 32)
    }

    public var description: String { "ServerKey([REDACTED])" }

    /// No children: `dump` shows the redacted description, never the key.
    public var customMirror: Mirror { Mirror(self, children: [Mirror.Child]()) }
}
