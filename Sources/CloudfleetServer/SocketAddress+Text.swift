import CloudfleetCore
import NIOCore

extension SocketAddress {
    /// The IP address as text, as `ipAddress` writes it: IPv4 by ``IPv4Text`` (NIO's `inet_ntop` goes through
    /// `sprintf`), everything else by NIO.
    var ipAddressText: String? {
        guard case .v4 = self else { return ipAddress }
        return withSockAddr { pointer, length in
            // `sockaddr_in` on Linux and the BSDs: 4 bytes of family and port, then the address in network order,
            // so its bytes are the four numbers, first to last. (A test holds this to NIO's own text.)
            guard length >= 8 else { return ipAddress }
            return IPv4Text.format(UnsafeRawBufferPointer(start: UnsafeRawPointer(pointer) + 4, count: 4))
        }
    }
}
