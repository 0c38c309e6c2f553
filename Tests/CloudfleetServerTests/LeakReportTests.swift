import CloudfleetCore
import CloudfleetStore
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import CloudfleetServer

/// `POST /v1/secrets/report`: secret scanners report leaked secrets, which are revoked at once.
@Suite struct LeakReportTests {
    static let scanner = "github-secret-scanning"

    /// A report in the partner programme's format.
    static func report(_ tokens: [String], url: String = "https://github.com/acme/app/blob/0a1b2c3/deploy.sh#L12") throws -> String {
        let entries = tokens.map { ["token": $0, "type": "cloudfleet_token_secret", "url": url, "source": "content"] }
        return String(decoding: try JSONSerialization.data(withJSONObject: entries, options: [.sortedKeys]), as: UTF8.self)
    }

    private func post(_ client: some TestClientProtocol, _ body: String, credential: String?) async throws -> Reply {
        try await client.send(.post, "/v1/secrets/report", auth: credential.map { Credentials.bearerHeader($0) } ?? [:], json: body)
    }

    @Test func aReportedCurrentSecretIsRevokedAtOnceAndAudited() async throws {
        let clock = TestClock()
        let world = try await TestWorld.make(now: clock.function).configured { $0.clusterTokenLifetime = 3600 }
        let credential = try await world.serviceCredential(.secretScanner, name: Self.scanner)
        try await world.test { client in
            let leaked = try await client.createToken(world.admin, name: "leaky", role: "Administrator")
            let bearer = Credentials.bearerHeader(try await client.accessToken(leaked))
            let clusterID = try await client.createCluster(world.admin.basic, name: "prod")
            let webhook = try await client.issueWebhookCredential(world.admin.basic, cluster: clusterID)
            let clusterToken = try await client.clusterToken(leaked.basic, cluster: clusterID)

            let reply = try await post(client, try Self.report([leaked.secret]), credential: credential)
            #expect(reply.status == .accepted, "\(reply.text)")
            #expect(reply.text == #"{"received":1}"#)
            #expect(!reply.text.contains(leaked.id))

            // Refused on every path at once.
            #expect(try await client.send(.get, "/v1/organization", auth: leaked.basic).status == .unauthorized)
            #expect(try await client.send(.get, "/v1/organization", auth: bearer).status == .unauthorized)
            #expect(try await client.exchange(leaked).status == .unauthorized)
            #expect(try await client.verdict(cluster: clusterID, credential: webhook, token: clusterToken).isPlainRefusal)
            // The token stays, with a new generation, until an Administrator regenerates it.
            let described = try await client.describe(leaked.id, auth: world.admin)
            #expect(described["name"] as? String == "leaky")
            #expect(described["role"] as? String == "Administrator")
            #expect(described["secret_generation"] as? Int == 2)
            let regenerated = try await client.send(.post, "/v1/tokens/\(leaked.id)/secret", auth: world.admin.basic)
            let renewed = Credentials(id: leaked.id, secret: try regenerated.string("secret"))
            #expect(try await client.send(.get, "/v1/organization", auth: renewed.basic).status == .ok)

            let events = try await client.audit(world.admin, "token=\(leaked.id)&action=token.revoke_leaked")
            let event = try #require(events.first)
            #expect(events.count == 1)
            #expect(event["actor"] as? String == "service:\(Self.scanner)")
            #expect(
                event["details"] as? [String: String] == [
                    "reporter": Self.scanner, "url": "https://github.com/acme/app/blob/0a1b2c3/deploy.sh#L12", "secret": "current",
                ])
            #expect(event["request_id"] as? String == reply.headers[.requestID])
            let trail = try await client.send(.get, "/v1/audit-events", auth: world.admin.basic)
            #expect(!trail.text.contains(leaked.secret))
            // Reporting it again finds nothing: answered alike, audited once.
            let again = try await post(client, try Self.report([leaked.secret]), credential: credential)
            #expect(again.status == .accepted)
            #expect(again.text == reply.text)
            #expect(try await client.audit(world.admin, "action=token.revoke_leaked").count == 1)
        }
    }

    @Test func aReportedPreviousSecretInItsGracePeriodIsRevokedAndTheNewOneKeepsWorking() async throws {
        let world = try await TestWorld.make()
        let credential = try await world.serviceCredential(.secretScanner, name: Self.scanner)
        try await world.test { client in
            let old = try await client.createToken(world.admin, name: "rotating")
            let oldBearer = Credentials.bearerHeader(try await client.accessToken(old))
            let regenerated = try await client.send(
                .post, "/v1/tokens/\(old.id)/secret", auth: world.admin.basic, json: #"{"grace_period":"1h"}"#)
            let new = Credentials(id: old.id, secret: try regenerated.string("secret"))
            #expect(try await client.send(.get, "/v1/organization", auth: old.basic).status == .ok)

            let reply = try await post(client, try Self.report([old.secret]), credential: credential)
            #expect(reply.status == .accepted)
            #expect(try await client.send(.get, "/v1/organization", auth: old.basic).status == .unauthorized)
            #expect(try await client.send(.get, "/v1/organization", auth: oldBearer).status == .unauthorized)
            #expect(try await client.send(.get, "/v1/organization", auth: new.basic).status == .ok)
            let described = try await client.describe(old.id, auth: world.admin)
            #expect(described["previous_secret_valid_until"] is NSNull)
            #expect(described["secret_generation"] as? Int == 2)
            let event = try #require(try await client.audit(world.admin, "action=token.revoke_leaked").first)
            #expect((event["details"] as? [String: String])?["secret"] == "previous")
        }
    }

    @Test func theAnswerIsTheSameWhateverWasReported() async throws {
        let world = try await TestWorld.make()
        let credential = try await world.serviceCredential(.secretScanner, name: Self.scanner)
        try await world.test { client in
            let real = try await client.createToken(world.admin, name: "real")
            let other = try await client.createToken(world.otherAdmin, name: "other org")
            let answers = [
                try await post(client, try Self.report([TokenSecret.generate().reveal, "hello"]), credential: credential),
                try await post(client, try Self.report([real.secret, other.secret]), credential: credential),
                try await post(client, try Self.report(["cfs_" + String(repeating: "a", count: 46), ""]), credential: credential),
            ]
            for answer in answers {
                #expect(answer.status == .accepted)
                #expect(answer.text == #"{"received":2}"#)
            }
            #expect(try await post(client, "[]", credential: credential).text == #"{"received":0}"#)
            // Both organizations' tokens were revoked, each audited in its own organization.
            #expect(try await client.send(.get, "/v1/organization", auth: real.basic).status == .unauthorized)
            #expect(try await client.send(.get, "/v1/organization", auth: other.basic).status == .unauthorized)
            #expect(try await client.audit(world.admin, "action=token.revoke_leaked").map { $0["target_id"] as? String } == [real.id])
            #expect(try await client.audit(world.otherAdmin, "action=token.revoke_leaked").map { $0["target_id"] as? String } == [other.id])
            // Members the format may add are ignored; type, url and source may be missing.
            let minimal = try await post(client, #"[{"token":"cfs_x","extra":1},{"token":"cfs_y","url":null}]"#, credential: credential)
            #expect(minimal.status == .accepted, "\(minimal.text)")
        }
    }

    @Test func onlyASecretScannerCredentialMayReport() async throws {
        let clock = TestClock()
        let world = try await TestWorld.make(now: clock.function)
        let metrics = try await world.serviceCredential(.metrics, name: "prometheus")
        try await world.test { client in
            let token = try await client.createToken(world.admin, name: "target")
            let body = try Self.report([token.secret])
            let refusals: [(String, HTTPFields)] = [
                ("no credential", [:]),
                ("an unknown credential", Credentials.bearerHeader(ServiceCredential.generate().reveal)),
                ("a metrics credential", Credentials.bearerHeader(metrics)),
                ("garbage", Credentials.bearerHeader("cfsvc_nonsense")),
                ("a token's access token", Credentials.bearerHeader(try await client.accessToken(world.admin))),
                ("a token's Basic credentials", world.admin.basic),
            ]
            for (what, auth) in refusals {
                let reply = try await client.send(.post, "/v1/secrets/report", auth: auth, json: body)
                #expect(reply.status == .unauthorized, "\(what): \(reply.text)")
                #expect(reply.error.code == "unauthorized")
                #expect(reply.headers[.wwwAuthenticate] == #"Bearer realm="cloudfleet-service""#)
            }
            #expect(try await client.send(.get, "/v1/organization", auth: token.basic).status == .ok, "nothing was revoked")
            // A credential created meanwhile works within seconds.
            let scanner = try await world.serviceCredential(.secretScanner, name: Self.scanner)
            clock.advance(by: 6)
            #expect(try await post(client, body, credential: scanner).status == .accepted)
            #expect(try await client.send(.get, "/v1/organization", auth: token.basic).status == .unauthorized)
        }
    }

    @Test func malformedOrOversizedReportsAreRefusedWithoutRevokingAnything() async throws {
        let world = try await TestWorld.make()
        let credential = try await world.serviceCredential(.secretScanner, name: Self.scanner)
        try await world.test { client in
            let token = try await client.createToken(world.admin, name: "target")
            let tooMany = try Self.report([token.secret] + (1...100).map { _ in TokenSecret.generate().reveal })
            let oversized = try await post(client, tooMany, credential: credential)
            #expect(oversized.status == .badRequest)
            #expect(oversized.error.code == "too_many_entries")
            let cases: [(String, Int, String)] = [
                (#"{"token":"\#(token.secret)"}"#, 400, "invalid_json"),
                (#"[{"url":"https://example.com"}]"#, 400, "missing_field"),
                (#"[{"token":42}]"#, 400, "invalid_type"),
                ("not json", 400, "invalid_json"),
            ]
            for (body, status, code) in cases {
                let reply = try await post(client, body, credential: credential)
                #expect(Int(reply.status.code) == status, "\(body): \(reply.text)")
                #expect(reply.error.code == code, "\(body): \(reply.text)")
            }
            let form = try await client.send(
                .post, "/v1/secrets/report", auth: Credentials.bearerHeader(credential), json: try Self.report([token.secret]),
                headers: [.contentType: "text/plain"])
            #expect(form.status == .unsupportedMediaType)
            #expect(try await client.send(.get, "/v1/organization", auth: token.basic).status == .ok, "nothing was revoked")
            // A hundred is the most.
            let hundred = try Self.report([token.secret] + (1...99).map { _ in TokenSecret.generate().reveal })
            #expect(try await post(client, hundred, credential: credential).text == #"{"received":100}"#)
            #expect(try await client.send(.get, "/v1/organization", auth: token.basic).status == .unauthorized)
        }
    }
}
