import CloudfleetCore
import CloudfleetStoreSQLite
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import Testing

@testable import CloudfleetServer

/// `TokenReviewFastPath`: a review whose facts are all cached is answered on the event loop, with the bytes, headers,
/// log line and metrics the router gives it. (The verdicts themselves are `KubernetesTokenReviewTests`, which run
/// both ways.)
@Suite struct TokenReviewFastPathTests {
    private func scrape(_ client: some TestClientProtocol, _ credential: String) async throws -> MetricsTests.Scrape {
        try MetricsTests.Scrape(try await client.send(.get, "/metrics", auth: Credentials.bearerHeader(credential)))
    }

    @Test func aCachedReviewIsAnsweredAsTheRouterAnswersIt() async throws {
        let world = try await TestWorld.make()
        let metrics = try await world.serviceCredential(.metrics, name: "prometheus")
        try await world.served().test { client in
            func fromCaches() async throws -> Double? {
                try await scrape(client, metrics).samples["cloudfleet_token_reviews_from_caches_total"]
            }
            let first = try await client.createCluster(world.admin.basic, name: "first")
            let firstCredential = try await client.issueWebhookCredential(world.admin.basic, cluster: first)
            let second = try await client.createCluster(world.admin.basic, name: "second")
            let secondCredential = try await client.issueWebhookCredential(world.admin.basic, cluster: second)
            var token = ""
            for apiVersion in [Kube.v1, Kube.v1beta1] {
                // The first review of a new cluster token goes through the router, which caches its signature; the
                // same review again is answered from the caches.
                token = try await client.clusterToken(world.user.basic, cluster: first)
                let before = try await fromCaches()
                let routed = try await client.review(cluster: first, credential: firstCredential, token: token, apiVersion: apiVersion)
                #expect(try await fromCaches() == before, "a review with nothing cached goes through the router")
                let cached = try await client.review(cluster: first, credential: firstCredential, token: token, apiVersion: apiVersion)
                #expect(try await fromCaches() == (before ?? 0) + 1)
                Self.expectSameAnswer(cached, routed)
                #expect(try Verdict(cached).authenticated == true)
            }

            // A refusal decided from the caches: the token's signature and state are cached, and so is the second
            // cluster once it has been called.
            let routedRefusal = try await client.review(cluster: second, credential: secondCredential, token: token)
            let before = try await fromCaches()
            let cachedRefusal = try await client.review(cluster: second, credential: secondCredential, token: token)
            #expect(try await fromCaches() == (before ?? 0) + 1)
            Self.expectSameAnswer(cachedRefusal, routedRefusal)
            #expect(try Verdict(cachedRefusal).isPlainRefusal)

            // Everything else goes through the router: a wrong credential, a malformed review, a token whose state
            // is no longer cached (deleted).
            let ci = try await client.createToken(world.admin, name: "ci", role: "User")
            let ciToken = try await client.clusterToken(ci.basic, cluster: first)
            #expect(try await client.verdict(cluster: first, credential: firstCredential, token: ciToken).authenticated == true)
            #expect(try await client.send(.delete, "/v1/tokens/\(ci.id)", auth: world.admin.basic).status == .noContent)
            let counted = try await fromCaches()
            #expect(try await client.review(cluster: first, credential: secondCredential, token: token).status == .unauthorized)
            let malformed = try await client.send(
                .post, "/v1/clusters/\(first)/tokenreview", auth: Credentials.bearerHeader(firstCredential), json: "{}")
            #expect(malformed.status == .badRequest)
            #expect(try await client.verdict(cluster: first, credential: firstCredential, token: ciToken).isPlainRefusal)
            #expect(try await fromCaches() == counted)

            // A role change leaves the token's new state in the cache: the next review, answered from it, has the new
            // group.
            let promotion = try await client.send(.patch, "/v1/tokens/\(world.user.id)", auth: world.admin.basic, json: #"{"role":"Administrator"}"#)
            #expect(promotion.status == .ok)
            #expect(try await client.verdict(cluster: first, credential: firstCredential, token: token).groups == [Kube.administrators])
            #expect(try await fromCaches() == (counted ?? 0) + 1)

            let scraped = try await scrape(client, metrics)
            #expect(scraped.authentications("webhook", "success") == 6)
            #expect(scraped.authentications("webhook", "failure") == 3)
            #expect(scraped.text.contains(#"route="/v1/clusters/{id}/tokenreview""#))
        }
    }

    /// The same status, body and header fields in the same order, with a request ID of its own.
    private static func expectSameAnswer(_ cached: Reply, _ routed: Reply) {
        #expect(cached.status == routed.status)
        #expect(cached.text == routed.text)
        #expect(cached.headers.map(\.name) == routed.headers.map(\.name))
        for name in [HTTPField.Name.contentType, .contentLength, .server] {
            #expect(cached.headers[name] == routed.headers[name], "\(name)")
        }
        #expect(cached.headers[.date] != nil)
        #expect(cached.headers[.requestID] != nil)
        #expect(cached.headers[.requestID] != routed.headers[.requestID])
    }

    @Test func theRequestLineIsTheRoutersLine() async throws {
        let world = try await TestWorld.make()
        try await world.closing {
            let recorder = LogRecorder()
            let app = try await buildApplication(configuration: world.configuration, dependencies: world.dependencies, logger: recorder.logger)
            try await app.test(.live) { client in
                let cluster = try await client.createCluster(world.admin.basic, name: "prod")
                let credential = try await client.issueWebhookCredential(world.admin.basic, cluster: cluster)
                let token = try await client.clusterToken(world.admin.basic, cluster: cluster)
                for _ in 1...2 {
                    #expect(try await client.verdict(cluster: cluster, credential: credential, token: token).authenticated == true)
                }
            }
            let reviews = recorder.lines.filter { $0.message == "request" && $0.metadata["path"]?.hasSuffix("/tokenreview") == true }
            #expect(reviews.count == 2)
            #expect(reviews.map(\.level) == [.info, .info])
            #expect(reviews.map { Set($0.metadata.keys) } == Array(repeating: ["method", "path", "status", "duration_ms"], count: 2))
            #expect(reviews.map { $0.metadata["method"] } == ["POST", "POST"])
            #expect(reviews.map { $0.metadata["status"] } == ["200", "200"])
            #expect(reviews[0].metadata["path"] == reviews[1].metadata["path"])
            #expect(reviews.allSatisfy { Double($0.metadata["duration_ms"] ?? "") != nil })
        }
    }

    @Test func theDateFieldIsAnIMFFixdate() {
        // RFC 9110 §5.6.7's example, and the turn of a leap day.
        #expect(HTTPDate.text(for: Date(timeIntervalSince1970: 784_111_777)) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.text(for: Date(timeIntervalSince1970: 1_709_251_199.9)) == "Thu, 29 Feb 2024 23:59:59 GMT")
        #expect(HTTPDate.text(for: Date(timeIntervalSince1970: 1_709_251_200)) == "Fri, 01 Mar 2024 00:00:00 GMT")
    }

    // MARK: What is passed on, on a channel of its own

    /// The handler on an embedded channel, wired to a world whose caches are empty: no review can be answered from
    /// them, so everything must come out the other side as it went in.
    private static func channel(_ world: TestWorld) async throws -> EmbeddedChannel {
        let services = AppServices(dependencies: world.dependencies)
        let keyring = try await SigningKeyring.load(store: world.store, serverKey: world.dependencies.serverKey)
        let logger = Logger(label: "test")
        let metrics = ServerMetrics()
        let usage = UsageRecorder(store: world.store, flushInterval: 3600, logger: logger)
        let authenticator = Authenticator(
            store: world.store, cache: services.cache, hasher: services.hasher,
            signingKeys: SigningKeys(keyring, store: world.store, serverKey: world.dependencies.serverKey, logger: logger, clock: { Date() }),
            issuer: world.configuration.issuer, audience: "cloudfleet-api", accessTokenLifetime: 3600, verifiedAccessTokens: AccessTokenCache(),
            usage: usage, rotation: SecretRotation(idleRetirement: 3600), metrics: metrics, clock: { Date() })
        let controller = TokenReviewController(
            directory: services.clusters.directory, hasher: services.hasher, authenticator: authenticator, usage: usage, metrics: metrics)
        let handler = TokenReviewFastPath(
            .init(controller: controller, logger: logger, metrics: metrics, serverName: "cloudfleet", maxBodySize: 64 * 1024))
        return EmbeddedChannel(handler: handler)
    }

    /// Runs `body` with the handler on an embedded channel (see `channel(_:)`), then cleans up.
    private static func withChannel(_ body: (EmbeddedChannel) throws -> Void) async throws {
        let world = try await TestWorld.make()
        try await world.closing {
            let channel = try await channel(world)
            defer { _ = try? channel.finish() }
            try body(channel)
        }
    }

    private static let reviewPath = "/v1/clusters/\(ClusterID.generate())/tokenreview"

    private static func head(_ method: HTTPRequest.Method = .post, _ path: String = reviewPath, _ fields: HTTPFields = [:]) -> HTTPRequestPart {
        .head(HTTPRequest(method: method, scheme: nil, authority: "cloudfleet", path: path, headerFields: fields))
    }

    /// What the channel passed on so far.
    private static func passedOn(_ channel: EmbeddedChannel) throws -> [HTTPRequestPart] {
        var parts: [HTTPRequestPart] = []
        while let part = try channel.readInbound(as: HTTPRequestPart.self) { parts.append(part) }
        return parts
    }

    /// Hummingbird's answer to a request passed on, written through the handler.
    private static func answer(_ channel: EmbeddedChannel) throws {
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        while try channel.readOutbound(as: HTTPResponsePart.self) != nil {}
    }

    @Test func requestsItCannotAnswerArePassedOnWholeAndInOrder() async throws {
        try await Self.withChannel { channel in
            let body = ByteBuffer(string: try Kube.tokenReview("eyJhbGciOiJSUzI1NiJ9.e30.c2ln"))
            // A review is held to its end (its body in one part), then passed on, as nothing about it is cached.
            for part in [Self.head(), HTTPRequestPart.body(ByteBuffer(string: "{")), .body(ByteBuffer(string: "}"))] {
                try channel.writeInbound(part)
            }
            #expect(try Self.passedOn(channel).isEmpty)
            try channel.writeInbound(HTTPRequestPart.end(nil))
            #expect(try Self.passedOn(channel) == [Self.head(), .body(ByteBuffer(string: "{}")), .end(nil)])
            // Until Hummingbird has answered it, every later request goes on as it comes, so answers keep their order.
            let pipelined: [HTTPRequestPart] = [Self.head(.get, "/healthz"), .end(nil), Self.head(), .body(body), .end(nil)]
            for part in pipelined {
                try channel.writeInbound(part)
                #expect(try Self.passedOn(channel) == [part])
            }
            #expect(try channel.readOutbound(as: HTTPResponsePart.self) == nil, "nothing was answered here")
            // Three answers are owed; after two of them a review still goes on at once, after all of them it is held.
            try Self.answer(channel)
            try Self.answer(channel)
            try channel.writeInbound(Self.head())
            try channel.writeInbound(HTTPRequestPart.end(nil))
            #expect(try Self.passedOn(channel) == [Self.head(), .end(nil)])
            try Self.answer(channel)
            try Self.answer(channel)
            try channel.writeInbound(Self.head())
            #expect(try Self.passedOn(channel).isEmpty)
            try channel.writeInbound(HTTPRequestPart.end(nil))
            #expect(try Self.passedOn(channel) == [Self.head(), .end(nil)])
        }
    }

    @Test func aReviewIsHeldOnlyUntilItIsClearItGoesOn() async throws {
        try await Self.withChannel { channel in
            // Past the body limit, what was held goes on, and the rest follows as it comes.
            try channel.writeInbound(Self.head())
            let big = ByteBuffer(repeating: UInt8(ascii: "e"), count: 40_000)
            try channel.writeInbound(HTTPRequestPart.body(big))
            #expect(try Self.passedOn(channel).isEmpty)
            try channel.writeInbound(HTTPRequestPart.body(big))
            try channel.writeInbound(HTTPRequestPart.end(nil))
            #expect(try Self.passedOn(channel) == [Self.head(), .body(big), .body(big), .end(nil)])
            try Self.answer(channel)

            // `Connection: close`, `Expect`, another method and a query go on at once.
            for head in [
                Self.head(.post, Self.reviewPath, [.connection: "close"]), Self.head(.post, Self.reviewPath, [.expect: "100-continue"]),
                Self.head(.put), Self.head(.post, Self.reviewPath + "?x=1"),
            ] {
                try channel.writeInbound(head)
                #expect(try Self.passedOn(channel) == [head])
                try channel.writeInbound(HTTPRequestPart.end(nil))
                #expect(try Self.passedOn(channel) == [.end(nil)])
                try Self.answer(channel)
            }

            // A server shutting down: a held review goes on, and so does every later one.
            let keepAlive = Self.head(.post, Self.reviewPath, [.connection: "keep-alive"])
            try channel.writeInbound(keepAlive)
            #expect(try Self.passedOn(channel).isEmpty)
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
            #expect(try Self.passedOn(channel) == [keepAlive])
            try channel.writeInbound(HTTPRequestPart.end(nil))
            try Self.answer(channel)
            try channel.writeInbound(Self.head())
            #expect(try Self.passedOn(channel) == [.end(nil), Self.head()])
        }
    }

    @Test func aConnectionThatOpensWithAnotherRequestLosesTheHandler() async throws {
        try await Self.withChannel { channel in
            try channel.writeInbound(Self.head(.get, "/v1/tokens/self"))
            #expect(try Self.passedOn(channel) == [Self.head(.get, "/v1/tokens/self")])
            #expect(throws: ChannelPipelineError.self) { try channel.pipeline.syncOperations.handler(type: TokenReviewFastPath.self) }
            try channel.writeInbound(HTTPRequestPart.end(nil))
            try Self.answer(channel)
            // A review on it now goes straight on: nothing is held or answered before the router.
            try channel.writeInbound(Self.head())
            #expect(try Self.passedOn(channel) == [.end(nil), Self.head()])
        }
    }
}
