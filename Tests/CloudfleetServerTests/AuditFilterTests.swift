import CloudfleetCore
import CloudfleetStore
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import CloudfleetServer

/// `GET /v1/audit-events?actor=&token=&action=&since=&until=`.
@Suite struct AuditFilterTests {
    @Test func filtersNarrowTheTrailAndCombine() async throws {
        let clock = TestClock()
        let world = try await TestWorld.make(now: clock.function)
        try await world.test { client in
            let start = clock.now
            // Before: the admin creates and renames a token; a second Administrator creates another.
            let deputy = try await client.createToken(world.admin, name: "deputy", role: "Administrator")
            let first = try await client.createToken(world.admin, name: "first")
            _ = try await client.send(.patch, "/v1/tokens/\(first.id)", auth: world.admin.basic, json: #"{"name":"first, renamed"}"#)
            let second = try await client.createToken(deputy, name: "second")
            clock.advance(by: 3600)
            // After: the deputy regenerates the first token and deletes the second.
            _ = try await client.send(.post, "/v1/tokens/\(first.id)/secret", auth: deputy.basic)
            _ = try await client.send(.delete, "/v1/tokens/\(second.id)", auth: deputy.basic)
            let middle = start.addingTimeInterval(1800).rfc3339

            func actions(_ query: String) async throws -> [String] {
                try await client.audit(world.admin, query).compactMap { $0["action"] as? String }
            }
            func targets(_ query: String) async throws -> [String] {
                try await client.audit(world.admin, query).compactMap { $0["target_id"] as? String }
            }
            #expect(try await targets("actor=token:\(deputy.id)") == [second.id, first.id, second.id])
            #expect(try await actions("actor=token:\(deputy.id)") == ["token.delete", "token.regenerate", "token.create"])
            #expect(try await actions("token=\(first.id)") == ["token.regenerate", "token.update", "token.create"])
            #expect(try await targets("action=token.create") == [second.id, first.id, deputy.id, world.user.id, world.admin.id])
            #expect(try await actions("since=\(middle)") == ["token.delete", "token.regenerate"])
            #expect(try await actions("until=\(middle)").prefix(4) == ["token.create", "token.update", "token.create", "token.create"])
            #expect(!(try await actions("until=\(middle)")).contains("token.delete"))
            // Combinations must all hold.
            #expect(try await actions("token=\(first.id)&actor=token:\(world.admin.id)") == ["token.update", "token.create"])
            #expect(try await actions("token=\(first.id)&since=\(middle)") == ["token.regenerate"])
            #expect(try await actions("action=token.create&actor=token:\(deputy.id)&until=\(middle)") == ["token.create"])
            #expect(try await actions("action=token.create&since=\(middle)") == [])
            #expect(try await actions("since=\(start.rfc3339)&until=\(start.rfc3339)") == [])
            // since is inclusive, until exclusive.
            let later = start.addingTimeInterval(3600).rfc3339
            #expect(try await actions("since=\(later)") == ["token.delete", "token.regenerate"])
            #expect(try await actions("until=\(later)").contains("token.regenerate") == false)
            // Fractional seconds are accepted.
            let fractional = Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(start.addingTimeInterval(1800.5))
            #expect(fractional.contains("."))
            #expect(try await actions("since=\(fractional)") == ["token.delete", "token.regenerate"])
            // An unknown actor or token is simply an empty list.
            #expect(try await actions("actor=admin-cli") == [])
            #expect(try await actions("token=\(TokenID.generate())") == [])
            // Another organization's events never appear, whatever the filter.
            #expect(try await client.audit(world.otherAdmin, "token=\(first.id)").isEmpty)
            #expect(try await client.audit(world.otherAdmin, "actor=token:\(world.admin.id)").isEmpty)
        }
    }

    @Test func filtersAreKeptAcrossPages() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            var created: [String] = []
            for index in 0..<5 { created.append(try await client.createToken(world.admin, name: "t\(index)").id) }
            for id in created { _ = try await client.send(.patch, "/v1/tokens/\(id)", auth: world.admin.basic, json: #"{"role":"Administrator"}"#) }
            var seen: [String] = []
            var cursor: String?
            repeat {
                let query = "action=token.update&limit=2" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try await client.send(.get, "/v1/audit-events?\(query)", auth: world.admin.basic)
                #expect(page.status == .ok)
                let items = try #require(try page.json["items"] as? [[String: Any]])
                #expect(items.count <= 2)
                #expect(items.allSatisfy { $0["action"] as? String == "token.update" })
                seen += items.compactMap { $0["target_id"] as? String }
                cursor = try page.json["next_cursor"] as? String
            } while cursor != nil
            #expect(seen == created.reversed())
        }
    }

    @Test func badFilterValuesAnswer400NamingTheParameter() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let cases = [
                ("token=not-a-token", "token"),
                ("token=\(world.admin.id)x", "token"),
                ("action=token.explode", "action"),
                ("action=", "action"),
                ("since=yesterday", "since"),
                ("since=2026-13-01T00:00:00Z", "since"),
                ("until=1700000000", "until"),
                ("until=2026-11-01", "until"),
            ]
            for (query, field) in cases {
                let reply = try await client.send(.get, "/v1/audit-events?\(query)", auth: world.admin.basic)
                #expect(reply.status == .badRequest, "\(query): \(reply.text)")
                #expect(reply.error.code == "invalid_field", "\(query): \(reply.text)")
                #expect(reply.error.field == field, "\(query): \(reply.text)")
            }
            // Users still may not read the trail, filtered or not.
            #expect(try await client.send(.get, "/v1/audit-events?token=\(world.user.id)", auth: world.user.basic).status == .forbidden)
        }
    }
}
