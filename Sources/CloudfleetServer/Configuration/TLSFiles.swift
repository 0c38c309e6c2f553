import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOCore
import NIOSSL

/// Reads the TLS files of `--tls-cert`, `--tls-key` and `--tls-ca`, failing at start with a message that names
/// the file at fault.
public enum TLSFiles {
    /// A TLS file that cannot be used, named.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Plain HTTP/1.1, or HTTPS when a certificate is configured, with `channelHandlers` (made anew for each
    /// connection) after the HTTP parser.
    static func serverBuilder(
        _ configuration: ServerConfiguration, channelHandlers: @escaping @Sendable () -> [any RemovableChannelHandler] = { [] }
    ) throws -> HTTPServerBuilder {
        let http1 = HTTPServerBuilder.http1(configuration: .init(additionalChannelHandlers: channelHandlers()))
        switch (configuration.tlsCertificatePath, configuration.tlsKeyPath) {
        case (nil, nil):
            return http1
        case (let certificatePath?, let keyPath?):
            let chain: [NIOSSLCertificate]
            do {
                chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
            } catch {
                throw Failure(description: "cannot read the TLS certificate \(certificatePath): \(error)")
            }
            guard !chain.isEmpty else { throw Failure(description: "no PEM certificate in \(certificatePath)") }
            let key: NIOSSLPrivateKey
            do {
                key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
            } catch {
                throw Failure(description: "cannot read the TLS private key \(keyPath)")
            }
            var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
            tls.minimumTLSVersion = .tlsv12
            // On shutdown, wait briefly for the peer's close_notify: idle keep-alive clients (a kube-apiserver holds
            // its webhook connection open) would otherwise delay every stop by NIOSSL's default 5 s.
            tls.shutdownTimeout = .milliseconds(500)
            return try .tls(http1, tlsConfiguration: tls)
        default:
            throw Failure(description: "--tls-cert and --tls-key go together: give both or neither")
        }
    }

    /// The PEM CA bundle published to clusters, checked to hold certificates.
    static func readCABundle(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path), let pem = String(data: data, encoding: .utf8) else {
            throw Failure(description: "cannot read the TLS CA bundle \(path)")
        }
        guard (try? NIOSSLCertificate.fromPEMBytes(Array(pem.utf8)))?.isEmpty == false else {
            throw Failure(description: "no PEM certificate in the TLS CA bundle \(path)")
        }
        return pem
    }
}
