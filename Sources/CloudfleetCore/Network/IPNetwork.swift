#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 network in CIDR notation (`203.0.113.0/24`, `2001:db8::/32`; a bare address is a single
/// host). Addresses are parsed by the C library's `inet_pton`, the parser every network tool uses.
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    /// The network address, 4 or 16 bytes, with the host bits cleared.
    public let address: [UInt8]
    /// The prefix length.
    public let prefixLength: Int

    /// Parses `text`; `nil` for anything that is not an address or network.
    public init?(_ text: String) {
        let parts = text.trimmingWhitespace().split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2, let bytes = Self.parseAddress(String(parts[0])) else { return nil }
        let maximum = bytes.count * 8
        var length = maximum
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].count <= 3, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(parts[1]),
                (0...maximum).contains(value)
            else { return nil }
            length = value
        }
        self.prefixLength = length
        self.address = Self.mask(bytes, length)
    }

    /// Whether `ip` (an IPv4 or IPv6 address, IPv4-mapped IPv6 included) lies in this network.
    public func contains(_ ip: String) -> Bool {
        guard var bytes = Self.parseAddress(ip) else { return false }
        if bytes.count == 16, address.count == 4, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
            bytes = Array(bytes[12...])  // ::ffff:a.b.c.d is the IPv4 address a.b.c.d.
        }
        guard bytes.count == address.count else { return false }
        return Self.mask(bytes, prefixLength) == address
    }

    public var description: String {
        Self.format(address) + "/\(prefixLength)"
    }

    private static func mask(_ bytes: [UInt8], _ length: Int) -> [UInt8] {
        bytes.enumerated().map { index, byte in
            let bits = min(8, max(0, length - index * 8))
            return bits == 8 ? byte : byte & ~(UInt8(0xFF) >> bits)
        }
    }

    private static func parseAddress(_ text: String) -> [UInt8]? {
        guard !text.isEmpty, text.utf8.count <= 45 else { return nil }
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    private static func format(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.withUnsafeBytes { IPv4Text.format($0) } }
        var buffer = [CChar](repeating: 0, count: 64)
        var v6 = in6_addr()
        withUnsafeMutableBytes(of: &v6) { $0.copyBytes(from: bytes) }
        guard inet_ntop(AF_INET6, &v6, &buffer, socklen_t(buffer.count)) != nil else {
            return bytes.map(String.init).joined(separator: ".")
        }
        // The NUL-terminated text `inet_ntop` wrote.
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// The networks a token may be used from: at most ``maximumCount`` CIDR entries, none meaning anywhere.
public struct IPFence: Sendable, Hashable {
    public static let maximumCount = 50

    public let networks: [IPNetwork]

    /// A fence nothing passes: `0.0.0.0/32`, the unspecified address, which is never a peer.
    public static let closed = IPFence(networks: [IPNetwork("0.0.0.0/32")].compactMap { $0 })

    private init(networks: [IPNetwork]) {
        self.networks = networks
    }

    /// Validates the `allowed_cidrs` of a token.
    public init(_ entries: [String]) throws(ValidationError) {
        guard entries.count <= Self.maximumCount else {
            throw ValidationError(field: "allowed_cidrs", reason: "must hold at most \(Self.maximumCount) networks")
        }
        var networks: [IPNetwork] = []
        for entry in entries {
            guard let network = IPNetwork(entry) else {
                throw ValidationError(
                    field: "allowed_cidrs", reason: "must be IPv4 or IPv6 networks in CIDR notation, such as 203.0.113.0/24 or 2001:db8::/32")
            }
            if !networks.contains(network) { networks.append(network) }
        }
        self.networks = networks
    }

    /// Whether a request from `ip` is allowed; an unknown address is allowed only by an empty fence.
    public func allows(_ ip: String?) -> Bool {
        guard !networks.isEmpty else { return true }
        guard let ip else { return false }
        return networks.contains { $0.contains(ip) }
    }

    /// The canonical text of each network, as stored.
    public var entries: [String] { networks.map(\.description) }
}
