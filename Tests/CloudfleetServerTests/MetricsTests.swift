import CloudfleetCore
import CloudfleetStore
import CloudfleetStoreSQLite
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import CloudfleetServer

/// `GET /metrics` (Prometheus text for a `metrics` service credential) and `/readyz`.
@Suite struct MetricsTests {
    /// The samples of a scrape: `name{labels}` → value.
    struct Scrape {
        let text: String
        let samples: [String: Double]

        init(_ reply: Reply) throws {
            guard reply.status == .ok else { throw TestFailure("scrape answered \(reply.status): \(reply.text)") }
            text = reply.text
            var samples: [String: Double] = [:]
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                    throw TestFailure("not a sample: \(line)")
                }
                samples[String(line[..<space])] = value
            }
            self.samples = samples
        }

        func authentications(_ path: String, _ outcome: String) -> Double? {
            samples[#"cloudfleet_authentications_total{path="\#(path)",outcome="\#(outcome)"}"#]
        }

        /// The label sets of the request-duration histogram.
        var routes: [String] {
            samples.keys.filter { $0.hasPrefix("cloudfleet_http_request_duration_seconds_count{") }.sorted()
        }
    }

    private func scrape(_ client: some TestClientProtocol, _ credential: String) async throws -> Scrape {
        try Scrape(try await client.send(.get, "/metrics", auth: Credentials.bearerHeader(credential)))
    }

    @Test func onlyAMetricsCredentialMayScrape() async throws {
        let world = try await TestWorld.make()
        let metrics = try await world.serviceCredential(.metrics, name: "prometheus")
        let scanner = try await world.serviceCredential(.secretScanner, name: "scanner")
        try await world.test { client in
            let refusals: [(String, HTTPFields)] = [
                ("no credential", [:]),
                ("a secret-scanner credential", Credentials.bearerHeader(scanner)),
                ("an unknown credential", Credentials.bearerHeader(ServiceCredential.generate().reveal)),
                ("an Administrator token", world.admin.basic),
                ("an access token", Credentials.bearerHeader(try await client.accessToken(world.admin))),
            ]
            for (what, auth) in refusals {
                let reply = try await client.send(.get, "/metrics", auth: auth)
                #expect(reply.status == .unauthorized, "\(what): \(reply.text)")
                #expect(reply.headers[.wwwAuthenticate] == #"Bearer realm="cloudfleet-service""#)
                #expect(!reply.text.contains("cloudfleet_"), "\(what) saw metrics")
            }
            let reply = try await client.send(.get, "/metrics", auth: Credentials.bearerHeader(metrics))
            #expect(reply.status == .ok)
            #expect(reply.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
            #expect(reply.headers[.cacheControl] == "no-store")
            #expect(reply.text.contains("# TYPE cloudfleet_authentications_total counter"))
        }
    }

    @Test func countersShowAuthenticationsByPathAndOutcome() async throws {
        let clock = TestClock()
        let world = try await TestWorld.make(now: clock.function)
        let credential = try await world.serviceCredential(.metrics, name: "prometheus")
        try await world.test { client in
            var apiSuccesses = 0.0
            func api(_ auth: HTTPFields, _ expected: HTTPResponse.Status) async throws {
                let reply = try await client.send(.get, "/v1/organization", auth: auth)
                #expect(reply.status == expected, "\(reply.text)")
            }
            for _ in 1...3 { try await api(world.admin.basic, .ok) }
            apiSuccesses += 3
            let wrong = Credentials(id: world.admin.id, secret: TokenSecret.generate().reveal)
            for _ in 1...2 { try await api(wrong.basic, .unauthorized) }
            try await api([:], .unauthorized)
            let bearer = Credentials.bearerHeader(try await client.accessToken(world.user))
            try await api(bearer, .ok)
            apiSuccesses += 1
            #expect(try await client.exchange(wrong).status == .unauthorized)

            let expiring = try await client.createToken(world.admin, name: "expiring", with: ["expires_at": clock.now.addingTimeInterval(60).rfc3339])
            let fenced = try await client.createToken(world.admin, name: "fenced", with: ["allowed_cidrs": ["10.0.0.0/8"]])
            apiSuccesses += 2
            clock.advance(by: 61)
            try await api(expiring.basic, .unauthorized)
            #expect(try await client.exchange(expiring).status == .unauthorized)
            try await api(fenced.basic, .forbidden)
            let limited = Credentials(id: world.user.id, secret: TokenSecret.generate().reveal)
            for _ in 1...10 { try await api(limited.basic, .unauthorized) }
            try await api(limited.basic, .tooManyRequests)

            let clusterID = try await client.createCluster(world.admin.basic, name: "prod")
            let webhook = try await client.issueWebhookCredential(world.admin.basic, cluster: clusterID)
            let clusterToken = try await client.clusterToken(world.admin.basic, cluster: clusterID)
            apiSuccesses += 3
            #expect(try await client.verdict(cluster: clusterID, credential: webhook, token: clusterToken).authenticated == true)
            #expect(try await client.verdict(cluster: clusterID, credential: webhook, token: "garbage").isPlainRefusal)

            let scraped = try await scrape(client, credential)
            #expect(scraped.authentications("api", "success") == apiSuccesses)
            #expect(scraped.authentications("api", "failure") == 13)  // 2 wrong, 1 anonymous, 10 of the burst
            #expect(scraped.authentications("api", "expired") == 1)
            #expect(scraped.authentications("api", "ip_refused") == 1)
            #expect(scraped.authentications("api", "rate_limited") == 1)
            #expect(scraped.authentications("token_endpoint", "success") == 1)
            #expect(scraped.authentications("token_endpoint", "failure") == 1)
            #expect(scraped.authentications("token_endpoint", "expired") == 1)
            #expect(scraped.authentications("token_endpoint", "ip_refused") == 0)
            #expect(scraped.authentications("webhook", "success") == 1)
            #expect(scraped.authentications("webhook", "failure") == 1)
            // Tokens over all organizations: home's admin, user, expiring and fenced, and the other's admin.
            #expect(scraped.samples[#"cloudfleet_tokens{role="Administrator"}"#] == 2)
            #expect(scraped.samples[#"cloudfleet_tokens{role="User"}"#] == 3)
            #expect((scraped.samples[#"cloudfleet_verification_cache_lookups_total{result="hit"}"#] ?? 0) > 0)
            #expect((scraped.samples[#"cloudfleet_verification_cache_lookups_total{result="miss"}"#] ?? 0) > 0)
            #expect(scraped.samples["cloudfleet_store_errors_total"] == 0)

            // The gauge follows the store at each scrape.
            #expect(try await client.send(.delete, "/v1/tokens/\(fenced.id)", auth: world.admin.basic).status == .noContent)
            #expect(try await scrape(client, credential).samples[#"cloudfleet_tokens{role="User"}"#] == 2)
        }
    }

    /// The webhook's route is taken before the router (`TokenReviewRouteResponder`) unless its path has another form:
    /// both ways count under the router's name for the route.
    @Test func theWebhookRouteHasOneLabelWhicheverWayItIsMatched() async throws {
        let world = try await TestWorld.make()
        let credential = try await world.serviceCredential(.metrics, name: "prometheus")
        try await world.test { client in
            let clusterID = try await client.createCluster(world.admin.basic, name: "prod")
            let webhook = try await client.issueWebhookCredential(world.admin.basic, cluster: clusterID)
            let body = try Kube.tokenReview("garbage")
            for path in ["/v1/clusters/\(clusterID)/tokenreview", "/v1/clusters/\(clusterID)/tokenreview/"] {
                #expect(try await client.send(.post, path, auth: Credentials.bearerHeader(webhook), json: body).status == .ok)
            }
            let scraped = try await scrape(client, credential)
            let webhookRoutes = scraped.routes.filter { $0.contains("tokenreview") }
            #expect(
                webhookRoutes == [
                    #"cloudfleet_http_request_duration_seconds_count{method="POST",route="/v1/clusters/{id}/tokenreview",status="200"}"#
                ])
            #expect(scraped.samples[webhookRoutes.first ?? ""] == 2)
        }
    }

    @Test func latencyIsRecordedByRoutePatternNeverByRawPath() async throws {
        let world = try await TestWorld.make()
        let credential = try await world.serviceCredential(.metrics, name: "prometheus")
        try await world.test { client in
            let token = try await client.createToken(world.admin, name: "described")
            let clusterID = try await client.createCluster(world.admin.basic, name: "prod")
            for _ in 1...3 { #expect(try await client.send(.get, "/v1/tokens/\(token.id)", auth: world.admin.basic).status == .ok) }
            #expect(try await client.send(.get, "/v1/tokens/\(TokenID.generate())", auth: world.admin.basic).status == .notFound)
            #expect(try await client.send(.get, "/v1/clusters/\(clusterID)", auth: world.admin.basic).status == .ok)
            #expect(try await client.send(.patch, "/v1/tokens/\(token.id)", auth: world.user.basic, json: #"{"name":"x"}"#).status == .forbidden)
            #expect(try await client.send(.get, "/v1/no/such/\(token.id)", auth: world.admin.basic).status == .notFound)

            let scraped = try await scrape(client, credential)
            let routes = scraped.routes
            #expect(scraped.samples[#"cloudfleet_http_request_duration_seconds_count{method="GET",route="/v1/tokens/{id}",status="200"}"#] == 3)
            #expect(scraped.samples[#"cloudfleet_http_request_duration_seconds_count{method="GET",route="/v1/tokens/{id}",status="404"}"#] == 1)
            #expect(scraped.samples[#"cloudfleet_http_request_duration_seconds_count{method="PATCH",route="/v1/tokens/{id}",status="403"}"#] == 1)
            #expect(scraped.samples[#"cloudfleet_http_request_duration_seconds_count{method="GET",route="/v1/clusters/{id}",status="200"}"#] == 1)
            #expect(scraped.samples[#"cloudfleet_http_request_duration_seconds_count{method="POST",route="/v1/tokens",status="201"}"#] == 1)
            #expect(
                scraped.samples[#"cloudfleet_http_request_duration_seconds_bucket{method="GET",route="/v1/tokens/{id}",status="200",le="+Inf"}"#] == 3
            )
            // No label anywhere holds an ID or a raw path.
            for id in [token.id, clusterID, world.admin.id] {
                #expect(!scraped.text.contains(id), "\(id) appears in the metrics")
            }
            #expect(!scraped.text.contains("/v1/no/such"), "an unmatched raw path appears in the metrics: \(routes)")
        }
    }

    /// Labels come from a closed set, so that no client can make the server keep ever more series in memory.
    @Test func clientsCannotInventLabelValues() async throws {
        let world = try await TestWorld.make()
        let credential = try await world.serviceCredential(.metrics, name: "prometheus")
        try await world.test { client in
            var invented: [String] = []
            for _ in 1...20 {
                let name = "X" + Base62.random(length: 12).uppercased()
                invented.append(name)
                _ = try await client.send(try #require(HTTPRequest.Method(name)), "/v1/tokens", auth: world.admin.basic)
                _ = try await client.send(try #require(HTTPRequest.Method(name)), "/\(name)")
            }
            let scraped = try await scrape(client, credential)
            for name in invented { #expect(!scraped.text.contains(name), "\(name) became a label value") }
            #expect(scraped.routes.count <= 4, "\(scraped.routes)")
        }
    }

    @Test func readinessAndStoreErrorsFollowTheStore() async throws {
        let world = try await TestWorld.make()
        let credential = try await world.serviceCredential(.metrics, name: "prometheus")
        let app = try await buildApplication(configuration: world.configuration, dependencies: world.dependencies)
        try await app.test(.router) { client in
            let ready = try await client.send(.get, "/readyz")
            #expect(ready.status == .ok)
            #expect(ready.text == "ready\n")
            // The scrape reads the credentials now; they are kept for a few seconds.
            #expect(try await scrape(client, credential).samples["cloudfleet_store_errors_total"] == 0)
            try await world.store.close()
            let down = try await client.send(.get, "/readyz")
            #expect(down.status == .serviceUnavailable)
            #expect(down.text == "store unavailable\n")
            #expect(try await client.send(.get, "/healthz").status == .ok)
            // The scrape still answers and counts the failure; an API call answers 503 and counts too.
            let outage = try await client.send(.get, "/v1/organization", auth: world.admin.basic)
            #expect(outage.status == .serviceUnavailable, "\(outage.text)")
            let scraped = try await scrape(client, credential)
            #expect(scraped.samples["cloudfleet_store_errors_total"] == 2)
        }
        try? FileManager.default.removeItem(at: world.directory)
    }
}
