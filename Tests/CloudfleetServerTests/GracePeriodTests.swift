import CloudfleetCore
import CloudfleetStore
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import CloudfleetServer

/// Rotation without downtime: `POST /v1/tokens/{id}/secret` with a grace period, on the injected clock. The idle
/// retirement is the default 900 seconds.
@Suite struct GracePeriodTests {
    /// Regenerates `token`'s secret with `body` and returns the new credentials and the answer.
    private func regenerate(_ client: some TestClientProtocol, _ token: Credentials, by admin: Credentials, body: String?) async throws
        -> (Credentials, Reply)
    {
        let reply = try await client.send(.post, "/v1/tokens/\(token.id)/secret", auth: admin.basic, json: body)
        guard reply.status == .ok else { throw TestFailure("regenerate failed: \(reply.status) \(reply.text)") }
        return (Credentials(id: token.id, secret: try reply.string("secret")), reply)
    }

    private func status(_ client: some TestClientProtocol, _ auth: HTTPFields) async throws -> HTTPResponse.Status {
        try await client.send(.get, "/v1/organization", auth: auth).status
    }

    @Test func thePreviousSecretIsRetiredEarlyOnceTheNewOneIsUsedAndTheOldOneIdles() async throws {
        let clock = TestClock()
        let world = try await TestWorld.make(now: clock.function)
        try await world.test { client in
            let old = try await client.createToken(world.admin, name: "pipeline")
            let oldBearer = Credentials.bearerHeader(try await client.accessToken(old))
            clock.advance(by: 10)
            let rotatedAt = clock.now
            let (new, reply) = try await regenerate(client, old, by: world.admin, body: #"{"grace_period":"1h"}"#)
            #expect(try reply.json["secret_generation"] as? Int == 2)
            #expect(try reply.string("previous_secret_valid_until") == rotatedAt.addingTimeInterval(3600).rfc3339)
            #expect(try reply.json["previous_secret_last_used_at"] is NSNull)
            #expect(try reply.json["secret_last_used_at"] is NSNull)

            // Both secrets work, and so does the access token minted from the old one; the new one mints too.
            clock.advance(by: 10)
            #expect(try await status(client, old.basic) == .ok)
            #expect(try await status(client, oldBearer) == .ok)
            #expect(try await status(client, new.basic) == .ok)
            let newBearer = Credentials.bearerHeader(try await client.accessToken(new))
            #expect(try await status(client, newBearer) == .ok)
            #expect(try await client.exchange(old).status == .ok, "the previous secret still exchanges")

            // The old secret keeps working while it is in use...
            clock.advance(by: 880)
            #expect(try await status(client, old.basic) == .ok)
            // ...and is retired once it has been idle for 900 s after the new secret was used, long before the hour.
            clock.advance(by: 901)
            #expect(try await status(client, old.basic) == .unauthorized)
            #expect(try await status(client, oldBearer) == .unauthorized)
            #expect(try await client.exchange(old).status == .unauthorized)
            #expect(try await status(client, new.basic) == .ok)
            #expect(try await status(client, Credentials.bearerHeader(try await client.accessToken(new))) == .ok)
        }
    }

    @Test func withoutUseOfTheNewSecretTheOldOneWorksUntilTheGracePeriodEnds() async throws {
        let clock = TestClock()
        let world = try await TestWorld.make(now: clock.function).configured { $0.clusterTokenLifetime = 7200 }
        try await world.test { client in
            let old = try await client.createToken(world.admin, name: "nightly")
            let clusterID = try await client.createCluster(world.admin.basic, name: "prod")
            let webhook = try await client.issueWebhookCredential(world.admin.basic, cluster: clusterID)
            // The pipeline used its secret before the rotation, as a real one would have.
            #expect(try await status(client, old.basic) == .ok)
            let oldClusterToken = try await client.clusterToken(old.basic, cluster: clusterID)
            clock.advance(by: 60)
            let rotatedAt = clock.now
            let (new, _) = try await regenerate(client, old, by: world.admin, body: #"{"grace_period":"1h"}"#)

            // Nobody uses the new secret: long idle stretches do not retire the old one.
            clock.advance(by: 1000)
            #expect(try await status(client, old.basic) == .ok, "retired early although the new secret was never used")
            #expect(try await client.verdict(cluster: clusterID, credential: webhook, token: oldClusterToken).authenticated == true)
            clock.advance(by: 2000)
            let lateBearer = Credentials.bearerHeader(try await client.accessToken(old))  // valid for 15 minutes
            #expect(
                try await client.describe(old.id, auth: world.admin)["previous_secret_valid_until"] as? String
                    == rotatedAt.addingTimeInterval(3600).rfc3339)
            clock.advance(by: 599)  // one second before the end
            #expect(try await status(client, old.basic) == .ok)
            #expect(try await status(client, lateBearer) == .ok)

            clock.advance(by: 1)  // the grace period is over
            #expect(try await status(client, old.basic) == .unauthorized)
            #expect(try await status(client, lateBearer) == .unauthorized, "an access token of the old secret ends with it")
            #expect(try await client.verdict(cluster: clusterID, credential: webhook, token: oldClusterToken).isPlainRefusal)
            #expect(try await status(client, new.basic) == .ok)
            let described = try await client.describe(old.id, auth: world.admin)
            #expect(described["previous_secret_valid_until"] is NSNull)
            #expect(described["previous_secret_last_used_at"] is NSNull)
        }
    }

    /// The use of the old secret just before the rotation is written behind after it; it must not count as a use
    /// of the new secret (which would start the early retirement and show as `secret_last_used_at`).
    @Test func aUseOfTheOldSecretWrittenAfterTheRotationIsNotAUseOfTheNewOne() async throws {
        let clock = TestClock()
        let world = try await TestWorld.make(now: clock.function)
        let old = try await world.run { client in
            let old = try await client.createToken(world.admin, name: "nightly")
            #expect(try await status(client, old.basic) == .ok)
            clock.advance(by: 10)
            _ = try await regenerate(client, old, by: world.admin, body: #"{"grace_period":"1h"}"#)
            return old
        }
        // The restart wrote the pending use.
        try await world.test { client in
            let described = try await client.describe(old.id, auth: world.admin)
            #expect(described["secret_last_used_at"] is NSNull, "the new secret has not been used: \(described)")
            #expect(described["last_used_at"] as? String == clock.now.addingTimeInterval(-10).rfc3339, "the use itself is kept")
            clock.advance(by: 1000)
            #expect(try await status(client, old.basic) == .ok, "retired early although the new secret was never used")
        }
    }

    @Test func lastUseOfBothSecretsIsRecordedAndTheRetirementSurvivesARestart() async throws {
        let clock = TestClock()
        let world = try await TestWorld.make(now: clock.function)
        let start = clock.now
        let (old, new) = try await world.run { client in
            let old = try await client.createToken(world.admin, name: "pipeline")
            let (new, _) = try await regenerate(client, old, by: world.admin, body: #"{"grace_period":"1h"}"#)
            clock.advance(by: 5)
            #expect(try await client.send(.get, "/v1/organization", auth: new.basic, headers: [.userAgent: "new/1"]).status == .ok)
            clock.advance(by: 1)
            #expect(try await client.send(.get, "/v1/organization", auth: old.basic, headers: [.userAgent: "old/1"]).status == .ok)
            return (old, new)
        }
        try await world.test { client in
            let described = try await client.describe(old.id, auth: world.admin)
            #expect(described["secret_last_used_at"] as? String == start.addingTimeInterval(5).rfc3339)
            #expect(described["previous_secret_last_used_at"] as? String == start.addingTimeInterval(6).rfc3339)
            #expect(described["last_used_at"] as? String == start.addingTimeInterval(6).rfc3339)
            #expect(described["last_used_user_agent"] as? String == "old/1")
            #expect(described["previous_secret_valid_until"] as? String == start.addingTimeInterval(3600).rfc3339)

            // This node has seen no use since the restart; the stored uses decide.
            clock.advance(by: 901)
            let retired = try await client.describe(old.id, auth: world.admin)
            #expect(retired["previous_secret_valid_until"] is NSNull)
            #expect(retired["previous_secret_last_used_at"] is NSNull)
            #expect(try await status(client, old.basic) == .unauthorized)
            #expect(try await status(client, new.basic) == .ok)
        }
    }

    @Test func withoutAGracePeriodTheOldSecretIsRefusedAtOnce() async throws {
        let clock = TestClock()
        let world = try await TestWorld.make(now: clock.function)
        try await world.test { client in
            // No body and an empty JSON object mean "no grace period"; an explicit null is refused (the document
            // does not allow it) and changes nothing.
            let kept = try await client.createToken(world.admin, name: "null grace")
            let refused = try await client.send(
                .post, "/v1/tokens/\(kept.id)/secret", auth: world.admin.basic, json: #"{"grace_period":null}"#)
            #expect(refused.status == .badRequest && refused.error.field == "grace_period", "\(refused.text)")
            #expect(try await status(client, kept.basic) == .ok)
            for body in [nil, "{}"] {
                let old = try await client.createToken(world.admin, name: "seed")
                let oldBearer = Credentials.bearerHeader(try await client.accessToken(old))
                let (new, reply) = try await regenerate(client, old, by: world.admin, body: body)
                #expect(try reply.json["previous_secret_valid_until"] is NSNull)
                #expect(try await status(client, old.basic) == .unauthorized, "body \(body ?? "none")")
                #expect(try await status(client, oldBearer) == .unauthorized, "body \(body ?? "none")")
                #expect(try await status(client, new.basic) == .ok)
            }
            // A regeneration without grace also ends a running grace period.
            let old = try await client.createToken(world.admin, name: "twice")
            let (middle, _) = try await regenerate(client, old, by: world.admin, body: #"{"grace_period":"1h"}"#)
            #expect(try await status(client, old.basic) == .ok)
            let (newest, _) = try await regenerate(client, middle, by: world.admin, body: nil)
            #expect(try await status(client, old.basic) == .unauthorized)
            #expect(try await status(client, middle.basic) == .unauthorized)
            #expect(try await status(client, newest.basic) == .ok)
        }
    }

    @Test func aSecondRegenerationKeepsOnlyTheSecretItReplaces() async throws {
        let clock = TestClock()
        let world = try await TestWorld.make(now: clock.function)
        try await world.test { client in
            let first = try await client.createToken(world.admin, name: "rotating")
            let (second, _) = try await regenerate(client, first, by: world.admin, body: #"{"grace_period":"1h"}"#)
            let (third, reply) = try await regenerate(client, second, by: world.admin, body: #"{"grace_period":"2h"}"#)
            #expect(try reply.json["secret_generation"] as? Int == 3)
            #expect(try reply.string("previous_secret_valid_until") == clock.now.addingTimeInterval(7200).rfc3339)
            #expect(try await status(client, first.basic) == .unauthorized)
            #expect(try await status(client, second.basic) == .ok)
            #expect(try await status(client, third.basic) == .ok)
            // Audited with the grace period.
            let events = try await client.audit(world.admin, "token=\(first.id)&action=token.regenerate")
            #expect(events.compactMap { ($0["details"] as? [String: String])?["grace_period_seconds"] } == ["7200", "3600"])
        }
    }

    @Test func theGracePeriodIsValidated() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let token = try await client.createToken(world.admin, name: "validated")
            let cases: [(String, Int, String?)] = [
                (#"{"grace_period":"8d"}"#, 422, "grace_period"),
                (#"{"grace_period":"604801"}"#, 422, "grace_period"),
                (#"{"grace_period":"soon"}"#, 422, "grace_period"),
                (#"{"grace_period":"0"}"#, 422, "grace_period"),
                (#"{"grace_period":3600}"#, 400, "grace_period"),
                (#"{"grace":"1h"}"#, 400, "grace"),
                (#"["1h"]"#, 400, nil),
            ]
            for (body, status, field) in cases {
                let reply = try await client.send(.post, "/v1/tokens/\(token.id)/secret", auth: world.admin.basic, json: body)
                #expect(Int(reply.status.code) == status, "\(body): \(reply.text)")
                #expect(reply.error.field == field, "\(body): \(reply.text)")
            }
            let notJSON = try await client.send(
                .post, "/v1/tokens/\(token.id)/secret", auth: world.admin.basic, json: "grace_period=1h",
                headers: [.contentType: "application/x-www-form-urlencoded"])
            #expect(notJSON.status == .unsupportedMediaType)
            // Nothing was regenerated by the refused calls.
            #expect(try await status(client, token.basic) == .ok)
            #expect(try await client.describe(token.id, auth: world.admin)["secret_generation"] as? Int == 1)
            // The longest grace period is accepted.
            let (_, reply) = try await regenerate(client, token, by: world.admin, body: #"{"grace_period":"7d"}"#)
            #expect(try reply.json["previous_secret_valid_until"] is String)
        }
    }
}
