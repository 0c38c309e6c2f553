import CloudfleetCore
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import CloudfleetServer

/// Bad input gets a clear 4xx naming the field, and changes nothing.
@Suite struct InputValidationTests {
    struct BadBody: Sendable, CustomStringConvertible {
        let body: String
        let status: Int
        let field: String?
        var description: String { body.count > 40 ? String(body.prefix(40)) + "…" : body }
    }

    static let badCreates: [BadBody] = [
        BadBody(body: "{", status: 400, field: nil),
        BadBody(body: "not json", status: 400, field: nil),
        BadBody(body: "[]", status: 400, field: nil),
        BadBody(body: "null", status: 400, field: nil),
        BadBody(body: "", status: 400, field: nil),
        BadBody(body: #"{"name":"x"}"#, status: 400, field: "role"),
        BadBody(body: #"{"role":"User"}"#, status: 400, field: "name"),
        BadBody(body: #"{"name":1,"role":"User"}"#, status: 400, field: "name"),
        BadBody(body: #"{"name":"x","role":["User"]}"#, status: 400, field: "role"),
        BadBody(body: #"{"name":null,"role":"User"}"#, status: 400, field: "name"),
        BadBody(body: #"{"name":"x","role":"User","secret":"cfs_x"}"#, status: 400, field: "secret"),
        BadBody(body: #"{"name":"x","role":"Owner"}"#, status: 422, field: "role"),
        BadBody(body: #"{"name":"x","role":"administrator"}"#, status: 422, field: "role"),
        BadBody(body: #"{"name":"","role":"User"}"#, status: 422, field: "name"),
        BadBody(body: #"{"name":"   ","role":"User"}"#, status: 422, field: "name"),
        BadBody(body: #"{"name":"\#(String(repeating: "n", count: 101))","role":"User"}"#, status: 422, field: "name"),
        BadBody(body: #"{"name":"bell\u0007","role":"User"}"#, status: 422, field: "name"),
        BadBody(body: #"{"name":"two\nlines","role":"User"}"#, status: 422, field: "name"),
    ]

    @Test(arguments: badCreates)
    func badCreateBodiesAreRefusedAndChangeNothing(_ bad: BadBody) async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let before = try await snapshot(client, world)
            let reply = try await client.send(.post, "/v1/tokens", auth: world.admin.basic, json: bad.body)
            #expect(Int(reply.status.code) == bad.status, "\(reply.text)")
            #expect(reply.error.field == bad.field, "\(reply.text)")
            #expect(reply.error.code != nil)
            #expect(try await snapshot(client, world) == before)
        }
    }

    @Test func badUpdatesAreRefusedAndChangeNothing() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let target = "/v1/tokens/\(world.user.id)"
            let before = try await snapshot(client, world)
            let cases: [(String, Int)] = [
                ("{}", 400), (#"{"role":"Root"}"#, 422), (#"{"name":""}"#, 422), (#"{"id":"x"}"#, 400), (#"{"role":null,"name":null}"#, 400),
                (#"{"name":"ok","role":"Root"}"#, 422), (#"{"name":null}"#, 400), (#"{"role":null,"name":"ok"}"#, 400),
            ]
            for (body, status) in cases {
                let reply = try await client.send(.patch, target, auth: world.admin.basic, json: body)
                #expect(Int(reply.status.code) == status, "\(body) → \(reply.text)")
            }
            #expect(try await snapshot(client, world) == before)
        }
    }

    @Test func wrongContentTypeAndOversizedBodiesAreRefused() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let before = try await snapshot(client, world)
            let text = try await client.send(
                .post, "/v1/tokens", auth: world.admin.basic, json: #"{"name":"x","role":"User"}"#, headers: [.contentType: "text/plain"])
            #expect(text.status == .unsupportedMediaType)
            let huge = #"{"name":"\#(String(repeating: "x", count: 100_000))","role":"User"}"#
            let large = try await client.send(.post, "/v1/tokens", auth: world.admin.basic, json: huge)
            #expect(large.status == .contentTooLarge)
            #expect(large.error.code == "payload_too_large")
            #expect(try await snapshot(client, world) == before)
        }
    }

    @Test(arguments: ["not-an-id", "nFYyVdtg8K1aDujwk3YFh1", "nFYyVdtg8K1aDujwk3YFh1x", "%00", "..%2F..%2Fetc"])
    func unknownOrMalformedIDsAreNotFound(_ id: String) async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            for method in [HTTPRequest.Method.get, .delete] {
                let reply = try await client.send(method, "/v1/tokens/\(id)", auth: world.admin.basic)
                #expect(reply.status == .notFound, "\(method) \(id): \(reply.text)")
            }
            let regenerate = try await client.send(.post, "/v1/tokens/\(id)/secret", auth: world.admin.basic)
            #expect(regenerate.status == .notFound)
        }
    }

    @Test(arguments: ["limit=0", "limit=201", "limit=abc", "limit=-1", "cursor=%%%", "cursor=bm9wZQ", "cursor="])
    func badPaginationIsA400(_ query: String) async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            for path in ["/v1/tokens", "/v1/audit-events"] {
                let reply = try await client.send(.get, "\(path)?\(query)", auth: world.admin.basic)
                #expect(reply.status == .badRequest, "\(path)?\(query): \(reply.text)")
            }
        }
    }

    @Test(arguments: [
        "Basic", "Basic !!!", "Basic " + Data("no-colon".utf8).base64EncodedString(), "Bearer", "Bearer a.b.c",
        "Bearer " + String(repeating: "a", count: 5000),
        "Token abc", "Basic " + Data("nFYyVdtg8K1aDujwk3YFh1:cfs_notavalidsecret".utf8).base64EncodedString(),
    ])
    func garbageCredentialsAre401(_ header: String) async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let reply = try await client.send(.get, "/v1/tokens", auth: [.authorization: header])
            #expect(reply.status == .unauthorized)
            #expect(reply.headers[.wwwAuthenticate] != nil)
            #expect(reply.error.code == "unauthorized")
        }
    }

    /// What `Authorization` values are read as: the scheme as written, Basic split at the first colon with neither
    /// side empty, a Bearer token taken whole (checked later); anything else is no credential at all.
    @Test func authorizationValuesAreReadByTheirRules() {
        func basic(_ text: String) -> String { "Basic " + Data(text.utf8).base64EncodedString() }
        func read(_ values: String...) -> String {
            switch HTTPFields(values.map { HTTPField(name: .authorization, value: $0) }).presentedCredentials {
            case .basic(let id, let secret): "basic \(id) \(secret)"
            case .bearer(let token): "bearer \(token)"
            case nil: "none"
            }
        }
        #expect(read(basic("id:secret")) == "basic id secret")
        #expect(read(basic("id:sec:ret")) == "basic id sec:ret")
        #expect(read(basic("ïd:sëcret")) == "basic ïd sëcret")
        for refused in [
            basic(":secret"), basic("id:"), basic("no-colon"), basic(""), "Basic", "Basic !!!", "basic " + basic("id:secret").dropFirst(6),
        ] {
            #expect(read(refused) == "none", "\(refused)")
        }
        #expect(read("Bearer a.b.c") == "bearer a.b.c")
        #expect(read("Bearer é.b.c") == "bearer é.b.c")
        // A field's trailing space is not part of its value, so "Bearer " is "Bearer": no token at all.
        for refused in ["bearer a.b.c", "Bearera.b.c", "Bearer", "Bearer ", "Token abc", ""] {
            #expect(read(refused) == "none", "\(refused)")
        }
        #expect(read(basic("id:secret"), "Bearer a.b.c") == "none", "two fields")
        #expect(HTTPFields().presentedCredentials == nil)
    }

    @Test func twoAuthorizationFieldsAre401EvenWhenOneIsValid() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            var fields = world.admin.basic
            fields.append(HTTPField(name: .authorization, value: "Bearer a.b.c"))
            let reply = try await client.send(.get, "/v1/tokens", auth: fields)
            #expect(reply.status == .unauthorized)
            // Each on its own: the first is good.
            #expect(try await client.send(.get, "/v1/tokens", auth: world.admin.basic).status == .ok)
        }
    }

    @Test func aSecretWithABadChecksumIsRefused() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            var characters = Array(world.admin.secret)
            characters[5] = characters[5] == "A" ? "B" : "A"
            let typo = Credentials(id: world.admin.id, secret: String(characters))
            let reply = try await client.send(.get, "/v1/tokens", auth: typo.basic)
            #expect(reply.status == .unauthorized)
        }
    }

    /// The token list and the audit trail length: what a refused request must leave as it was.
    private func snapshot(_ client: any TestClientProtocol, _ world: TestWorld) async throws -> [String] {
        let tokens = try await client.send(.get, "/v1/tokens?limit=200", auth: world.admin.basic)
        let audit = try await client.send(.get, "/v1/audit-events?limit=200", auth: world.admin.basic)
        let events = try #require(try audit.json["items"] as? [[String: Any]])
        return [tokens.text, "\(events.count)"]
    }
}
