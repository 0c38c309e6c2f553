import CloudfleetCore
import CloudfleetStore
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import CloudfleetServer

/// Expiry, the organization's token policy, and finding tokens that expire soon or lie unused (docs/token-hygiene.md).
@Suite struct TokenHygieneTests {
    static let expiresAt = HTTPField.Name("Cloudfleet-Token-Expires-At")!

    // MARK: Expiry

    @Test func aTokenCreatedWithAnExpiryShowsItAndEveryResponseToItCarriesIt() async throws {
        let clock = TestClock()
        let world = try await TestWorld.make(now: clock.function)
        let expiry = clock.now.addingTimeInterval(2 * 3600)
        try await world.test { client in
            let reply = try await client.send(
                .post, "/v1/tokens", auth: world.admin.basic,
                json: try Kube.json(["name": "deploy", "role": "User", "expires_at": expiry.rfc3339]))
            #expect(reply.status == .created, "\(reply.text)")
            #expect(try reply.string("expires_at") == expiry.rfc3339)
            #expect(try reply.json["allowed_cidrs"] as? [String] == [])
            let token = Credentials(id: try reply.string("id"), secret: try reply.string("secret"))
            #expect(try await client.describe(token.id, auth: world.admin)["expires_at"] as? String == expiry.rfc3339)

            // Basic and bearer, success and an error answered by the handler alike.
            let bearer = Credentials.bearerHeader(try await client.accessToken(token))
            for auth in [token.basic, bearer] {
                let described = try await client.send(.get, "/v1/organization", auth: auth)
                #expect(described.status == .ok)
                #expect(described.headers[Self.expiresAt] == expiry.rfc3339)
                let missing = try await client.send(.get, "/v1/tokens/\(TokenID.generate())", auth: auth)
                #expect(missing.status == .notFound)
                #expect(missing.headers[Self.expiresAt] == expiry.rfc3339, "an error answered to the token carries it too")
                let forbidden = try await client.send(.delete, "/v1/tokens/\(world.user.id)", auth: auth)
                #expect(forbidden.status == .forbidden)
                #expect(forbidden.headers[Self.expiresAt] == expiry.rfc3339, "an error answered to the token carries it too")
            }
            // A token without an expiry gets no such header.
            #expect(try await client.send(.get, "/v1/organization", auth: world.admin.basic).headers[Self.expiresAt] == nil)
            // Fractional seconds are accepted too.
            let fractional = try await client.send(
                .post, "/v1/tokens", auth: world.admin.basic,
                json: #"{"name":"fractional","role":"User","expires_at":"2099-01-31T00:00:00.250Z"}"#)
            #expect(fractional.status == .created, "\(fractional.text)")
        }
    }

    @Test func anExpiryMustBeAFutureRFC3339Timestamp() async throws {
        let clock = TestClock()
        let world = try await TestWorld.make(now: clock.function)
        try await world.test { client in
            let cases: [(String, Int, String?)] = [
                (#""\#(clock.now.rfc3339)""#, 422, "expires_at"),  // now is not in the future
                (#""\#(clock.now.addingTimeInterval(-60).rfc3339)""#, 422, "expires_at"),
                (#""next tuesday""#, 422, "expires_at"),
                (#""2027-01-31""#, 422, "expires_at"),
                ("1893456000", 400, "expires_at"),
            ]
            for (value, status, field) in cases {
                let created = try await client.send(
                    .post, "/v1/tokens", auth: world.admin.basic, json: #"{"name":"x","role":"User","expires_at":\#(value)}"#)
                #expect(Int(created.status.code) == status, "create with \(value): \(created.text)")
                #expect(created.error.field == field, "create with \(value): \(created.text)")
                let updated = try await client.send(
                    .patch, "/v1/tokens/\(world.user.id)", auth: world.admin.basic, json: #"{"expires_at":\#(value)}"#)
                #expect(Int(updated.status.code) == status, "update with \(value): \(updated.text)")
                #expect(updated.error.field == field, "update with \(value): \(updated.text)")
            }
            // An impossible date is not an RFC 3339 timestamp either.
            let impossible = try await client.send(
                .post, "/v1/tokens", auth: world.admin.basic, json: #"{"name":"x","role":"User","expires_at":"2027-02-30T00:00:00Z"}"#)
            #expect(impossible.status == .unprocessableContent, "\(impossible.text)")
            // null removes an expiry; the token works from then on without one.
            let expiring = try await client.createToken(world.admin, with: ["expires_at": clock.now.addingTimeInterval(60).rfc3339])
            let cleared = try await client.send(.patch, "/v1/tokens/\(expiring.id)", auth: world.admin.basic, json: #"{"expires_at":null}"#)
            #expect(cleared.status == .ok)
            #expect(try cleared.json["expires_at"] is NSNull)
            clock.advance(by: 120)
            #expect(try await client.send(.get, "/v1/organization", auth: expiring.basic).status == .ok)
            // Changing an expiry is audited with the new value.
            let events = try await client.audit(world.admin, "token=\(expiring.id)&action=token.update")
            #expect(events.first.flatMap { ($0["details"] as? [String: String])?["expires_at"] } == "never")
        }
    }

    @Test func anExpiredTokenIsRefusedOnEveryPath() async throws {
        let clock = TestClock()
        let world = try await TestWorld.make(now: clock.function)
        try await world.test { client in
            let expiry = clock.now.addingTimeInterval(3600)
            let token = try await client.createToken(world.admin, role: "Administrator", with: ["expires_at": expiry.rfc3339])
            let clusterID = try await client.createCluster(world.admin.basic, name: "prod")
            let webhook = try await client.issueWebhookCredential(world.admin.basic, cluster: clusterID)

            // Shortly before the expiry: an access token (valid 15 minutes) and a cluster token.
            clock.advance(by: 3300)
            let bearer = Credentials.bearerHeader(try await client.accessToken(token))
            let clusterToken = try await client.clusterToken(token.basic, cluster: clusterID)
            #expect(try await client.verdict(cluster: clusterID, credential: webhook, token: clusterToken).authenticated == true)
            #expect(try await client.send(.get, "/v1/organization", auth: bearer).status == .ok)

            clock.advance(by: 301)
            for auth in [token.basic, bearer] {
                let refused = try await client.send(.get, "/v1/organization", auth: auth)
                #expect(refused.status == .unauthorized)
                #expect(refused.error.code == "token_expired", "\(refused.text)")
                #expect(refused.headers[.wwwAuthenticate] != nil)
                #expect(try refused.json["error"].flatMap { ($0 as? [String: Any])?["message"] as? String }?.contains(expiry.rfc3339) == true)
            }
            // A wrong secret is not told the token expired.
            let wrong = Credentials(id: token.id, secret: TokenSecret.generate().reveal)
            let guessed = try await client.send(.get, "/v1/organization", auth: wrong.basic)
            #expect(guessed.status == .unauthorized)
            #expect(guessed.error.code == "unauthorized")
            // The token endpoint says invalid_client, and why, to the holder of the secret only.
            let exchanged = try await client.exchange(token)
            #expect(exchanged.status == .unauthorized)
            #expect(try exchanged.string("error") == "invalid_client")
            #expect(try exchanged.string("error_description").contains("expired at \(expiry.rfc3339)"))
            #expect(try await client.exchange(wrong).string("error_description").contains("expired") == false)
            // The webhook: a plain refusal.
            #expect(try await client.verdict(cluster: clusterID, credential: webhook, token: clusterToken).isPlainRefusal)
            // An Administrator can extend it again; it works at once.
            let extended = try await client.send(
                .patch, "/v1/tokens/\(token.id)", auth: world.admin.basic,
                json: try Kube.json(["expires_at": clock.now.addingTimeInterval(600).rfc3339]))
            #expect(extended.status == .ok)
            #expect(try await client.send(.get, "/v1/organization", auth: token.basic).status == .ok)
        }
    }

    @Test func shorteningAnExpiryRefusesClusterTokensThatHaveNotExpiredYet() async throws {
        let clock = TestClock()
        let world = try await TestWorld.make(now: clock.function).configured { $0.clusterTokenLifetime = 3600 }
        try await world.test { client in
            let token = try await client.createToken(world.admin, with: ["expires_at": clock.now.addingTimeInterval(7200).rfc3339])
            let clusterID = try await client.createCluster(world.admin.basic, name: "prod")
            let webhook = try await client.issueWebhookCredential(world.admin.basic, cluster: clusterID)
            let clusterToken = try await client.clusterToken(token.basic, cluster: clusterID)
            let shortened = try await client.send(
                .patch, "/v1/tokens/\(token.id)", auth: world.admin.basic,
                json: try Kube.json(["expires_at": clock.now.addingTimeInterval(120).rfc3339]))
            #expect(shortened.status == .ok)
            #expect(try await client.verdict(cluster: clusterID, credential: webhook, token: clusterToken).authenticated == true)
            clock.advance(by: 121)  // The cluster token is valid for another hour, the API token no longer.
            #expect(try await client.verdict(cluster: clusterID, credential: webhook, token: clusterToken).isPlainRefusal)
        }
    }

    @Test func aClusterTokenNeverOutlivesItsToken() async throws {
        let clock = TestClock()
        let world = try await TestWorld.make(now: clock.function).configured { $0.clusterTokenLifetime = 3600 }
        try await world.test { client in
            let expiry = clock.now.addingTimeInterval(300)
            let token = try await client.createToken(world.admin, with: ["expires_at": expiry.rfc3339])
            let clusterID = try await client.createCluster(world.admin.basic, name: "prod")
            let reply = try await client.send(.post, "/v1/clusters/\(clusterID)/token", auth: token.basic)
            #expect(reply.status == .ok)
            #expect(try reply.string("expires_at") == expiry.rfc3339)
            #expect(try reply.json["expires_in"] as? Int == 300)
        }
    }

    // MARK: Policy

    @Test func theOrganizationPolicyRequiresAndBoundsExpiries() async throws {
        let clock = TestClock()
        let world = try await TestWorld.make(now: clock.function)
        try await world.test { client in
            let initial = try await client.send(.get, "/v1/organization", auth: world.user.basic)
            #expect(initial.status == .ok)
            let policy = try #require(try initial.json["policy"] as? [String: Any])
            #expect(policy["max_token_lifetime_seconds"] is NSNull)
            #expect(policy["require_expiry"] as? Bool == false)

            // Users may read the policy but not change it.
            let byUser = try await client.send(.patch, "/v1/organization", auth: world.user.basic, json: #"{"require_expiry":true}"#)
            #expect(byUser.status == .forbidden)

            let required = try await client.send(.patch, "/v1/organization", auth: world.admin.basic, json: #"{"require_expiry":true}"#)
            #expect(required.status == .ok, "\(required.text)")
            #expect((try required.json["policy"] as? [String: Any])?["require_expiry"] as? Bool == true)
            let withoutExpiry = try await client.send(.post, "/v1/tokens", auth: world.admin.basic, json: #"{"name":"x","role":"User"}"#)
            #expect(withoutExpiry.status == .unprocessableContent)
            #expect(withoutExpiry.error.field == "expires_at")
            _ = try await client.createToken(world.admin, with: ["expires_at": clock.now.addingTimeInterval(400 * 86_400).rfc3339])
            let neverAgain = try await client.send(.patch, "/v1/tokens/\(world.user.id)", auth: world.admin.basic, json: #"{"expires_at":null}"#)
            #expect(neverAgain.status == .unprocessableContent)
            #expect(neverAgain.error.field == "expires_at")

            let bounded = try await client.send(
                .patch, "/v1/organization", auth: world.admin.basic, json: #"{"max_token_lifetime":"30d","require_expiry":false}"#)
            #expect(bounded.status == .ok, "\(bounded.text)")
            let boundedPolicy = try #require(try bounded.json["policy"] as? [String: Any])
            #expect(boundedPolicy["max_token_lifetime_seconds"] as? Int == 30 * 86_400)
            #expect(boundedPolicy["require_expiry"] as? Bool == false)
            let tooLong = try await client.send(
                .post, "/v1/tokens", auth: world.admin.basic,
                json: try Kube.json(["name": "x", "role": "User", "expires_at": clock.now.addingTimeInterval(31 * 86_400).rfc3339]))
            #expect(tooLong.status == .unprocessableContent)
            #expect(tooLong.error.field == "expires_at")
            // With a maximum lifetime, a token without any expiry is not accepted either.
            let unbounded = try await client.send(.post, "/v1/tokens", auth: world.admin.basic, json: #"{"name":"x","role":"User"}"#)
            #expect(unbounded.status == .unprocessableContent)
            #expect(unbounded.error.field == "expires_at")
            let within = try await client.createToken(world.admin, with: ["expires_at": clock.now.addingTimeInterval(29 * 86_400).rfc3339])
            let extendedTooFar = try await client.send(
                .patch, "/v1/tokens/\(within.id)", auth: world.admin.basic,
                json: try Kube.json(["expires_at": clock.now.addingTimeInterval(40 * 86_400).rfc3339]))
            #expect(extendedTooFar.status == .unprocessableContent)
            #expect(extendedTooFar.error.field == "expires_at")
            // Renaming a token leaves its expiry alone and is not held to the policy.
            #expect(try await client.send(.patch, "/v1/tokens/\(world.user.id)", auth: world.admin.basic, json: #"{"name":"u"}"#).status == .ok)

            let lifted = try await client.send(.patch, "/v1/organization", auth: world.admin.basic, json: #"{"max_token_lifetime":null}"#)
            #expect(lifted.status == .ok)
            #expect((try lifted.json["policy"] as? [String: Any])?["max_token_lifetime_seconds"] is NSNull)
            _ = try await client.createToken(world.admin, name: "free again")

            // Every change is audited with the resulting policy.
            let events = try await client.audit(world.admin, "action=organization.policy_update")
            #expect(events.count == 3)
            #expect(events.allSatisfy { $0["actor"] as? String == "token:\(world.admin.id)" && $0["target_type"] as? String == "organization" })
            #expect(events.last.flatMap { $0["details"] as? [String: String] } == ["require_expiry": "true", "max_token_lifetime": "none"])
            #expect(events[1]["details"] as? [String: String] == ["require_expiry": "false", "max_token_lifetime": "30d"])
            // Another organization's policy is its own.
            let other = try await client.send(.get, "/v1/organization", auth: world.otherAdmin.basic)
            #expect((try other.json["policy"] as? [String: Any])?["require_expiry"] as? Bool == false)
        }
    }

    @Test func aPolicyChangeIsValidated() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let cases: [(String, Int, String?, String?)] = [
                (#"{}"#, 400, nil, "missing_field"),
                (#"{"colour":"red"}"#, 400, "colour", "invalid_field"),
                (#"{"max_token_lifetime":"30m"}"#, 422, "max_token_lifetime", "invalid_field"),
                (#"{"max_token_lifetime":"forever"}"#, 422, "max_token_lifetime", "invalid_field"),
                (#"{"max_token_lifetime":30}"#, 400, "max_token_lifetime", "invalid_type"),
                (#"{"require_expiry":"yes"}"#, 400, "require_expiry", "invalid_type"),
            ]
            for (body, status, field, code) in cases {
                let reply = try await client.send(.patch, "/v1/organization", auth: world.admin.basic, json: body)
                #expect(Int(reply.status.code) == status, "\(body): \(reply.text)")
                #expect(reply.error.field == field, "\(body): \(reply.text)")
                #expect(reply.error.code == code, "\(body): \(reply.text)")
            }
            #expect(try await client.audit(world.admin, "action=organization.policy_update").isEmpty)
        }
    }

    // MARK: Finding tokens

    @Test func expiringWithinListsTokensThatExpireSoonButHaveNotExpired() async throws {
        let clock = TestClock()
        let world = try await TestWorld.make(now: clock.function)
        try await world.test { client in
            let start = clock.now
            let soon = try await client.createToken(world.admin, name: "soon", with: ["expires_at": start.addingTimeInterval(3 * 86_400).rfc3339])
            let later = try await client.createToken(world.admin, name: "later", with: ["expires_at": start.addingTimeInterval(10 * 86_400).rfc3339])
            let gone = try await client.createToken(world.admin, name: "gone", with: ["expires_at": start.addingTimeInterval(3600).rfc3339])
            _ = try await client.createToken(world.admin, name: "never")
            _ = try await client.createToken(world.otherAdmin, name: "elsewhere", with: ["expires_at": start.addingTimeInterval(86_400).rfc3339])
            clock.advance(by: 7200)  // `gone` has expired.

            func names(_ query: String) async throws -> Set<String> {
                let reply = try await client.send(.get, "/v1/tokens?\(query)", auth: world.admin.basic)
                guard reply.status == .ok, let items = try reply.json["items"] as? [[String: Any]] else {
                    throw TestFailure("\(query): \(reply.status) \(reply.text)")
                }
                return Set(items.compactMap { $0["id"] as? String })
            }
            #expect(try await names("expiring_within=7d") == [soon.id])
            #expect(try await names("expiring_within=14d") == [soon.id, later.id])
            #expect(try await names("expiring_within=1h") == [])
            #expect(!(try await names("expiring_within=3650d")).contains(gone.id))
            // Paginated with the filter kept.
            let first = try await client.send(.get, "/v1/tokens?expiring_within=30d&limit=1", auth: world.admin.basic)
            let firstItems = try #require(try first.json["items"] as? [[String: Any]])
            let cursor = try #require(try first.json["next_cursor"] as? String)
            let second = try await client.send(.get, "/v1/tokens?expiring_within=30d&limit=1&cursor=\(cursor)", auth: world.admin.basic)
            let secondItems = try #require(try second.json["items"] as? [[String: Any]])
            #expect(Set((firstItems + secondItems).compactMap { $0["id"] as? String }) == [soon.id, later.id])
            #expect(try second.json["next_cursor"] is NSNull)
            // The window moves with the clock.
            clock.advance(by: 5 * 86_400)
            #expect(try await names("expiring_within=7d") == [later.id])
        }
    }

    @Test func badFilterValuesAnswer400NamingTheParameter() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            for query in ["expiring_within=soon", "expiring_within=0", "expiring_within=-7d", "expiring_within=7y", "unused_for=", "unused_for=90x"] {
                let reply = try await client.send(.get, "/v1/tokens?\(query)", auth: world.admin.basic)
                #expect(reply.status == .badRequest, "\(query): \(reply.text)")
                #expect(reply.error.code == "invalid_field")
                #expect(reply.error.field == String(query.split(separator: "=")[0]), "\(query): \(reply.text)")
            }
        }
    }

    /// Last use is written behind, so this test restarts the server (which writes what is pending) between steps.
    @Test func unusedForFindsTokensNotUsedForThatLongAndLastUseIsShown() async throws {
        let clock = TestClock()
        let world = try await TestWorld.make(now: clock.function)
        let start = clock.now
        let (stale, active, early) = try await world.run { client in
            let stale = try await client.createToken(world.admin, name: "stale")
            let active = try await client.createToken(world.admin, name: "active")
            let early = try await client.createToken(world.admin, name: "early")
            let used = try await client.send(.get, "/v1/organization", auth: early.basic, headers: [.userAgent: "early-bird/1.0"])
            #expect(used.status == .ok)
            return (stale, active, early)
        }
        clock.advance(by: 100 * 86_400)
        try await world.run { client throws in
            #expect(try await client.send(.get, "/v1/organization", auth: active.basic, headers: [.userAgent: "busy/2.0"]).status == .ok)
            #expect(try await client.send(.get, "/v1/organization", auth: world.admin.basic).status == .ok)
        }
        try await world.test { client in
            func ids(_ query: String) async throws -> Set<String> {
                let reply = try await client.send(.get, "/v1/tokens?\(query)", auth: world.admin.basic)
                guard reply.status == .ok, let items = try reply.json["items"] as? [[String: Any]] else {
                    throw TestFailure("\(query): \(reply.status) \(reply.text)")
                }
                return Set(items.compactMap { $0["id"] as? String })
            }
            // The admin token was used in the second run; `user` never, `stale` never, `early` 100 days ago.
            #expect(try await ids("unused_for=90d") == [world.user.id, stale.id, early.id])
            #expect(try await ids("unused_for=101d") == [])
            #expect(try await ids("unused_for=90d&expiring_within=7d") == [])

            let described = try await client.describe(early.id, auth: world.admin)
            #expect(described["last_used_at"] as? String == start.rfc3339)
            #expect(described["secret_last_used_at"] as? String == start.rfc3339)
            #expect(described["last_used_user_agent"] as? String == "early-bird/1.0")
            #expect(described["last_used_ip"] is NSNull, "router tests have no peer address")
            let busy = try await client.describe(active.id, auth: world.admin)
            #expect(busy["last_used_at"] as? String == start.addingTimeInterval(100 * 86_400).rfc3339)
            #expect(busy["last_used_user_agent"] as? String == "busy/2.0")
            let never = try await client.describe(stale.id, auth: world.admin)
            for field in ["last_used_at", "last_used_ip", "last_used_user_agent", "secret_last_used_at"] {
                #expect(never[field] is NSNull, "\(field)")
            }
        }
    }

    @Test func everyTokenFieldIsAlwaysPresent() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let token = try await client.describe(world.user.id, auth: world.admin)
            #expect(
                Set(token.keys) == [
                    "id", "name", "role", "organization_id", "kubernetes_username", "secret_generation", "created_at", "updated_at",
                    "secret_rotated_at", "last_used_at", "last_used_ip", "last_used_user_agent", "secret_last_used_at", "expires_at",
                    "allowed_cidrs", "previous_secret_valid_until", "previous_secret_last_used_at", "created_by",
                ])
        }
    }
}
