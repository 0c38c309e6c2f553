import CloudfleetCore
import CloudfleetStore
import Foundation

// MARK: Token hygiene: expiry, IP fences, last use, grace periods, leaks

extension StoreConformance {
    static func tokenNewFieldsRoundTrip(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        // Every new field set at creation, with whole microseconds a store rounding to milliseconds would lose.
        var full = try Fixtures.token(organization.id, createdAt: Date(timeIntervalSince1970: 1_700_000_000.123_457))
        full.lastUsedAt = Date(timeIntervalSince1970: 1_700_000_050.000_001)
        full.lastUsedIP = "2001:db8::7"
        full.lastUsedUserAgent = "cloudfleet-cli/1.2.3 (Linux; x86_64) ✓"
        full.secretLastUsedAt = Date(timeIntervalSince1970: 1_700_000_040.654_321)
        full.expiresAt = Date(timeIntervalSince1970: 1_800_000_000.999_999)
        full.allowedCIDRs = ["203.0.113.0/24", "2001:db8::/32", "192.0.2.7"]
        full.previousSecret = PreviousSecret(
            digest: Fixtures.hasher.digest(TokenSecret.generate()), generation: 1,
            validUntil: Date(timeIntervalSince1970: 1_700_086_400.000_123), lastUsedAt: Date(timeIntervalSince1970: 1_700_000_030.5))
        full.secretGeneration = 2
        try await Fixtures.create(full, in: store)
        guard let fetched = try await store.token(id: full.id) else { throw ConformanceFailure("token not found") }
        try check(fetched.allowedCIDRs == full.allowedCIDRs, "allowed CIDRs round-trip in order: \(fetched.allowedCIDRs)")
        try check(fetched.lastUsedUserAgent == full.lastUsedUserAgent, "the user agent round-trips: \(fetched.lastUsedUserAgent ?? "nil")")
        try check(sameInstant(fetched.secretLastUsedAt, full.secretLastUsedAt), "secret_last_used_at round-trips to the microsecond")
        try check(sameInstant(fetched.expiresAt, full.expiresAt), "expires_at round-trips to the microsecond")
        try check(fetched.previousSecret?.digest == full.previousSecret?.digest, "the previous digest round-trips")
        try check(fetched.previousSecret?.generation == 1, "the previous generation round-trips")
        try check(
            sameInstant(fetched.previousSecret?.validUntil, full.previousSecret?.validUntil)
                && sameInstant(fetched.previousSecret?.lastUsedAt, full.previousSecret?.lastUsedAt),
            "the previous secret's dates round-trip to the microsecond")
        try check(sameToken(fetched, full), "the whole token round-trips")

        let bare = try await Fixtures.makeToken(in: store, organization.id)
        let fetchedBare = try await store.token(id: bare.id)
        try check(
            fetchedBare?.allowedCIDRs == [] && fetchedBare?.previousSecret == nil && fetchedBare?.expiresAt == nil
                && fetchedBare?.lastUsedUserAgent == nil && fetchedBare?.secretLastUsedAt == nil,
            "a bare token has no fence, no previous secret, no expiry and no use")

        // Changes: set, leave alone, clear.
        func audit() -> AuditEvent { Fixtures.audit(organization.id, .tokenUpdate, target: bare.id.rawValue) }
        let expiry = Fixtures.now(offset: 3 * 86_400)
        let expiring = try await store.updateToken(
            id: bare.id, organization: organization.id, change: TokenChange(expiresAt: .some(expiry)), at: Fixtures.now(offset: 1),
            audit: audit())
        try check(sameInstant(expiring.expiresAt, expiry), "an expiry is set by update")
        try check(expiring.allowedCIDRs.isEmpty && expiring.name == bare.name && expiring.role == bare.role, "only the expiry changed")
        let fenced = try await store.updateToken(
            id: bare.id, organization: organization.id, change: TokenChange(allowedCIDRs: ["10.0.0.0/8", "fd00::/8"]),
            at: Fixtures.now(offset: 2), audit: audit())
        try check(fenced.allowedCIDRs == ["10.0.0.0/8", "fd00::/8"], "a fence is set by update: \(fenced.allowedCIDRs)")
        try check(sameInstant(fenced.expiresAt, expiry), "a change without an expiry leaves the expiry alone")
        let renamed = try await store.updateToken(
            id: bare.id, organization: organization.id, change: TokenChange(name: try TokenName("renamed")), at: Fixtures.now(offset: 3),
            audit: audit())
        try check(
            renamed.allowedCIDRs == fenced.allowedCIDRs && sameInstant(renamed.expiresAt, expiry),
            "a rename leaves the expiry and the fence alone")
        let unexpiring = try await store.updateToken(
            id: bare.id, organization: organization.id, change: TokenChange(expiresAt: .some(nil)), at: Fixtures.now(offset: 4),
            audit: audit())
        try check(unexpiring.expiresAt == nil, "`.some(nil)` clears the expiry")
        try check(unexpiring.allowedCIDRs == fenced.allowedCIDRs, "clearing the expiry leaves the fence alone")
        let unfenced = try await store.updateToken(
            id: bare.id, organization: organization.id, change: TokenChange(allowedCIDRs: []), at: Fixtures.now(offset: 5), audit: audit())
        try check(unfenced.allowedCIDRs.isEmpty, "`.some([])` clears the fence")
        try check(unfenced.expiresAt == nil && unfenced.name.rawValue == "renamed", "clearing the fence leaves the rest alone")
        let both = try await store.updateToken(
            id: bare.id, organization: organization.id, change: TokenChange(expiresAt: .some(expiry), allowedCIDRs: ["192.0.2.0/24"]),
            at: Fixtures.now(offset: 6), audit: audit())
        try check(sameInstant(both.expiresAt, expiry) && both.allowedCIDRs == ["192.0.2.0/24"], "one change sets both")
        try check(sameToken(try await store.token(id: bare.id), both), "the returned token is the stored one")
        try check(sameToken(try await store.token(id: full.id), full), "changes to one token leave another alone")

        // The user agent goes with the newest use, like the address.
        let used = Fixtures.now(offset: 10)
        try await store.recordUsage([TokenUsage(tokenID: bare.id, at: used, sourceIP: "192.0.2.5", userAgent: "kubectl/v1.31.0")])
        let afterUse = try await store.token(id: bare.id)
        try check(
            afterUse?.lastUsedUserAgent == "kubectl/v1.31.0" && afterUse?.lastUsedIP == "192.0.2.5", "the usage's user agent is recorded")
        try await store.recordUsage([TokenUsage(tokenID: bare.id, at: Fixtures.now(offset: 5), sourceIP: "192.0.2.6", userAgent: "old")])
        try check(try await store.token(id: bare.id)?.lastUsedUserAgent == "kubectl/v1.31.0", "an older usage keeps the newer user agent")
        try await store.recordUsage([TokenUsage(tokenID: bare.id, at: Fixtures.now(offset: 20), sourceIP: nil, userAgent: nil)])
        let anonymous = try await store.token(id: bare.id)
        try check(
            anonymous?.lastUsedUserAgent == nil && anonymous?.lastUsedIP == nil, "a newer usage without a user agent or address clears both")
    }

    static func secretReplacementWithGracePeriod(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        let token = try await Fixtures.makeToken(in: store, organization.id)
        let used = Fixtures.now(offset: 10)
        try await store.recordUsage([TokenUsage(tokenID: token.id, at: used, sourceIP: "192.0.2.1", userAgent: "ci")])

        let second = Fixtures.hasher.digest(TokenSecret.generate())
        let rotated = Fixtures.now(offset: 60)
        let graceEnd = Fixtures.now(offset: 86_400)
        let replaced = try await store.replaceSecret(
            id: token.id, organization: organization.id, digest: second, previousValidUntil: graceEnd, at: rotated,
            audit: Fixtures.audit(organization.id, .tokenRegenerate, target: token.id.rawValue))
        try check(replaced.secretDigest == second && replaced.secretGeneration == 2, "new digest, next generation")
        guard let previous = replaced.previousSecret else { throw ConformanceFailure("a grace period keeps the previous secret") }
        try check(previous.digest == token.secretDigest, "the previous secret is the replaced one")
        try check(previous.generation == 1, "the previous secret keeps its generation: \(previous.generation)")
        try check(sameInstant(previous.validUntil, graceEnd), "the previous secret is valid until the end of the grace period")
        try check(sameInstant(previous.lastUsedAt, used), "the previous secret keeps its own last use")
        try check(replaced.secretLastUsedAt == nil, "the new secret was never used")
        try check(sameInstant(replaced.lastUsedAt, used) && replaced.lastUsedIP == "192.0.2.1", "the token's last use is kept")
        try check(sameInstant(replaced.secretRotatedAt, rotated) && sameInstant(replaced.updatedAt, rotated), "rotation times moved")
        try check(sameToken(try await store.token(id: token.id), replaced), "the returned token is the stored one")

        // A second grace-period rotation replaces the previous secret with the one it replaces.
        let third = Fixtures.hasher.digest(TokenSecret.generate())
        let laterGraceEnd = Fixtures.now(offset: 2 * 86_400)
        let again = try await store.replaceSecret(
            id: token.id, organization: organization.id, digest: third, previousValidUntil: laterGraceEnd, at: Fixtures.now(offset: 120),
            audit: Fixtures.audit(organization.id, .tokenRegenerate, target: token.id.rawValue))
        try check(again.secretDigest == third && again.secretGeneration == 3, "third secret, third generation")
        try check(
            again.previousSecret?.digest == second && again.previousSecret?.generation == 2
                && sameInstant(again.previousSecret?.validUntil, laterGraceEnd) && again.previousSecret?.lastUsedAt == nil,
            "the second secret becomes the previous one, never used")

        // Without a grace period, any previous secret is dropped.
        let fourth = Fixtures.hasher.digest(TokenSecret.generate())
        let plain = try await store.replaceSecret(
            id: token.id, organization: organization.id, digest: fourth, previousValidUntil: nil, at: Fixtures.now(offset: 180),
            audit: Fixtures.audit(organization.id, .tokenRegenerate, target: token.id.rawValue))
        try check(plain.secretDigest == fourth && plain.secretGeneration == 4, "fourth secret, fourth generation")
        try check(plain.previousSecret == nil, "a replacement without a grace period drops the previous secret")
        try check(sameToken(try await store.token(id: token.id), plain), "the previous secret is gone from the store too")

        try await store.recordUsage([TokenUsage(tokenID: token.id, at: Fixtures.now(offset: 200), sourceIP: nil)])
        let usedAgain = try await store.replaceSecret(
            id: token.id, organization: organization.id, digest: Fixtures.hasher.digest(TokenSecret.generate()), previousValidUntil: nil,
            at: Fixtures.now(offset: 240), audit: Fixtures.audit(organization.id, .tokenRegenerate, target: token.id.rawValue))
        try check(usedAgain.secretLastUsedAt == nil, "secret_last_used_at starts empty after every replacement")

        let events = try await store.listAuditEvents(organization: organization.id, after: nil, limit: 100).items
        try check(events.filter { $0.action == .tokenRegenerate }.count == 4, "one audit event per replacement")
    }

    static func usageBySlot(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        let token = try await Fixtures.makeToken(in: store, organization.id)
        let base = Fixtures.now()
        func at(_ seconds: TimeInterval) -> Date { base.addingTimeInterval(seconds) }

        try await store.recordUsage([TokenUsage(tokenID: token.id, at: at(10), sourceIP: "192.0.2.10", userAgent: "a", slot: .current)])
        var stored = try await store.token(id: token.id)
        try check(sameInstant(stored?.secretLastUsedAt, at(10)) && sameInstant(stored?.lastUsedAt, at(10)), "a current use sets both")

        // No previous secret: a use of it still counts as a use of the token, and records nothing else.
        try await store.recordUsage([TokenUsage(tokenID: token.id, at: at(20), sourceIP: "192.0.2.20", userAgent: "b", slot: .previous)])
        stored = try await store.token(id: token.id)
        try check(stored?.previousSecret == nil, "a previous-secret use without a previous secret records no previous secret")
        try check(sameInstant(stored?.lastUsedAt, at(20)) && stored?.lastUsedIP == "192.0.2.20", "it still is the token's last use")
        try check(sameInstant(stored?.secretLastUsedAt, at(10)), "it is no use of the current secret")

        let graceEnd = at(86_400)
        _ = try await store.replaceSecret(
            id: token.id, organization: organization.id, digest: Fixtures.hasher.digest(TokenSecret.generate()),
            previousValidUntil: graceEnd, at: at(21), audit: Fixtures.audit(organization.id, .tokenRegenerate, target: token.id.rawValue))

        // One batch, out of order, both slots.
        try await store.recordUsage([
            TokenUsage(tokenID: token.id, at: at(30), sourceIP: "192.0.2.30", userAgent: "old-pipeline", slot: .previous),
            TokenUsage(tokenID: token.id, at: at(25), sourceIP: "192.0.2.25", userAgent: "new-pipeline", slot: .current),
            TokenUsage(tokenID: token.id, at: at(22), sourceIP: "192.0.2.22", userAgent: "x", slot: .previous),
        ])
        stored = try await store.token(id: token.id)
        try check(sameInstant(stored?.previousSecret?.lastUsedAt, at(30)), "the previous secret's last use is its newest use")
        try check(sameInstant(stored?.secretLastUsedAt, at(25)), "the current secret's last use is its newest use")
        try check(
            sameInstant(stored?.lastUsedAt, at(30)) && stored?.lastUsedIP == "192.0.2.30" && stored?.lastUsedUserAgent == "old-pipeline",
            "the token's last use is the newest use of either secret")

        // Older uses change nothing.
        try await store.recordUsage([
            TokenUsage(tokenID: token.id, at: at(26), sourceIP: "198.51.100.1", userAgent: "late", slot: .previous),
            TokenUsage(tokenID: token.id, at: at(24), sourceIP: "198.51.100.2", userAgent: "late", slot: .current),
        ])
        let unchanged = try await store.token(id: token.id)
        try check(sameToken(unchanged, stored), "older uses never overwrite newer ones")

        // Each field on its own: newer for the current secret, older for the token.
        try await store.recordUsage([TokenUsage(tokenID: token.id, at: at(28), sourceIP: "198.51.100.3", userAgent: "c", slot: .current)])
        stored = try await store.token(id: token.id)
        try check(sameInstant(stored?.secretLastUsedAt, at(28)), "a use newer for its secret moves the secret's last use")
        try check(
            sameInstant(stored?.lastUsedAt, at(30)) && stored?.lastUsedIP == "192.0.2.30" && stored?.lastUsedUserAgent == "old-pipeline",
            "but not the token's newer last use")
        try check(sameInstant(stored?.previousSecret?.lastUsedAt, at(30)), "nor the other secret's")
        try check(sameInstant(stored?.previousSecret?.validUntil, graceEnd), "usage leaves the grace period alone")
        try check(sameInstant(stored?.updatedAt, at(21)), "usage is not an update")

        // Once the previous secret is dropped, uses of it record nothing for it.
        _ = try await store.replaceSecret(
            id: token.id, organization: organization.id, digest: Fixtures.hasher.digest(TokenSecret.generate()), previousValidUntil: nil,
            at: at(40), audit: Fixtures.audit(organization.id, .tokenRegenerate, target: token.id.rawValue))
        try await store.recordUsage([TokenUsage(tokenID: token.id, at: at(50), sourceIP: "192.0.2.50", slot: .previous)])
        stored = try await store.token(id: token.id)
        try check(stored?.previousSecret == nil, "a use of a dropped previous secret does not bring it back")
        try check(stored?.secretLastUsedAt == nil, "nor counts for the current secret")
        try check(sameInstant(stored?.lastUsedAt, at(50)), "the token's last use still moves")
    }

    static func tokenFilters(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        let other = try await Fixtures.makeOrganization(in: store, "Other")
        let now = Fixtures.now()
        let day: TimeInterval = 86_400
        let windowEnd = now.addingTimeInterval(7 * day)
        var order = 0
        /// Creates a token in `organization`, each one later than the last.
        func make(in owner: OrganizationID? = nil, createdAt: Date? = nil, expiresAt: Date? = nil, lastUsedAt: Date? = nil) async throws
            -> APIToken
        {
            order += 1
            var token = try Fixtures.token(owner ?? organization.id, createdAt: createdAt ?? now.addingTimeInterval(-30 * day + Double(order)))
            token.expiresAt = expiresAt
            token.lastUsedAt = lastUsedAt
            try await Fixtures.create(token, in: store)
            return token
        }

        // Expiry window (now, windowEnd].
        let soon = try await make(expiresAt: now.addingTimeInterval(3_600))
        let atWindowEnd = try await make(expiresAt: windowEnd)
        let atNow = try await make(expiresAt: now)
        let justAfterWindow = try await make(expiresAt: windowEnd.addingTimeInterval(0.000_001))
        let expired = try await make(expiresAt: now.addingTimeInterval(-3_600))
        let neverExpires = try await make()
        let justAfterNow = try await make(expiresAt: now.addingTimeInterval(0.000_001))
        _ = try await make(in: other.id, expiresAt: now.addingTimeInterval(3_600))

        func ids(_ filter: TokenFilter) async throws -> [TokenID] {
            try await store.listTokens(organization: organization.id, filter: filter, after: nil, limit: 100).items.map(\.id)
        }
        let expiring = try await ids(TokenFilter(expiringBefore: windowEnd, now: now))
        try check(
            expiring == [soon.id, atWindowEnd.id, justAfterNow.id],
            "tokens expiring in (now, end], oldest first, only the organization's own: \(expiring) — expired \(expired.id), "
                + "at now \(atNow.id), after the window \(justAfterWindow.id), no expiry \(neverExpires.id)")
        let unbounded = try await ids(TokenFilter(expiringBefore: windowEnd))
        try check(
            unbounded == [soon.id, atWindowEnd.id, atNow.id, expired.id, justAfterNow.id],
            "without `now`, every token with an expiry up to the end: \(unbounded)")
        let onlyNow = try await ids(TokenFilter(now: now))
        try check(onlyNow.count == 7, "`now` alone filters nothing: \(onlyNow.count)")

        // Unused since a cutoff: used before it, or never used and created before it.
        let cutoff = now.addingTimeInterval(-10 * day)
        let usedBefore = try await make(lastUsedAt: cutoff.addingTimeInterval(-0.000_001))
        let usedAtCutoff = try await make(lastUsedAt: cutoff)
        let usedAfter = try await make(lastUsedAt: now)
        let neverUsedNew = try await make(createdAt: cutoff)
        let neverUsedOld = try await make(createdAt: cutoff.addingTimeInterval(-day))
        let usedOldCreatedNew = try await make(createdAt: cutoff.addingTimeInterval(day), lastUsedAt: cutoff.addingTimeInterval(-day))
        _ = try await make(in: other.id, createdAt: cutoff.addingTimeInterval(-day))
        let allTokens = try await ids(TokenFilter())
        let neverUsed = Set([soon, atWindowEnd, atNow, justAfterWindow, expired, neverExpires, justAfterNow].map(\.id))
        let unused = try await ids(TokenFilter(unusedSince: cutoff))
        let expectedUnused = allTokens.filter {
            neverUsed.contains($0) || [usedBefore.id, neverUsedOld.id, usedOldCreatedNew.id].contains($0)
        }
        try check(expectedUnused.count == 10, "fixture sanity: \(expectedUnused.count)")
        try check(
            unused == expectedUnused,
            "unused tokens: used before the cutoff, or never used and created before it: \(unused) — used at the cutoff "
                + "\(usedAtCutoff.id), used after \(usedAfter.id), never used but new \(neverUsedNew.id)")

        // Both filters: both must hold.
        let expiringAndUnused = try await ids(TokenFilter(expiringBefore: windowEnd, now: now, unusedSince: cutoff))
        try check(expiringAndUnused == expiring, "filters combine: \(expiringAndUnused)")
        let used = try await make(expiresAt: now.addingTimeInterval(60), lastUsedAt: now)
        try check(
            try await ids(TokenFilter(expiringBefore: windowEnd, now: now, unusedSince: cutoff)) == expiring,
            "a recently used expiring token is not unused")
        try check(
            try await ids(TokenFilter(expiringBefore: windowEnd, now: now)) == expiring + [used.id], "but it is expiring")

        // Pagination over a filter: every matching token once, in order, stable.
        var seen: [TokenID] = []
        var pages = 0
        var cursor: TokenCursor?
        repeat {
            let page = try await store.listTokens(organization: organization.id, filter: TokenFilter(unusedSince: cutoff), after: cursor, limit: 3)
            pages += 1
            try check(page.items.count == (pages < 4 ? 3 : 1), "page \(pages) holds \(page.items.count) tokens")
            if let next = page.next { try check(next.id == page.items.last?.id, "the cursor points at the last token of the page") }
            seen += page.items.map(\.id)
            cursor = page.next
        } while cursor != nil && pages < 10
        try check(seen == expectedUnused, "pages of a filtered list hold every match once, in order: \(pages) pages")
        let exact = try await store.listTokens(organization: organization.id, filter: TokenFilter(unusedSince: cutoff), after: nil, limit: 10)
        try check(exact.items.count == 10 && exact.next == nil, "a full last page of a filtered list has no next page")

        let theirs = try await store.listTokens(
            organization: other.id, filter: TokenFilter(expiringBefore: windowEnd, now: now), after: nil, limit: 100)
        try check(theirs.items.count == 1 && theirs.items.allSatisfy { $0.organizationID == other.id }, "organizations are isolated")
    }

    static func leakedSecretRevocation(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        let other = try await Fixtures.makeOrganization(in: store, "Other")
        let token = try await Fixtures.makeToken(in: store, organization.id)
        let second = Fixtures.hasher.digest(TokenSecret.generate())
        let graced = try await store.replaceSecret(
            id: token.id, organization: organization.id, digest: second, previousValidUntil: Fixtures.now(offset: 3_600),
            at: Fixtures.now(offset: 1), audit: Fixtures.audit(organization.id, .tokenRegenerate, target: token.id.rawValue))
        // A token of another organization whose grace period has already ended, but whose previous secret is recorded.
        let foreign = try await Fixtures.makeToken(in: store, other.id)
        let foreignCurrent = Fixtures.hasher.digest(TokenSecret.generate())
        _ = try await store.replaceSecret(
            id: foreign.id, organization: other.id, digest: foreignCurrent, previousValidUntil: Fixtures.now(offset: -60),
            at: Fixtures.now(offset: -120), audit: Fixtures.audit(other.id, .tokenRegenerate, target: foreign.id.rawValue))

        // Look-up by digest.
        try check(sameToken(try await store.token(secretDigest: second), graced), "the current digest finds its token")
        try check(sameToken(try await store.token(secretDigest: token.secretDigest), graced), "the previous digest finds its token")
        try check(try await store.token(secretDigest: foreignCurrent)?.id == foreign.id, "any organization's token is found")
        try check(
            try await store.token(secretDigest: foreign.secretDigest)?.id == foreign.id,
            "a recorded previous secret is found whatever its grace period")
        try check(try await store.token(secretDigest: Fixtures.hasher.digest(TokenSecret.generate())) == nil, "an unknown digest finds nothing")

        func revocations() async throws -> Int {
            let mine = try await store.listAuditEvents(organization: organization.id, after: nil, limit: 100).items
            let theirs = try await store.listAuditEvents(organization: other.id, after: nil, limit: 100).items
            return (mine + theirs).filter { $0.action == .tokenRevokeLeaked }.count
        }
        func revoke(_ id: TokenID, _ leaked: SecretDigest, at: Date, replacement: SecretDigest) async throws -> APIToken {
            try await store.revokeLeakedSecret(
                id: id, leaked: leaked, replacement: replacement, at: at,
                audit: Fixtures.audit(organization.id, .tokenRevokeLeaked, target: id.rawValue))
        }

        // No match: a digest of nothing, of another token, or a token that does not exist.
        for (id, leaked) in [
            (token.id, Fixtures.hasher.digest(TokenSecret.generate())), (token.id, foreignCurrent), (foreign.id, second),
            (TokenID.generate(), second),
        ] {
            try await checkThrows(StoreError.notFound) {
                _ = try await revoke(id, leaked, at: Fixtures.now(offset: 5), replacement: Fixtures.hasher.digest(TokenSecret.generate()))
            }
        }
        try check(try await revocations() == 0, "a failed revocation writes no audit event")
        try check(sameToken(try await store.token(id: token.id), graced), "a failed revocation changes nothing")

        // The current secret leaked: replaced by a secret nobody knows, next generation, previous secret dropped too.
        try await store.recordUsage([TokenUsage(tokenID: token.id, at: Fixtures.now(offset: 2), sourceIP: nil)])
        let replacement = Fixtures.hasher.digest(TokenSecret.generate())
        let revokedAt = Fixtures.now(offset: 10)
        let revoked = try await revoke(token.id, second, at: revokedAt, replacement: replacement)
        try check(revoked.secretDigest == replacement, "the leaked current secret is replaced")
        try check(revoked.secretGeneration == graced.secretGeneration + 1, "the generation grows by one: \(revoked.secretGeneration)")
        try check(revoked.previousSecret == nil, "the previous secret is dropped with it")
        try check(revoked.secretLastUsedAt == nil, "the replacement was never used")
        try check(sameInstant(revoked.secretRotatedAt, revokedAt) && sameInstant(revoked.updatedAt, revokedAt), "rotation times moved")
        try check(revoked.name == token.name && revoked.role == token.role && sameInstant(revoked.createdAt, token.createdAt), "the rest stays")
        try check(sameToken(try await store.token(id: token.id), revoked), "the returned token is the stored one")
        try check(try await revocations() == 1, "the revocation is audited")
        try check(try await store.token(secretDigest: second) == nil, "the leaked digest finds nothing any more")
        try check(try await store.token(secretDigest: token.secretDigest) == nil, "nor does the dropped previous digest")
        try check(try await store.token(secretDigest: replacement)?.id == token.id, "the replacement digest is the token's")
        try await checkThrows(StoreError.notFound) {
            _ = try await revoke(token.id, second, at: Fixtures.now(offset: 11), replacement: Fixtures.hasher.digest(TokenSecret.generate()))
        }

        // The previous secret leaked: only it is dropped.
        let before = try await store.token(id: foreign.id)
        let droppedAt = Fixtures.now(offset: 20)
        let dropped = try await store.revokeLeakedSecret(
            id: foreign.id, leaked: foreign.secretDigest, replacement: Fixtures.hasher.digest(TokenSecret.generate()), at: droppedAt,
            audit: Fixtures.audit(other.id, .tokenRevokeLeaked, target: foreign.id.rawValue))
        try check(dropped.previousSecret == nil, "the leaked previous secret is dropped")
        try check(
            dropped.secretDigest == foreignCurrent && dropped.secretGeneration == before?.secretGeneration
                && sameInstant(dropped.secretRotatedAt, before?.secretRotatedAt),
            "the current secret stays as it is")
        try check(sameInstant(dropped.updatedAt, droppedAt), "updated_at moved")
        try check(sameToken(try await store.token(id: foreign.id), dropped), "the returned token is the stored one")
        try check(try await revocations() == 2, "that revocation is audited too")
        let otherEvents = try await store.listAuditEvents(
            organization: other.id, filter: AuditFilter(action: .tokenRevokeLeaked), after: nil, limit: 10)
        try check(otherEvents.items.map(\.targetID) == [foreign.id.rawValue], "the audit event goes where it was addressed")
        try check(try await store.token(secretDigest: foreign.secretDigest) == nil, "the dropped digest finds nothing")
        try check(try await store.token(secretDigest: foreignCurrent)?.id == foreign.id, "the current digest still finds its token")
    }

    static func tokenCountsByRole(_ store: some Store) async throws {
        let empty = try await store.tokenCountsByRole()
        try check(empty == [.administrator: 0, .user: 0], "an empty store counts zero of every role: \(empty)")
        let acme = try await Fixtures.makeOrganization(in: store)
        let other = try await Fixtures.makeOrganization(in: store, "Other")
        try await Fixtures.makeToken(in: store, acme.id, role: .administrator)
        try await Fixtures.makeToken(in: store, acme.id, role: .user)
        try await Fixtures.makeToken(in: store, acme.id, role: .user)
        let admin = try await Fixtures.makeToken(in: store, other.id, role: .administrator)
        try await Fixtures.makeToken(in: store, other.id, role: .user)
        let counts = try await store.tokenCountsByRole()
        try check(counts == [.administrator: 2, .user: 3], "counts over all organizations: \(counts)")
        _ = try await store.updateToken(
            id: admin.id, organization: other.id, change: TokenChange(role: .user), at: Fixtures.now(),
            audit: Fixtures.audit(other.id, .tokenUpdate, target: admin.id.rawValue))
        try check(try await store.tokenCountsByRole() == [.administrator: 1, .user: 4], "a role change moves the count")
        try await store.deleteToken(id: admin.id, organization: other.id, audit: Fixtures.audit(other.id, .tokenDelete, target: admin.id.rawValue))
        try check(try await store.tokenCountsByRole() == [.administrator: 1, .user: 3], "a deleted token is no longer counted")
    }
}

// MARK: Organization policy, audit filters, service credentials

extension StoreConformance {
    static func organizationPolicy(_ store: some Store) async throws {
        let plain = try await Fixtures.makeOrganization(in: store)
        try check(try await store.organization(id: plain.id)?.policy == TokenPolicy(), "a new organization has the default policy")
        try check(TokenPolicy() == TokenPolicy(maximumLifetime: nil, requireExpiry: false), "fixture sanity: the default is no rule")

        var strict = Fixtures.organization("Strict")
        strict.policy = TokenPolicy(maximumLifetime: 90 * 86_400, requireExpiry: true)
        try await store.createOrganization(strict, audit: Fixtures.audit(strict.id, .organizationCreate, target: strict.id.description))
        try check(try await store.organization(id: strict.id)?.policy == strict.policy, "a policy given at creation round-trips")

        let policy = TokenPolicy(maximumLifetime: 12 * 3_600, requireExpiry: true)
        let updated = try await store.updateOrganizationPolicy(
            id: plain.id, policy: policy,
            audit: Fixtures.audit(plain.id, .organizationPolicyUpdate, target: plain.id.description, targetType: "organization"))
        try check(updated.policy == policy, "the returned organization has the new policy")
        try check(updated.id == plain.id && updated.name == plain.name && sameInstant(updated.createdAt, plain.createdAt), "the rest stays")
        let fetched = try await store.organization(id: plain.id)
        try check(fetched?.policy == policy, "the policy is stored: \(String(describing: fetched?.policy))")
        try check(try await store.organization(id: strict.id)?.policy == strict.policy, "other organizations keep theirs")
        let listed = try await store.listOrganizations(limit: 10)
        try check(listed.map(\.policy) == [policy, strict.policy], "listed organizations carry their policies")

        let lifetimeOnly = TokenPolicy(maximumLifetime: 3_600, requireExpiry: false)
        try check(
            try await store.updateOrganizationPolicy(
                id: plain.id, policy: lifetimeOnly, audit: Fixtures.audit(plain.id, .organizationPolicyUpdate, target: plain.id.description)
            ).policy == lifetimeOnly,
            "require_expiry can be turned off")
        let cleared = try await store.updateOrganizationPolicy(
            id: plain.id, policy: TokenPolicy(), audit: Fixtures.audit(plain.id, .organizationPolicyUpdate, target: plain.id.description))
        try check(cleared.policy == TokenPolicy(), "a policy can be cleared")
        try check(try await store.organization(id: plain.id)?.policy == TokenPolicy(), "the cleared policy is stored")

        let events = try await store.listAuditEvents(organization: plain.id, after: nil, limit: 100).items
        try check(events.filter { $0.action == .organizationPolicyUpdate }.count == 3, "every policy change is audited")

        let missing = OrganizationID.generate()
        try await checkThrows(StoreError.notFound) {
            _ = try await store.updateOrganizationPolicy(
                id: missing, policy: policy, audit: Fixtures.audit(missing, .organizationPolicyUpdate, target: missing.description))
        }
        try check(
            try await store.listAuditEvents(organization: missing, after: nil, limit: 10).items.isEmpty, "a failed update writes no audit event")
        try check(try await store.organizationCount() == 2, "a failed update creates no organization")
    }

    static func auditFilters(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        let other = try await Fixtures.makeOrganization(in: store, "Other")
        let base = Fixtures.now(offset: 60)
        let actors = ["token:AAAAAAAAAAAAAAAAAAAAAA", "token:BBBBBBBBBBBBBBBBBBBBBB", "admin-cli"]
        let targets = ["t1", "t2"]
        let actions: [AuditAction] = [.tokenUpdate, .tokenRegenerate, .authenticationFailure]
        // Twelve events a second apart, every combination appearing; the other organization gets the same ones.
        var recorded: [UUID: Int] = [:]
        for index in 0..<12 {
            for owner in [organization.id, other.id] {
                let event = AuditEvent(
                    organizationID: owner, occurredAt: base.addingTimeInterval(Double(index)), actor: actors[index % 3],
                    action: actions[(index / 3) % 3], targetType: "token", targetID: targets[index % 2])
                try await store.recordAuditEvent(event)
                recorded[event.id] = index
            }
        }
        // Which second an event was recorded at (-1 for the organization's creation, before them all): times read
        // back may differ from the written ones in the last bits, so the expectations go by what was written.
        let seconds = recorded
        func second(_ event: AuditEvent) -> Int { seconds[event.id] ?? -1 }
        let all = try await store.listAuditEvents(organization: organization.id, after: nil, limit: 100).items
        try check(all.count == 13, "every event listed: \(all.count)")
        try check(zip(all, all.dropFirst()).allSatisfy { $0.occurredAt >= $1.occurredAt }, "newest first")

        func listed(_ filter: AuditFilter) async throws -> [UUID] {
            try await store.listAuditEvents(organization: organization.id, filter: filter, after: nil, limit: 100).items.map(\.id)
        }
        func expect(_ filter: AuditFilter, count: Int, _ label: String, _ matches: (AuditEvent) -> Bool) async throws {
            let expected = all.filter(matches).map(\.id)
            try check(expected.count == count, "fixture sanity for \(label): \(expected.count)")
            let got = try await listed(filter)
            try check(got == expected, "\(label): \(got.count) events, expected \(expected.count), newest first")
        }
        let since = base.addingTimeInterval(3)
        let until = base.addingTimeInterval(9)
        try await expect(AuditFilter(actor: actors[1]), count: 4, "by actor") { $0.actor == actors[1] }
        try await expect(AuditFilter(actor: "token:AAAAAAAAAAAAAAAAAAAAA"), count: 0, "by an actor prefix (exact match only)") { _ in false }
        try await expect(AuditFilter(targetID: "t2"), count: 6, "by target") { $0.targetID == "t2" }
        try await expect(AuditFilter(action: .authenticationFailure), count: 3, "by action") { $0.action == .authenticationFailure }
        try await expect(AuditFilter(since: since), count: 9, "since, inclusive") { second($0) >= 3 }
        try await expect(AuditFilter(until: until), count: 10, "until, exclusive") { second($0) < 9 }
        try await expect(AuditFilter(since: since, until: until), count: 6, "a time window") { (3..<9).contains(second($0)) }
        try await expect(AuditFilter(actor: actors[0], targetID: "t2"), count: 2, "actor and target") {
            $0.actor == actors[0] && $0.targetID == "t2"
        }
        try await expect(
            AuditFilter(actor: actors[0], targetID: "t2", action: .tokenRegenerate, since: since, until: until), count: 1, "every filter"
        ) {
            $0.actor == actors[0] && $0.targetID == "t2" && $0.action == .tokenRegenerate && (3..<9).contains(second($0))
        }
        try await expect(AuditFilter(action: .tokenRevokeLeaked), count: 0, "an action that never happened") { _ in false }

        // Pagination of a filtered trail.
        let filter = AuditFilter(targetID: "t1")
        let expected = all.filter { $0.targetID == "t1" }.map(\.id)
        var seen: [UUID] = []
        var pages = 0
        var cursor: AuditCursor?
        repeat {
            let page = try await store.listAuditEvents(organization: organization.id, filter: filter, after: cursor, limit: 4)
            pages += 1
            try check(page.items.count == (pages < 2 ? 4 : 2), "page \(pages) holds \(page.items.count) events")
            seen += page.items.map(\.id)
            cursor = page.next
        } while cursor != nil && pages < 10
        try check(seen == expected && pages == 2, "every matching event once, newest first, across \(pages) pages")

        let theirs = try await store.listAuditEvents(organization: other.id, filter: AuditFilter(actor: actors[1]), after: nil, limit: 100)
        try check(
            theirs.items.count == 4 && Set(theirs.items.map(\.id)).isDisjoint(with: all.map(\.id)), "filters stay within the organization")
    }

    static func standaloneAuditEvent(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        let other = try await Fixtures.makeOrganization(in: store, "Other")
        let event = AuditEvent(
            organizationID: organization.id, occurredAt: Date(timeIntervalSince1970: 1_700_000_000.654_321),
            actor: "token:2iKo4Asy51EUx2gpJFW76t", action: .authenticationIPRefused, targetType: "token",
            targetID: "2iKo4Asy51EUx2gpJFW76t", sourceIP: "198.51.100.23", requestID: nil, outcome: "failure",
            details: ["reason": "source address outside the allowed networks", "fence": "203.0.113.0/24"])
        try await store.recordAuditEvent(event)
        let events = try await store.listAuditEvents(organization: organization.id, after: nil, limit: 10).items
        try check(events.count == 2, "the event is recorded: \(events.count)")
        guard let stored = events.first else { throw ConformanceFailure("no event") }
        try check(sameInstant(stored.occurredAt, event.occurredAt), "occurred_at round-trips to the microsecond")
        var same = stored
        same.occurredAt = event.occurredAt
        try check(same == event, "the event round-trips: \(stored)")
        try check(
            try await store.listAuditEvents(organization: other.id, after: nil, limit: 10).items.map(\.action) == [.organizationCreate],
            "only in its organization")
        try await checkThrows(StoreError.alreadyExists) { try await store.recordAuditEvent(event) }
        try check(try await store.listAuditEvents(organization: organization.id, after: nil, limit: 10).items.count == 2, "once")
    }

    static func serviceCredentials(_ store: some Store) async throws {
        try check(try await store.serviceCredentials().isEmpty, "no service credentials at first")
        let scanner = ServiceCredentialRecord(
            kind: .secretScanner, name: "github-secret-scanning", digest: Fixtures.hasher.digest(ServiceCredential.generate()),
            createdAt: Date(timeIntervalSince1970: 1_700_000_000.123_457))
        let metrics = ServiceCredentialRecord(
            kind: .metrics, name: "prometheus ✓", digest: Fixtures.hasher.digest(ServiceCredential.generate()),
            createdAt: Date(timeIntervalSince1970: 1_600_000_000.000_001))
        try await store.createServiceCredential(scanner)
        try await store.createServiceCredential(metrics)
        let listed = try await store.serviceCredentials()
        try check(listed.map(\.id) == [metrics.id, scanner.id], "oldest first")
        for (stored, expected) in zip(listed, [metrics, scanner]) {
            try check(
                stored.kind == expected.kind && stored.name == expected.name && stored.digest == expected.digest,
                "kind, name and digest round-trip: \(stored.name)")
            try check(sameInstant(stored.createdAt, expected.createdAt), "created_at round-trips to the microsecond")
        }

        let sameDigest = ServiceCredentialRecord(kind: .metrics, name: "copy", digest: scanner.digest, createdAt: Fixtures.now())
        try await checkThrows(StoreError.alreadyExists) { try await store.createServiceCredential(sameDigest) }
        let sameID = ServiceCredentialRecord(
            id: scanner.id, kind: .metrics, name: "copy", digest: Fixtures.hasher.digest(ServiceCredential.generate()), createdAt: Fixtures.now())
        try await checkThrows(StoreError.alreadyExists) { try await store.createServiceCredential(sameID) }
        try check(try await store.serviceCredentials().count == 2, "duplicates are not stored")

        try await store.deleteServiceCredential(id: scanner.id)
        try check(try await store.serviceCredentials().map(\.id) == [metrics.id], "the deleted credential is gone, the other stays")
        try await checkThrows(StoreError.notFound) { try await store.deleteServiceCredential(id: scanner.id) }
        try await checkThrows(StoreError.notFound) { try await store.deleteServiceCredential(id: UUID()) }
        try await store.createServiceCredential(
            ServiceCredentialRecord(kind: .secretScanner, name: "again", digest: scanner.digest, createdAt: Fixtures.now()))
        try check(try await store.serviceCredentials().count == 2, "a deleted credential's digest can be stored again")
    }
}
