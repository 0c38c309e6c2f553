import CloudfleetCore
import CloudfleetStore
import CloudfleetStoreSQLite
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import CloudfleetServer

/// `GET /v1/tokens/self`: the token behind the request, answered from the authentication itself.
@Suite struct CurrentTokenTests {
    @Test func describesTheTokenBehindBasicAndBearerCredentials() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let basic = try await client.send(.get, "/v1/tokens/self", auth: world.user.basic)
            #expect(basic.status == .ok)
            #expect(basic.headers[.contentType] == "application/json; charset=utf-8")
            #expect(try basic.string("id") == world.user.id)
            #expect(try basic.string("name") == "User")
            #expect(try basic.string("role") == "User")
            #expect(try basic.string("organization_id") == world.home.description)
            #expect(try basic.string("kubernetes_username") == "service-account-\(world.user.id.lowercased())")
            #expect(try basic.string("credential") == "basic")
            #expect(try basic.string("secret_in_use") == "current")
            #expect(try basic.json["expires_at"] is NSNull)
            #expect(!basic.text.contains(world.user.secret))

            let bearer = try await client.send(
                .get, "/v1/tokens/self", auth: Credentials.bearerHeader(try await client.accessToken(world.admin)))
            #expect(bearer.status == .ok)
            #expect(try bearer.string("id") == world.admin.id)
            #expect(try bearer.string("role") == "Administrator")
            #expect(try bearer.string("credential") == "bearer")
        }
    }

    @Test func refusesMissingOrWrongCredentialsAndOtherMethods() async throws {
        let world = try await TestWorld.make()
        try await world.test { client throws in
            #expect(try await client.send(.get, "/v1/tokens/self").status == .unauthorized)
            let wrong = Credentials(id: world.user.id, secret: TokenSecret.generate().reveal)
            #expect(try await client.send(.get, "/v1/tokens/self", auth: wrong.basic).status == .unauthorized)
            // "self" is not a token ID: changing or deleting it finds nothing, and every token survives.
            #expect(try await client.send(.delete, "/v1/tokens/self", auth: world.admin.basic).status == .notFound)
            #expect(try await client.send(.patch, "/v1/tokens/self", auth: world.admin.basic, json: #"{"name":"x"}"#).status == .notFound)
            #expect(try await client.send(.get, "/v1/tokens/self", auth: world.user.basic).status == .ok)
            #expect(try await client.send(.get, "/v1/tokens/self", auth: world.admin.basic).status == .ok)
        }
    }

    @Test func saysWhenThePreviousSecretOfAGracePeriodIsInUse() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let old = try await client.createToken(world.admin, name: "pipeline")
            let reply = try await client.send(
                .post, "/v1/tokens/\(old.id)/secret", auth: world.admin.basic, json: #"{"grace_period":"1h"}"#)
            let new = Credentials(id: old.id, secret: try reply.string("secret"))
            #expect(try await client.send(.get, "/v1/tokens/self", auth: old.basic).string("secret_in_use") == "previous")
            #expect(try await client.send(.get, "/v1/tokens/self", auth: new.basic).string("secret_in_use") == "current")
        }
    }

    @Test func reflectsChangesAtOnceWithoutReadingTheStoreOtherwise() async throws {
        let world = try await TestWorld.make()
        try await world.testCountingReads { counting, client in
            let token = try await client.createToken(world.admin, name: "ci", role: "User")
            #expect(try await client.send(.get, "/v1/tokens/self", auth: token.basic).string("role") == "User")
            let reads = counting.tokenLookups
            for _ in 0..<10 {
                #expect(try await client.send(.get, "/v1/tokens/self", auth: token.basic).status == .ok)
            }
            #expect(counting.tokenLookups == reads, "answered from the verification cache")

            let changed = try await client.send(
                .patch, "/v1/tokens/\(token.id)", auth: world.admin.basic, json: #"{"role":"Administrator","name":"deploy"}"#)
            #expect(changed.status == .ok)
            let after = try await client.send(.get, "/v1/tokens/self", auth: token.basic)
            #expect(try after.string("role") == "Administrator")
            #expect(try after.string("name") == "deploy")

            #expect(try await client.send(.delete, "/v1/tokens/\(token.id)", auth: world.admin.basic).status == .noContent)
            #expect(try await client.send(.get, "/v1/tokens/self", auth: token.basic).status == .unauthorized)
        }
    }
}
