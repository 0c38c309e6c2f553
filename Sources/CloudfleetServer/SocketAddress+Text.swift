import NIOCore

extension SocketAddress {
    /// The IP address as text, as `ipAddress` writes it: IPv4 written here (NIO's `inet_ntop` goes through
    /// `sprintf`, a microsecond on every authenticated request), everything else by NIO.
    var ipAddressText: String? {
        guard case .v4 = self else { return ipAddress }
        return withSockAddr { pointer, length in
            // `sockaddr_in` on Linux and the BSDs: 4 bytes of family and port, then the address in network order,
            // so its bytes are the four numbers, first to last. (A test holds this to NIO's own text.)
            guard length >= 8 else { return ipAddress }
            let bytes = UnsafeRawBufferPointer(start: UnsafeRawPointer(pointer) + 4, count: 4)
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
}
