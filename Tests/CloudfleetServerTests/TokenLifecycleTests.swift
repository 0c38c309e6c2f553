import CloudfleetCore
import CloudfleetStore
import CloudfleetStoreSQLite
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import Testing

@testable import CloudfleetServer

/// The seed's lifecycle through the API: create, list, describe, update, regenerate, delete.
@Suite struct TokenLifecycleTests {
    @Test func createShowsTheSecretOnceAndNeverAgain() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let reply = try await client.send(.post, "/v1/tokens", auth: world.admin.basic, json: #"{"name":"  deploy  ","role":"Administrator"}"#)
            #expect(reply.status == .created)
            #expect(reply.headers[.cacheControl] == "no-store")
            let id = try reply.string("id")
            let secret = try reply.string("secret")
            #expect(reply.headers[.location] == "/v1/tokens/\(id)")
            #expect(try reply.string("name") == "deploy")
            #expect(try reply.string("role") == "Administrator")
            #expect(try reply.string("kubernetes_username") == "service-account-\(id.lowercased())")
            #expect(try reply.string("created_by") == "token:\(world.admin.id)")
            _ = try TokenSecret(parsing: secret)

            let described = try await client.send(.get, "/v1/tokens/\(id)", auth: world.admin.basic)
            let listed = try await client.send(.get, "/v1/tokens", auth: world.admin.basic)
            for body in [described.text, listed.text] {
                #expect(!body.contains(secret))
                #expect(!body.contains("\"secret\""))
                #expect(!body.contains("digest"))
                #expect(!body.contains("hmac"))
            }
            // The new credentials work at once.
            let created = Credentials(id: id, secret: secret)
            #expect(try await client.send(.get, "/v1/organization", auth: created.basic).status == .ok)
        }
    }

    @Test func regenerateReplacesTheSecretAtOnceOnBothPaths() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let token = try await client.createToken(world.admin, role: "Administrator")
            let oldBearer = Credentials.bearerHeader(try await client.accessToken(token))
            #expect(try await client.send(.get, "/v1/tokens", auth: oldBearer).status == .ok)

            let reply = try await client.send(.post, "/v1/tokens/\(token.id)/secret", auth: world.admin.basic)
            #expect(reply.status == .ok)
            #expect(reply.headers[.cacheControl] == "no-store")
            let renewed = Credentials(id: token.id, secret: try reply.string("secret"))
            #expect(renewed.secret != token.secret)
            #expect(try reply.json["secret_generation"] as? Int == 2)

            #expect(try await client.send(.get, "/v1/tokens", auth: token.basic).status == .unauthorized)
            #expect(try await client.send(.get, "/v1/tokens", auth: oldBearer).status == .unauthorized)
            #expect(try await client.send(.get, "/v1/tokens", auth: renewed.basic).status == .ok)
            let newBearer = Credentials.bearerHeader(try await client.accessToken(renewed))
            #expect(try await client.send(.get, "/v1/tokens", auth: newBearer).status == .ok)
        }
    }

    @Test func aTokenCanRegenerateItsOwnSecretAndDeleteItself() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let token = try await client.createToken(world.admin, role: "Administrator")
            let reply = try await client.send(.post, "/v1/tokens/\(token.id)/secret", auth: token.basic)
            #expect(reply.status == .ok)
            let renewed = Credentials(id: token.id, secret: try reply.string("secret"))
            #expect(try await client.send(.delete, "/v1/tokens/\(token.id)", auth: renewed.basic).status == .noContent)
            #expect(try await client.send(.get, "/v1/tokens", auth: renewed.basic).status == .unauthorized)
        }
    }

    @Test func roleChangesTakeEffectAtOnceForAccessTokens() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let token = try await client.createToken(world.admin, role: "User")
            let bearer = Credentials.bearerHeader(try await client.accessToken(token))
            let body = #"{"name":"x","role":"User"}"#
            #expect(try await client.send(.post, "/v1/tokens", auth: bearer, json: body).status == .forbidden)
            let promoted = try await client.send(.patch, "/v1/tokens/\(token.id)", auth: world.admin.basic, json: #"{"role":"Administrator"}"#)
            #expect(promoted.status == .ok)
            #expect(try promoted.string("role") == "Administrator")
            #expect(try await client.send(.post, "/v1/tokens", auth: bearer, json: body).status == .created)
            _ = try await client.send(.patch, "/v1/tokens/\(token.id)", auth: world.admin.basic, json: #"{"role":"User"}"#)
            #expect(try await client.send(.post, "/v1/tokens", auth: bearer, json: body).status == .forbidden)
        }
    }

    @Test func updateChangesOnlyWhatIsGiven() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let token = try await client.createToken(world.admin, name: "before", role: "User")
            let renamed = try await client.send(.patch, "/v1/tokens/\(token.id)", auth: world.admin.basic, json: #"{"name":"after"}"#)
            #expect(try renamed.string("name") == "after")
            #expect(try renamed.string("role") == "User")
            #expect(try await client.send(.get, "/v1/organization", auth: token.basic).status == .ok)  // Secret untouched.
        }
    }

    @Test func listsArePaginatedWithOpaqueCursors() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            var created: Set<String> = [world.admin.id, world.user.id]
            for index in 0..<5 { created.insert(try await client.createToken(world.admin, name: "t\(index)").id) }
            var seen: [String] = []
            var cursor: String?
            repeat {
                let query = cursor.map { "&cursor=\($0)" } ?? ""
                let page = try await client.send(.get, "/v1/tokens?limit=2\(query)", auth: world.admin.basic)
                #expect(page.status == .ok)
                let items = try #require(try page.json["items"] as? [[String: Any]])
                #expect(items.count <= 2)
                seen += items.compactMap { $0["id"] as? String }
                cursor = try page.json["next_cursor"] as? String
            } while cursor != nil
            #expect(seen.count == created.count)
            #expect(Set(seen) == created)
        }
    }

    @Test func everyChangeIsAuditedWithActorSourceAndRequestID() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let token = try await client.createToken(world.admin, name: "audited")
            _ = try await client.send(.patch, "/v1/tokens/\(token.id)", auth: world.admin.basic, json: #"{"role":"Administrator"}"#)
            let regenerated = try await client.send(.post, "/v1/tokens/\(token.id)/secret", auth: world.admin.basic)
            let deleted = try await client.send(.delete, "/v1/tokens/\(token.id)", auth: world.admin.basic)
            let reply = try await client.send(.get, "/v1/audit-events", auth: world.admin.basic)
            #expect(reply.status == .ok)
            let events = try #require(try reply.json["items"] as? [[String: Any]]).filter { $0["target_id"] as? String == token.id }
            #expect(events.compactMap { $0["action"] as? String } == ["token.delete", "token.regenerate", "token.update", "token.create"])
            for event in events {
                #expect(event["actor"] as? String == "token:\(world.admin.id)")
                #expect(event["request_id"] is String)
                #expect(event["outcome"] as? String == "success")
            }
            #expect(events.first?["request_id"] as? String == deleted.headers[.requestID])
            #expect(!reply.text.contains(token.secret))
            #expect(!reply.text.contains(try regenerated.string("secret")))
        }
    }

    @Test func usageIsWrittenBehindInBatchesAtMostOncePerMinute() async throws {
        let world = try await TestWorld.make()
        try await world.closing {
            let id = try #require(TokenID(world.admin.id))
            let recorder = UsageRecorder(store: world.store, flushInterval: 3600, logger: Logger(label: "test"))
            let start = Date(timeIntervalSince1970: 1_900_000_000)
            recorder.record(id, at: start, sourceIP: "192.0.2.1")
            recorder.record(id, at: start.addingTimeInterval(10), sourceIP: "192.0.2.2")
            #expect(try await world.store.token(id: id)?.lastUsedAt == nil, "nothing is written on the request path")
            await recorder.flush()
            let first = try await world.store.token(id: id)
            #expect(first?.lastUsedAt == start)
            #expect(first?.lastUsedIP == "192.0.2.1")
            recorder.record(id, at: start.addingTimeInterval(61), sourceIP: "2001:db8::7")
            await recorder.flush()
            let second = try await world.store.token(id: id)
            #expect(second?.lastUsedAt == start.addingTimeInterval(61))
            #expect(second?.lastUsedIP == "2001:db8::7")
        }
    }

    @Test func eachSecretsUsesAreQueuedAndRememberedApart() async throws {
        let world = try await TestWorld.make()
        try await world.closing {
            let id = try #require(TokenID(world.admin.id))
            let recorder = UsageRecorder(store: world.store, flushInterval: 3600, logger: Logger(label: "test"))
            let start = Date(timeIntervalSince1970: 1_900_000_000)
            #expect(recorder.localUses(of: id) == UsageRecorder.LocalUses())
            recorder.record(id, at: start, sourceIP: "192.0.2.1", slot: .current)
            // Within the minute of the current secret's use: the previous secret's first use is still queued.
            recorder.record(id, at: start.addingTimeInterval(5), sourceIP: "192.0.2.2", slot: .previous)
            recorder.record(id, at: start.addingTimeInterval(20), sourceIP: "192.0.2.3", slot: .current)
            #expect(recorder.localUses(of: id) == .init(current: start.addingTimeInterval(20), previous: start.addingTimeInterval(5)))
            await recorder.flush()
            let token = try #require(try await world.store.token(id: id))
            #expect(token.lastUsedAt == start.addingTimeInterval(5), "the previous secret's use was written; the third was not")
            #expect(token.secretLastUsedAt == start)
        }
    }
}
