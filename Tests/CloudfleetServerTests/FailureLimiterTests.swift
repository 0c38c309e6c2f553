import CloudfleetCore
import CloudfleetStore
import CloudfleetStoreSQLite
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import CloudfleetServer

/// Brute force: failures are limited per token ID and per address, the holder of the secret is never locked out,
/// and refusals are audited without flooding the trail.
@Suite struct FailureLimiterTests {
    static let start = Date(timeIntervalSince1970: 1_900_000_000)

    // MARK: The limiter alone

    @Test func sourcesWhoseBudgetRefilledAreForgotten() {
        // Every authentication asks the limiter first; with nothing on record it answers without building keys, so
        // a healed source must not stay on record.
        let limiter = FailureLimiter()
        let id = TokenID.generate().rawValue
        limiter.recordFailure(tokenID: id, address: "192.0.2.7", now: Self.start)
        #expect(limiter.trackedSources == 2)
        #expect(limiter.retryAfter(tokenID: id, address: "192.0.2.7", now: Self.start.addingTimeInterval(1)) == nil)
        #expect(limiter.trackedSources == 2, "not yet refilled")
        #expect(limiter.retryAfter(tokenID: id, address: "192.0.2.7", now: Self.start.addingTimeInterval(61)) == nil)
        #expect(limiter.trackedSources == 0)
        // And a forgotten source starts again with a full burst.
        for _ in 1...9 { limiter.recordFailure(tokenID: id, address: nil, now: Self.start.addingTimeInterval(62)) }
        #expect(limiter.retryAfter(tokenID: id, address: nil, now: Self.start.addingTimeInterval(62)) == nil)
        limiter.recordFailure(tokenID: id, address: nil, now: Self.start.addingTimeInterval(62))
        #expect(limiter.retryAfter(tokenID: id, address: nil, now: Self.start.addingTimeInterval(62)) == 6)
    }

    @Test func aTokenIDHasABurstOfTenThenOneFailureEverySixSeconds() {
        let limiter = FailureLimiter()
        let id = TokenID.generate().rawValue
        for failure in 1...9 {
            limiter.recordFailure(tokenID: id, address: nil, now: Self.start)
            #expect(limiter.retryAfter(tokenID: id, address: nil, now: Self.start) == nil, "limited after \(failure) failures")
        }
        limiter.recordFailure(tokenID: id, address: nil, now: Self.start)
        #expect(limiter.retryAfter(tokenID: id, address: nil, now: Self.start) == 6)
        #expect(limiter.retryAfter(tokenID: id, address: nil, now: Self.start.addingTimeInterval(3)) == 3)
        #expect(limiter.retryAfter(tokenID: id, address: nil, now: Self.start.addingTimeInterval(5.5)) == 1)
        #expect(limiter.retryAfter(tokenID: id, address: nil, now: Self.start.addingTimeInterval(6.5)) == nil)
        // One failure's worth came back; spending it limits again at once.
        limiter.recordFailure(tokenID: id, address: nil, now: Self.start.addingTimeInterval(6.5))
        #expect(limiter.retryAfter(tokenID: id, address: nil, now: Self.start.addingTimeInterval(6.5)) != nil)
        // A full minute refills ten: a fresh burst.
        let later = Self.start.addingTimeInterval(6.5 + 60)
        for _ in 1...9 { limiter.recordFailure(tokenID: id, address: nil, now: later) }
        #expect(limiter.retryAfter(tokenID: id, address: nil, now: later) == nil)
        // Other token IDs are not affected, and neither is the case where nothing identifies the caller.
        #expect(limiter.retryAfter(tokenID: TokenID.generate().rawValue, address: nil, now: Self.start) == nil)
        #expect(limiter.retryAfter(tokenID: nil, address: nil, now: Self.start) == nil)
    }

    @Test func anAddressHasABurstOfThirtyOverAllTokenIDs() {
        let limiter = FailureLimiter()
        for _ in 1...29 { limiter.recordFailure(tokenID: TokenID.generate().rawValue, address: "192.0.2.7", now: Self.start) }
        #expect(limiter.retryAfter(tokenID: TokenID.generate().rawValue, address: "192.0.2.7", now: Self.start) == nil)
        limiter.recordFailure(tokenID: nil, address: "192.0.2.7", now: Self.start)
        // Limited for any token ID, or none (bearer tokens), from that address: one failure per 2 s.
        #expect(limiter.retryAfter(tokenID: TokenID.generate().rawValue, address: "192.0.2.7", now: Self.start) == 2)
        #expect(limiter.retryAfter(tokenID: nil, address: "192.0.2.7", now: Self.start) == 2)
        #expect(limiter.retryAfter(tokenID: nil, address: "192.0.2.7", now: Self.start.addingTimeInterval(2.5)) == nil)
        #expect(limiter.retryAfter(tokenID: nil, address: "192.0.2.8", now: Self.start) == nil)
        #expect(limiter.retryAfter(tokenID: nil, address: "2001:db8::7", now: Self.start) == nil)
    }

    @Test func theLongerWaitOfTokenAndAddressIsAnswered() {
        let limiter = FailureLimiter()
        let id = TokenID.generate().rawValue
        for _ in 1...30 { limiter.recordFailure(tokenID: id, address: "192.0.2.7", now: Self.start) }
        #expect(limiter.retryAfter(tokenID: id, address: "192.0.2.7", now: Self.start) == 6)
        #expect(limiter.retryAfter(tokenID: id, address: "192.0.2.99", now: Self.start) == 6)
        #expect(limiter.retryAfter(tokenID: nil, address: "192.0.2.7", now: Self.start) == 2)
    }

    @Test func aClockThatGoesBackDoesNotRefillOrCrash() {
        let limiter = FailureLimiter()
        let id = TokenID.generate().rawValue
        for _ in 1...10 { limiter.recordFailure(tokenID: id, address: nil, now: Self.start) }
        #expect(limiter.retryAfter(tokenID: id, address: nil, now: Self.start.addingTimeInterval(-3600)) == 6)
    }

    @Test func atCapacityFullBucketsAreForgottenFirst() {
        let limiter = FailureLimiter(capacity: 4)
        let (limited, early1, early2, late1, late2) = (
            TokenID.generate().rawValue, TokenID.generate().rawValue, TokenID.generate().rawValue, TokenID.generate().rawValue,
            TokenID.generate().rawValue
        )
        limiter.recordFailure(tokenID: early1, address: nil, now: Self.start)
        limiter.recordFailure(tokenID: early2, address: nil, now: Self.start)
        let later = Self.start.addingTimeInterval(60)  // early1 and early2 have refilled completely
        for _ in 1...10 { limiter.recordFailure(tokenID: limited, address: nil, now: later) }
        limiter.recordFailure(tokenID: late1, address: nil, now: later)
        limiter.recordFailure(tokenID: late2, address: nil, now: later)  // at capacity: the full buckets go
        #expect(limiter.retryAfter(tokenID: limited, address: nil, now: later) == 6)
        // And when nothing is full, memory still stays bounded: everything is forgotten rather than grow.
        let crowded = FailureLimiter(capacity: 100)
        for index in 0..<1000 {
            crowded.recordFailure(tokenID: TokenID.generate().rawValue, address: "10.0.\(index / 256).\(index % 256)", now: Self.start)
        }
        let id = TokenID.generate().rawValue
        for _ in 1...10 { crowded.recordFailure(tokenID: id, address: nil, now: Self.start) }
        #expect(crowded.retryAfter(tokenID: id, address: nil, now: Self.start) == 6)
    }

    // MARK: Through the API

    @Test func aFloodOfWrongSecretsIsLimitedButTheHolderStillGetsIn() async throws {
        let clock = TestClock()
        let world = try await TestWorld.make(now: clock.function)
        try await world.test { client in
            let victim = try await client.createToken(world.admin, name: "victim")
            let wrong = Credentials(id: victim.id, secret: TokenSecret.generate().reveal)
            // The holder has used the token before, so the server knows it (the verification cache).
            #expect(try await client.send(.get, "/v1/organization", auth: victim.basic).status == .ok)
            enum Call: Sendable { case guess, holder }
            let calls: [Call] = Array(repeating: .guess, count: 200) + Array(repeating: .holder, count: 20)
            let answers = try await withThrowingTaskGroup(of: (Call, Reply).self) { group in
                for call in calls.shuffled() {
                    group.addTask {
                        (call, try await client.send(.get, "/v1/organization", auth: call == .guess ? wrong.basic : victim.basic))
                    }
                }
                var answers: [(Call, Reply)] = []
                for try await answer in group { answers.append(answer) }
                return answers
            }
            let holders = answers.filter { $0.0 == .holder }.map(\.1)
            let guesses = answers.filter { $0.0 == .guess }.map(\.1)
            #expect(holders.count == 20)
            #expect(holders.allSatisfy { $0.status == .ok }, "the holder was refused: \(holders.map(\.status))")
            let refusedPlainly = guesses.filter { $0.status == .unauthorized }.count
            let limited = guesses.filter { $0.status == .tooManyRequests }
            #expect(refusedPlainly + limited.count == 200)
            #expect(refusedPlainly >= 10, "the burst is 10")
            #expect(limited.count >= 150, "only \(limited.count) of 200 guesses were limited")
            for reply in limited {
                #expect(reply.error.code == "rate_limited")
                #expect(reply.headers[.retryAfter].flatMap { Int($0) }.map { (1...6).contains($0) } == true, "\(reply.headers)")
            }

            // Still limited, also at the token endpoint, where the holder still gets in too.
            let slowed = try await client.exchange(wrong)
            #expect(slowed.status == .tooManyRequests)
            #expect(try slowed.string("error") == "slow_down")
            #expect(slowed.headers[.retryAfter] == "6")
            #expect(try await client.exchange(victim).status == .ok)
            // Other tokens are not affected.
            #expect(try await client.send(.get, "/v1/organization", auth: world.user.basic).status == .ok)

            // Six seconds refill one failure: the next guess is refused plainly, the one after is limited again.
            clock.advance(by: 6)
            #expect(try await client.send(.get, "/v1/organization", auth: wrong.basic).status == .unauthorized)
            #expect(try await client.send(.get, "/v1/organization", auth: wrong.basic).status == .tooManyRequests)

            // 203 wrong secrets so far (200 + the exchange + 2), one audit event: the first; the others are counted
            // for the next one.
            try await eventually("the first auth.failure event") {
                try await client.audit(world.admin, "token=\(victim.id)&action=auth.failure").count == 1
            }
            let first = try #require(try await client.audit(world.admin, "token=\(victim.id)&action=auth.failure").first)
            #expect(first["actor"] as? String == "token:\(victim.id)")
            #expect(first["outcome"] as? String == "refused")
            #expect(first["details"] as? [String: String] == ["reason": "wrong secret"])
            clock.advance(by: 61)
            #expect(try await client.send(.get, "/v1/organization", auth: wrong.basic).status == .unauthorized)
            try await eventually("the second auth.failure event") {
                try await client.audit(world.admin, "token=\(victim.id)&action=auth.failure").count == 2
            }
            let events = try await client.audit(world.admin, "token=\(victim.id)&action=auth.failure")
            #expect(events.first?["details"] as? [String: String] == ["reason": "wrong secret", "suppressed_since_last": "202"])
        }
    }

    @Test func whileLimitedGuessesNoLongerReachTheDatabase() async throws {
        let clock = TestClock()
        let world = try await TestWorld.make(now: clock.function)
        try await world.testCountingReads { counting, client in
            // A well-formed ID of no token: never cached, so each unlimited guess reads the store.
            let nobody = Credentials(id: TokenID.generate().rawValue, secret: TokenSecret.generate().reveal)
            for _ in 1...10 {
                #expect(try await client.send(.get, "/v1/organization", auth: nobody.basic).status == .unauthorized)
            }
            let afterBurst = counting.tokenLookups
            #expect(afterBurst == 10)
            // While limited, the ID reaches the store at most once a second, however many guesses come.
            for second in 1...3 {
                for _ in 1...50 {
                    let reply = try await client.send(.get, "/v1/organization", auth: nobody.basic)
                    #expect(reply.status == .tooManyRequests)
                    #expect(reply.headers[.retryAfter].flatMap { Int($0) }.map { (1...6).contains($0) } == true)
                }
                #expect(counting.tokenLookups == afterBurst + second, "limited guesses read the store")
                clock.advance(by: 1)
            }
            // A token not in the cache, whose ID is limited: its holder gets in with that one read a second.
            let holder = try await client.createToken(world.admin, name: "holder")
            let wrong = Credentials(id: holder.id, secret: TokenSecret.generate().reveal)
            for _ in 1...10 { _ = try await client.send(.get, "/v1/organization", auth: wrong.basic) }
            #expect(try await client.send(.get, "/v1/organization", auth: wrong.basic).status == .tooManyRequests)
            #expect(try await client.send(.get, "/v1/organization", auth: holder.basic).status == .ok)
        }
    }

    /// A change to the token (here, the Administrator's natural answer to an attack: a new secret) empties its
    /// cache entry; while the attack goes on, its holder must still get in.
    @Test func theHolderStillGetsInAfterTheTokenChangesDuringAnAttack() async throws {
        let clock = TestClock()
        let world = try await TestWorld.make(now: clock.function)
        try await world.test { client in
            let victim = try await client.createToken(world.admin, name: "victim")
            let wrong = Credentials(id: victim.id, secret: TokenSecret.generate().reveal)
            #expect(try await client.send(.get, "/v1/organization", auth: victim.basic).status == .ok)
            for _ in 1...11 { _ = try await client.send(.get, "/v1/organization", auth: wrong.basic) }
            #expect(try await client.send(.get, "/v1/organization", auth: wrong.basic).status == .tooManyRequests)
            let renamed = try await client.send(.patch, "/v1/tokens/\(victim.id)", auth: world.admin.basic, json: #"{"name":"under attack"}"#)
            #expect(renamed.status == .ok)
            let regenerated = try await client.send(.post, "/v1/tokens/\(victim.id)/secret", auth: world.admin.basic)
            let renewed = Credentials(id: victim.id, secret: try regenerated.string("secret"))
            // The attack goes on (one guess a second keeps the ID limited).
            for _ in 1...5 {
                clock.advance(by: 1)
                #expect(try await client.send(.get, "/v1/organization", auth: wrong.basic).status == .tooManyRequests)
            }
            #expect(try await client.send(.get, "/v1/organization", auth: renewed.basic).status == .ok)
            #expect(try await client.exchange(renewed).status == .ok)
            // The old secret is a wrong one now, and the ID is still limited.
            #expect(try await client.send(.get, "/v1/organization", auth: victim.basic).status == .tooManyRequests)
        }
    }

    @Test func malformedCredentialsNameNoTokenToLimit() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            // Garbage IDs name no token to limit; they answer 401 however many there are (no address in router tests).
            for _ in 1...20 {
                let reply = try await client.send(.get, "/v1/organization", auth: Credentials(id: "not-a-token", secret: "x").basic)
                #expect(reply.status == .unauthorized)
            }
            #expect(try await client.send(.get, "/v1/organization", auth: world.admin.basic).status == .ok)
        }
    }
}
