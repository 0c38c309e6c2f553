import CloudfleetCore
import CloudfleetStore
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import CloudfleetServer

/// `allowed_cidrs` and everything else that depends on the caller's address. These tests serve the application on
/// a real socket (HummingbirdTesting's `.live`), so requests come from the loopback address.
@Suite struct IPFenceTests {
    /// Both loopback addresses: `localhost` may resolve to either.
    static let loopback = ["127.0.0.1/32", "::1"]

    @Test func aFencedTokenIsRefusedOutsideItsNetworksAndAudited() async throws {
        let clock = TestClock()
        let world = try await TestWorld.make(now: clock.function).served()
        try await world.test { client in
            let fenced = try await client.createToken(world.admin, name: "fenced", role: "Administrator", with: ["allowed_cidrs": ["10.0.0.0/8"]])
            let refused = try await client.send(.get, "/v1/organization", auth: fenced.basic)
            #expect(refused.status == .forbidden)
            #expect(refused.error.code == "address_not_allowed", "\(refused.text)")
            let exchanged = try await client.exchange(fenced)
            #expect(exchanged.status == .forbidden)
            #expect(try exchanged.string("error") == "invalid_client")
            // Without the right secret nothing about the fence is revealed.
            let guessed = try await client.send(
                .get, "/v1/organization", auth: Credentials(id: fenced.id, secret: TokenSecret.generate().reveal).basic)
            #expect(guessed.status == .unauthorized)
            #expect(guessed.error.code == "unauthorized")

            try await eventually("the auth.ip_refused event") {
                try await client.audit(world.admin, "token=\(fenced.id)&action=auth.ip_refused").count == 1
            }
            let event = try #require(try await client.audit(world.admin, "token=\(fenced.id)&action=auth.ip_refused").first)
            #expect(event["outcome"] as? String == "refused")
            #expect(event["actor"] as? String == "token:\(fenced.id)")
            let source = try #require(event["source_ip"] as? String)
            #expect(["127.0.0.1", "::1"].contains(source), "source \(source)")
            // The second refusal within the minute (the token endpoint) is only counted, for the next event.
            clock.advance(by: 61)
            #expect(try await client.send(.get, "/v1/organization", auth: fenced.basic).status == .forbidden)
            try await eventually("the second auth.ip_refused event") {
                try await client.audit(world.admin, "token=\(fenced.id)&action=auth.ip_refused").count == 2
            }
            let latest = try #require(try await client.audit(world.admin, "token=\(fenced.id)&action=auth.ip_refused").first)
            #expect((latest["details"] as? [String: String])?["suppressed_since_last"] == "1")

            // Opening the fence to the loopback network lets the token in on both paths.
            let opened = try await client.send(
                .patch, "/v1/tokens/\(fenced.id)", auth: world.admin.basic, json: try Kube.json(["allowed_cidrs": Self.loopback]))
            #expect(opened.status == .ok, "\(opened.text)")
            #expect(try opened.json["allowed_cidrs"] as? [String] == ["127.0.0.1/32", "::1/128"])
            #expect(try await client.send(.get, "/v1/organization", auth: fenced.basic).status == .ok)
            let bearer = Credentials.bearerHeader(try await client.accessToken(fenced))
            #expect(try await client.send(.get, "/v1/organization", auth: bearer).status == .ok)
            // Closing it again refuses the access token minted meanwhile too.
            let closed = try await client.send(
                .patch, "/v1/tokens/\(fenced.id)", auth: world.admin.basic, json: #"{"allowed_cidrs":["192.0.2.0/24"]}"#)
            #expect(closed.status == .ok)
            let refusedBearer = try await client.send(.get, "/v1/organization", auth: bearer)
            #expect(refusedBearer.status == .forbidden)
            #expect(refusedBearer.error.code == "address_not_allowed")
            // An empty list means anywhere.
            #expect(try await client.send(.patch, "/v1/tokens/\(fenced.id)", auth: world.admin.basic, json: #"{"allowed_cidrs":[]}"#).status == .ok)
            #expect(try await client.send(.get, "/v1/organization", auth: fenced.basic).status == .ok)
            #expect(try await client.exchange(fenced).status == .ok)
        }
    }

    @Test func aNetworkThatHoldsTheCallerAdmitsIt() async throws {
        let world = try await TestWorld.make().served()
        try await world.test { client in
            for fence in [["127.0.0.0/8", "::1/128"], ["10.0.0.0/8", "127.0.0.1", "0::1"], ["0.0.0.0/0", "::/0"]] {
                let token = try await client.createToken(world.admin, name: "admitted", with: ["allowed_cidrs": fence])
                #expect(try await client.send(.get, "/v1/organization", auth: token.basic).status == .ok, "\(fence)")
                #expect(try await client.exchange(token).status == .ok, "\(fence)")
            }
        }
    }

    @Test func fencesAreValidatedAndStoredCanonically() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let token = try await client.createToken(
                world.admin, with: ["allowed_cidrs": ["203.0.113.77/24", "2001:DB8:0:0::1/32", "192.0.2.1", "203.0.113.0/24"]])
            let described = try await client.describe(token.id, auth: world.admin)
            #expect(described["allowed_cidrs"] as? [String] == ["203.0.113.0/24", "2001:db8::/32", "192.0.2.1/32"])
            let audited = try await client.audit(world.admin, "token=\(token.id)&action=token.create")
            #expect((audited.first?["details"] as? [String: String])?["allowed_cidrs"] == "203.0.113.0/24,2001:db8::/32,192.0.2.1/32")

            let invalid: [Any] = [
                ["203.0.113.0/33"], ["2001:db8::/129"], ["localhost"], ["10.0.0.0/"], ["10.0.0.0/8/8"], ["10.0.0.256"], [""],
                (0...50).map { "10.0.\($0).0/24" },
            ]
            for fence in invalid {
                let created = try await client.send(
                    .post, "/v1/tokens", auth: world.admin.basic, json: try Kube.json(["name": "x", "role": "User", "allowed_cidrs": fence]))
                #expect(created.status == .unprocessableContent, "\(fence): \(created.text)")
                #expect(created.error.field == "allowed_cidrs")
                let updated = try await client.send(
                    .patch, "/v1/tokens/\(token.id)", auth: world.admin.basic, json: try Kube.json(["allowed_cidrs": fence]))
                #expect(updated.status == .unprocessableContent, "\(fence): \(updated.text)")
            }
            // Fifty is the most.
            let fifty = (0..<50).map { "10.0.\($0).0/24" }
            #expect(
                try await client.send(.patch, "/v1/tokens/\(token.id)", auth: world.admin.basic, json: try Kube.json(["allowed_cidrs": fifty])).status
                    == .ok)
            for body in [#"{"allowed_cidrs":"10.0.0.0/8"}"#, #"{"allowed_cidrs":null}"#, #"{"allowed_cidrs":[8]}"#] {
                let reply = try await client.send(.patch, "/v1/tokens/\(token.id)", auth: world.admin.basic, json: body)
                #expect(reply.status == .badRequest, "\(body): \(reply.text)")
            }
        }
    }

    @Test func theLastUseRecordsTheAddress() async throws {
        let world = try await TestWorld.make().served()
        let token = try await world.run { client in
            let token = try await client.createToken(world.admin, name: "addressed")
            #expect(try await client.send(.get, "/v1/organization", auth: token.basic, headers: [.userAgent: "curl/8.5.0"]).status == .ok)
            return token
        }
        try await world.test { client in
            let described = try await client.describe(token.id, auth: world.admin)
            #expect(["127.0.0.1", "::1"].contains(described["last_used_ip"] as? String ?? "none"), "\(described)")
            #expect(described["last_used_user_agent"] as? String == "curl/8.5.0")
        }
    }

    @Test func anAddressIsLimitedOverAllTokenIDsAndTheHolderStillGetsIn() async throws {
        let clock = TestClock()  // stands still: the budget does not refill while the test runs
        let world = try await TestWorld.make(now: clock.function).served()
        try await world.test { client in
            // Warm: the server knows the user token.
            #expect(try await client.send(.get, "/v1/organization", auth: world.user.basic).status == .ok)
            // 30 guesses at 30 different token IDs: each ID is far from its own limit, the address reaches its.
            for _ in 1...30 {
                let guess = Credentials(id: TokenID.generate().rawValue, secret: TokenSecret.generate().reveal)
                #expect(try await client.send(.get, "/v1/organization", auth: guess.basic).status == .unauthorized)
            }
            let limited = try await client.send(
                .get, "/v1/organization", auth: Credentials(id: TokenID.generate().rawValue, secret: TokenSecret.generate().reveal).basic)
            #expect(limited.status == .tooManyRequests)
            #expect(limited.headers[.retryAfter] == "2")
            // Bearer guesses from the address are limited too.
            let forged = try await client.send(.get, "/v1/organization", auth: Credentials.bearerHeader("eyJhbGciOiJSUzI1NiJ9.e30.c2ln"))
            #expect(forged.status == .tooManyRequests)
            #expect(forged.error.code == "rate_limited")
            // Two seconds refill one failure.
            clock.advance(by: 2)
            let refilled = try await client.send(
                .get, "/v1/organization", auth: Credentials(id: TokenID.generate().rawValue, secret: TokenSecret.generate().reveal).basic)
            #expect(refilled.status == .unauthorized)
            // The holder of valid credentials the server knows, from the same address, is not locked out.
            #expect(try await client.send(.get, "/v1/organization", auth: world.user.basic).status == .ok)
            let bearer = Credentials.bearerHeader(try await client.accessToken(world.user))
            #expect(try await client.send(.get, "/v1/organization", auth: bearer).status == .ok)
            // Holders the server has not seen yet: while the address is limited it reads the store for it at most
            // once a second, so the first gets in, the second in the same second is asked to retry in 1 s.
            #expect(try await client.send(.get, "/v1/organization", auth: world.admin.basic).status == .ok)
            let waiting = try await client.send(.get, "/v1/organization", auth: world.otherAdmin.basic)
            #expect(waiting.status == .tooManyRequests)
            #expect(waiting.headers[.retryAfter] == "1")
            clock.advance(by: 1)
            #expect(try await client.send(.get, "/v1/organization", auth: world.otherAdmin.basic).status == .ok)
        }
    }
}
