import CloudfleetCore
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

@testable import CloudfleetServer

/// `POST /v1/auth/token`: OAuth 2.0 client credentials with RFC 6749 §5.2 errors.
@Suite struct OAuthTokenEndpointTests {
    static let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]

    private func exchange(_ client: any TestClientProtocol, body: String, headers: HTTPFields = form) async throws -> Reply {
        try await client.execute(uri: "/v1/auth/token", method: .post, headers: headers, body: .init(string: body)) {
            Reply(status: $0.status, headers: $0.headers, body: $0.body)
        }
    }

    @Test func clientCredentialsInTheFormOrInBasicBothWork() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let viaForm = try await exchange(
                client, body: "grant_type=client_credentials&client_id=\(world.user.id)&client_secret=\(world.user.secret)")
            let viaBasic = try await exchange(client, body: "grant_type=client_credentials", headers: Self.form + world.user.basic)
            for reply in [viaForm, viaBasic] {
                #expect(reply.status == .ok)
                #expect(try reply.string("token_type") == "Bearer")
                #expect(try reply.json["expires_in"] as? Int == 900)
                #expect(reply.headers[.cacheControl] == "no-store")
                let bearer = Credentials.bearerHeader(try reply.string("access_token"))
                #expect(try await client.send(.get, "/v1/tokens/\(world.user.id)", auth: bearer).status == .ok)
            }
        }
    }

    @Test func accessTokensCarryTheDocumentedClaims() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let jwt = try await client.accessToken(world.admin)
            let parts = jwt.split(separator: ".")
            #expect(parts.count == 3)
            let header = try JSONSerialization.jsonObject(with: Data(try #require(Base64URL.decode(String(parts[0]))))) as? [String: Any]
            let claims = try JSONSerialization.jsonObject(with: Data(try #require(Base64URL.decode(String(parts[1]))))) as? [String: Any]
            // ES256, by the RS256 signing key's access-token companion (`AccessTokenKeyTests`).
            #expect(header?["alg"] as? String == "ES256")
            #expect((header?["kid"] as? String)?.hasSuffix("-a") == true)
            #expect(claims?["sub"] as? String == world.admin.id)
            #expect(claims?["org"] as? String == world.home.description)
            #expect(claims?["role"] as? String == "Administrator")
            #expect(claims?["gen"] as? Int == 1)
            #expect(claims?["aud"] as? String == "cloudfleet-api" || (claims?["aud"] as? [String]) == ["cloudfleet-api"])
            #expect(claims?["jti"] is String)
            let iat = try #require(claims?["iat"] as? Double)
            let exp = try #require(claims?["exp"] as? Double)
            #expect(iat == iat.rounded() && exp - iat == 900)
        }
    }

    @Test(arguments: [
        ("grant_type=password", 400, "unsupported_grant_type"),
        ("client_id=x", 400, "invalid_request"),
        ("grant_type=client_credentials", 401, "invalid_client"),
        ("grant_type=client_credentials&client_id=nFYyVdtg8K1aDujwk3YFh1&client_secret=cfs_nope", 401, "invalid_client"),
    ])
    func errorsFollowRFC6749(_ body: String, _ status: Int, _ code: String) async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let reply = try await exchange(client, body: body)
            #expect(Int(reply.status.code) == status)
            #expect(try reply.string("error") == code)
            #expect(try reply.string("error_description").isEmpty == false)
        }
    }

    @Test func wrongSecretsAndWrongContentTypesAreRefused() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let wrong = Credentials(id: world.admin.id, secret: TokenSecret.generate().reveal)
            let refused = try await exchange(client, body: "grant_type=client_credentials", headers: Self.form + wrong.basic)
            #expect(refused.status == .unauthorized)
            #expect(refused.headers[.wwwAuthenticate] != nil)
            let json = try await exchange(
                client, body: #"{"grant_type":"client_credentials"}"#, headers: [.contentType: "application/json"] + world.admin.basic)
            #expect(json.status == .badRequest)
            #expect(try json.string("error") == "invalid_request")
        }
    }
}
