import CloudfleetTestSupport
import NIOCore
import Testing

@testable import CloudfleetServer

/// The source address of requests is written by hand for IPv4; it must read as NIO (`inet_ntop`) writes it.
@Suite struct SocketAddressTextTests {
    @Test func ipv4TextMatchesNIO() throws {
        var random = SplitMix64(seed: FuzzSettings.seed ^ 0x1F4)
        var samples = ["0.0.0.0", "255.255.255.255", "127.0.0.1", "10.0.0.9", "100.64.10.200", "192.168.1.1", "8.8.8.8"]
        for _ in 0..<2000 {
            samples.append((0..<4).map { _ in String(random.next() % 256) }.joined(separator: "."))
        }
        for text in samples {
            let address = try SocketAddress(ipAddress: text, port: 443)
            #expect(address.ipAddressText == address.ipAddress, "\(text)")
            #expect(address.ipAddressText == text)
        }
    }

    @Test func otherAddressesAreWrittenByNIO() throws {
        for text in ["::1", "2001:db8::8a2e:370:7334", "::ffff:192.0.2.1", "fe80::1"] {
            let address = try SocketAddress(ipAddress: text, port: 443)
            #expect(address.ipAddressText == address.ipAddress)
        }
    }
}
