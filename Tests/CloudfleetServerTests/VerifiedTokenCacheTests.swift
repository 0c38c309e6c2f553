import CloudfleetCore
import Foundation
import JWTKit
import Testing

@testable import CloudfleetServer

/// The cache of verified signed tokens answers only for the very token that was verified.
@Suite struct VerifiedTokenCacheTests {
    struct Claims: ExpiringClaims, Equatable {
        let exp: ExpirationClaim
        let subject: String
    }

    let now = Date(timeIntervalSince1970: 1_800_000_000)
    let header = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0"
    let payload = "eyJzdWIiOiJuRll5VmR0ZzhLMWFEdWp3azNZRmgxIiwiZXhwIjoxODAwMDAzNjAwfQ"
    let signature = "MEUCIQDa7fQ1x5nN0jz3cQ0Yc9m2u1vJ6kG0q7a9sXrPl8w4bwIgYk2H3vW9sZ5p8bT1n6uQ4r7eX0c2jL5dA9fK3mN1oQ"

    var token: Substring { "\(header).\(payload).\(signature)" }

    func claims(expiringIn seconds: TimeInterval, subject: String = "a") -> Claims {
        Claims(exp: ExpirationClaim(value: now.addingTimeInterval(seconds)), subject: subject)
    }

    @Test func theVerifiedTokenIsFoundUntilItExpires() {
        let cache = VerifiedTokenCache<Claims>()
        cache.insert(token, claims: claims(expiringIn: 60), now: now)
        #expect(cache.lookup(token, now: now) == claims(expiringIn: 60))
        #expect(cache.lookup(token, now: now.addingTimeInterval(59)) != nil)
        #expect(cache.lookup(token, now: now.addingTimeInterval(60)) == nil)
        // An expired entry is dropped, not kept for later.
        #expect(cache.count == 0)
    }

    @Test func anyOtherTokenMisses() {
        let cache = VerifiedTokenCache<Claims>()
        cache.insert(token, claims: claims(expiringIn: 60), now: now)
        var changedSignature = Array(signature)
        changedSignature[10] = changedSignature[10] == "A" ? "B" : "A"
        let others: [Substring] = [
            // The same signature over other claims: found by the signature, refused by the signed part.
            "\(header).eyJzdWIiOiJhZG1pbiJ9.\(signature)",
            "\(header).\(payload)x.\(signature)",
            "\(header).\(payload).x.\(signature)",
            "\(header)\(payload).\(signature)",
            ".\(signature)",
            "\(header).\(payload).\(String(changedSignature))",
            "\(header).\(payload).",
            "\(header).\(payload)",
            "",
        ]
        for other in others {
            #expect(cache.lookup(other, now: now) == nil, "\(other)")
        }
        #expect(cache.lookup(token, now: now) != nil)
    }

    @Test func aFullCacheMakesRoomAndKeepsAnswering() {
        let cache = VerifiedTokenCache<Claims>(capacity: 4)
        for index in 0..<4 {
            cache.insert("\(header).\(payload).sig\(index)", claims: claims(expiringIn: index < 2 ? -1 : 60), now: now)
        }
        cache.insert(token, claims: claims(expiringIn: 60), now: now)
        // The two expired entries made room; the live ones stay.
        #expect(cache.count == 3)
        #expect(cache.lookup(token, now: now) != nil)
        #expect(cache.lookup("\(header).\(payload).sig3", now: now) != nil)
    }
}

/// An access token's claims are read once, when its signature checks out; only the server's own forms pass.
@Suite struct CheckedAccessTokenTests {
    let tokenID = TokenID.generate()
    let organizationID = OrganizationID.generate()

    func claims(sub: String? = nil, org: String? = nil) -> AccessTokenClaims {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        return AccessTokenClaims(
            iss: IssuerClaim(value: "https://cloudfleet.test"), sub: SubjectClaim(value: sub ?? tokenID.rawValue),
            aud: AudienceClaim(value: ["cloudfleet-api"]), iat: IssuedAtClaim(value: now), exp: ExpirationClaim(value: now.addingTimeInterval(900)),
            jti: IDClaim(value: "j"), org: org ?? organizationID.description, role: "User", gen: 3)
    }

    @Test func theServersOwnClaimsAreRead() throws {
        let checked = try #require(CheckedAccessToken(claims()))
        #expect(checked.tokenID == tokenID)
        #expect(checked.organizationID == organizationID)
        #expect(checked.generation == 3)
        #expect(checked.exp == claims().exp)
    }

    @Test(arguments: ["", "not-a-token-id", "service-account-x"])
    func aSubjectThatIsNoTokenIDIsRefused(_ sub: String) {
        #expect(CheckedAccessToken(claims(sub: sub)) == nil)
    }

    @Test func anOrganizationIDInAnotherFormIsRefused() {
        // The server writes lower case; the string comparison this replaced refused anything else, and so does this.
        #expect(CheckedAccessToken(claims(org: organizationID.description.uppercased())) == nil)
        #expect(CheckedAccessToken(claims(org: "org")) == nil)
    }
}
