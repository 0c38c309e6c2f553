import CloudfleetCore
import CloudfleetStoreSQLite
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import Synchronization
import Testing

@testable import CloudfleetServer

/// The request log names the token a request authenticated as, and only a token whose credentials checked out.
@Suite struct RequestLogTests {
    @Test func theRequestLineCarriesTheAuthenticatedTokenID() async throws {
        let world = try await TestWorld.make()
        try await world.closing {
            let recorder = LogRecorder()
            let app = try await buildApplication(configuration: world.configuration, dependencies: world.dependencies, logger: recorder.logger)
            let wrongSecret = Credentials(id: world.user.id, secret: world.admin.secret)
            try await app.test(.router) { client in
                #expect(try await client.send(.get, "/v1/tokens/self", auth: world.user.basic).status == .ok)
                #expect(try await client.send(.get, "/v1/tokens/self", auth: wrongSecret.basic).status == .unauthorized)
                #expect(try await client.send(.get, "/healthz").status == .ok)
                let form = "grant_type=client_credentials"
                let exchange = try await client.execute(
                    uri: "/v1/auth/token", method: .post,
                    headers: world.admin.basic.merging([.contentType: "application/x-www-form-urlencoded"]),
                    body: ByteBuffer(string: form))
                #expect(exchange.status == .ok)
            }
            let requests = recorder.lines.filter { $0.message == "request" }
            #expect(requests.map { $0.metadata["path"] } == ["/v1/tokens/self", "/v1/tokens/self", "/healthz", "/v1/auth/token"])
            #expect(requests.map { $0.metadata["token_id"] } == [world.user.id, nil, nil, world.admin.id])
            // The refused request named the user's token ID with another secret: the claim is not logged as fact.
            #expect(!recorder.lines.contains { $0.metadata.values.contains(world.admin.secret) })
        }
    }
}

/// Keeps every log line the application writes, with the metadata given at the call.
final class LogRecorder: Sendable {
    struct Line: Sendable {
        let level: Logger.Level
        let message: String
        let metadata: [String: String]
    }

    private let recorded = Mutex<[Line]>([])

    var lines: [Line] { recorded.withLock { $0 } }

    var logger: Logger {
        Logger(label: "test") { _ in RecordingLogHandler(recorder: self) }
    }

    fileprivate func record(_ line: Line) {
        recorded.withLock { $0.append(line) }
    }
}

private struct RecordingLogHandler: LogHandler {
    let recorder: LogRecorder
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        recorder.record(
            LogRecorder.Line(
                level: event.level, message: event.message.description,
                metadata: (event.metadata ?? [:]).mapValues { $0.description }))
    }
}
