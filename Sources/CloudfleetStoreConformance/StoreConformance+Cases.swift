import CloudfleetCore
import CloudfleetStore
import Foundation

// MARK: Organizations and tokens

extension StoreConformance {
    static func migrateIsIdempotent(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        try await store.migrate()
        try await store.migrate()
        let fetched = try await store.organization(id: organization.id)
        try check(
            fetched?.name == organization.name && sameInstant(fetched?.createdAt, organization.createdAt), "data survives repeated migrations")
        try await store.ping()
    }

    static func organizationRoundTrip(_ store: some Store) async throws {
        try check(try await store.organizationCount() == 0, "a fresh store has no organization")
        let organization = try await Fixtures.makeOrganization(in: store, "Acme Ünïcode")
        let fetched = try await store.organization(id: organization.id)
        try check(fetched?.id == organization.id && fetched?.name == organization.name, "organization round-trips")
        try check(sameInstant(fetched?.createdAt, organization.createdAt), "created_at round-trips to the microsecond")
        try check(try await store.organization(id: .generate()) == nil, "a missing organization is nil")
        try check(try await store.organizationCount() == 1, "one organization counted")
        let second = try await Fixtures.makeOrganization(in: store, "Second")
        let listed = try await store.listOrganizations(limit: 10).map(\.id)
        try check(listed == [organization.id, second.id], "organizations listed oldest first")
        try check(try await store.listOrganizations(limit: 1).count == 1, "the limit holds")
    }

    static func organizationDuplicate(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        try await checkThrows(StoreError.alreadyExists) {
            try await store.createOrganization(
                organization, audit: Fixtures.audit(organization.id, .organizationCreate, target: "again"))
        }
        try check(try await store.organizationCount() == 1, "the duplicate was not stored")
    }

    static func tokenRoundTrip(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        var token = try Fixtures.token(organization.id, name: "deploy — prod ✓", role: .administrator)
        token.expiresAt = Fixtures.now(offset: 86_400)
        try await store.createToken(token, audit: Fixtures.audit(organization.id, .tokenCreate, target: token.id.rawValue))
        guard let fetched = try await store.token(id: token.id) else { throw ConformanceFailure("token not found") }
        try check(fetched.id == token.id && fetched.organizationID == organization.id, "identity round-trips")
        try check(fetched.name == token.name && fetched.role == .administrator, "name and role round-trip")
        try check(fetched.secretDigest == token.secretDigest && fetched.secretGeneration == 1, "digest and generation")
        try check(sameInstant(fetched.createdAt, token.createdAt), "created_at round-trips")
        try check(sameInstant(fetched.updatedAt, token.createdAt), "updated_at starts at created_at")
        try check(sameInstant(fetched.secretRotatedAt, token.createdAt), "secret_rotated_at starts at created_at")
        try check(sameInstant(fetched.expiresAt, token.expiresAt), "expires_at round-trips")
        try check(
            fetched.lastUsedAt == nil && fetched.lastUsedIP == nil && fetched.lastUsedUserAgent == nil && fetched.secretLastUsedAt == nil,
            "never used")
        try check(fetched.allowedCIDRs.isEmpty && fetched.previousSecret == nil, "no IP fence and no previous secret")
        try check(sameToken(fetched, token), "the whole token round-trips")
        try check(fetched.createdBy == "conformance", "created_by round-trips")
        try check(try await store.tokenCount(organization: organization.id) == 1, "one token counted")
    }

    static func tokenMissing(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        try check(try await store.token(id: .generate()) == nil, "a missing token is nil")
        let empty = try await store.listTokens(organization: organization.id, after: nil, limit: 10)
        try check(empty.items.isEmpty && empty.next == nil, "an empty list has no next page")
    }

    static func tokenDuplicateID(_ store: some Store, lowerCased: Bool) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        let first = try await Fixtures.makeToken(in: store, organization.id, id: try fixedID("AbCdEfGhIjKlMnOpQrStUv"))
        let clash = lowerCased ? try fixedID("abcdefghijklmnopqrstuv") : first.id
        try await checkThrows(StoreError.alreadyExists) {
            try await Fixtures.makeToken(in: store, organization.id, id: clash)
        }
        try check(try await store.tokenCount(organization: organization.id) == 1, "the clashing token was not stored")
        let audit = try await store.listAuditEvents(organization: organization.id, after: nil, limit: 100)
        try check(audit.items.filter { $0.action == .tokenCreate }.count == 1, "no audit event for the failed create")
    }

    static func tokenUpdate(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        let token = try await Fixtures.makeToken(in: store, organization.id)
        let later = Fixtures.now(offset: 5)
        let renamed = try await store.updateToken(
            id: token.id, organization: organization.id, change: TokenChange(name: try TokenName("renamed")), at: later,
            audit: Fixtures.audit(organization.id, .tokenUpdate, target: token.id.rawValue))
        try check(renamed.name.rawValue == "renamed" && renamed.role == .user, "only the name changed")
        try check(sameInstant(renamed.updatedAt, later), "updated_at moved")
        let promoted = try await store.updateToken(
            id: token.id, organization: organization.id, change: TokenChange(role: .administrator), at: later,
            audit: Fixtures.audit(organization.id, .tokenUpdate, target: token.id.rawValue))
        try check(promoted.name.rawValue == "renamed" && promoted.role == .administrator, "only the role changed")
        try check(promoted.secretGeneration == 1 && promoted.secretDigest == token.secretDigest, "secret untouched")
        try check(try await store.token(id: token.id) == promoted, "the returned token is the stored one")
    }

    static func tokenUpdateMissingOrOtherOrganization(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        let other = try await Fixtures.makeOrganization(in: store, "Other")
        let token = try await Fixtures.makeToken(in: store, organization.id)
        let audit = Fixtures.audit(other.id, .tokenUpdate, target: token.id.rawValue)
        for (id, scope) in [(TokenID.generate(), organization.id), (token.id, other.id)] {
            try await checkThrows(StoreError.notFound) {
                _ = try await store.updateToken(
                    id: id, organization: scope, change: TokenChange(role: .administrator),
                    at: Fixtures.now(), audit: audit)
            }
            try await checkThrows(StoreError.notFound) {
                _ = try await store.replaceSecret(
                    id: id, organization: scope, digest: Fixtures.hasher.digest(TokenSecret.generate()), previousValidUntil: nil,
                    at: Fixtures.now(), audit: audit)
            }
            try await checkThrows(StoreError.notFound) {
                try await store.deleteToken(id: id, organization: scope, audit: audit)
            }
        }
        try check(sameToken(try await store.token(id: token.id), token), "the token is unchanged")
        let events = try await store.listAuditEvents(organization: other.id, after: nil, limit: 100)
        try check(events.items.allSatisfy { $0.action == .organizationCreate }, "failed changes write no audit event")
    }

    static func secretReplacement(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        let token = try await Fixtures.makeToken(in: store, organization.id)
        let digest = Fixtures.hasher.digest(TokenSecret.generate())
        let later = Fixtures.now(offset: 60)
        let replaced = try await store.replaceSecret(
            id: token.id, organization: organization.id, digest: digest, previousValidUntil: nil, at: later,
            audit: Fixtures.audit(organization.id, .tokenRegenerate, target: token.id.rawValue))
        try check(replaced.secretDigest == digest && replaced.secretGeneration == 2, "new digest, next generation")
        try check(sameInstant(replaced.secretRotatedAt, later), "secret_rotated_at moved")
        try check(sameInstant(replaced.createdAt, token.createdAt), "created_at kept")
        try check(try await store.token(id: token.id) == replaced, "the returned token is the stored one")
    }

    static func tokenDelete(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        let token = try await Fixtures.makeToken(in: store, organization.id)
        let kept = try await Fixtures.makeToken(in: store, organization.id)
        try await store.deleteToken(
            id: token.id, organization: organization.id,
            audit: Fixtures.audit(organization.id, .tokenDelete, target: token.id.rawValue))
        try check(try await store.token(id: token.id) == nil, "the deleted token is gone")
        try check(try await store.token(id: kept.id) != nil, "other tokens stay")
        try check(try await store.tokenCount(organization: organization.id) == 1, "the count follows the delete")
        try await checkThrows(StoreError.notFound) {
            try await store.deleteToken(
                id: token.id, organization: organization.id,
                audit: Fixtures.audit(organization.id, .tokenDelete, target: token.id.rawValue))
        }
        _ = try await store.updateToken(
            id: kept.id, organization: organization.id, change: TokenChange(role: .administrator), at: Fixtures.now(),
            audit: Fixtures.audit(organization.id, .tokenUpdate, target: kept.id.rawValue))
        try check(try await store.tokenCount(organization: organization.id) == 1, "a failed delete and a role change count nothing")
        try await store.deleteToken(
            id: kept.id, organization: organization.id, audit: Fixtures.audit(organization.id, .tokenDelete, target: kept.id.rawValue))
        try check(try await store.tokenCount(organization: organization.id) == 0, "no token left")
    }
}

// MARK: Audit, pagination, isolation, usage, keys

extension StoreConformance {
    static func auditEventsWrittenWithChanges(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        let token = try await Fixtures.makeToken(in: store, organization.id)
        _ = try await store.updateToken(
            id: token.id, organization: organization.id, change: TokenChange(role: .administrator),
            at: Fixtures.now(), audit: Fixtures.audit(organization.id, .tokenUpdate, target: token.id.rawValue))
        _ = try await store.replaceSecret(
            id: token.id, organization: organization.id, digest: Fixtures.hasher.digest(TokenSecret.generate()), previousValidUntil: nil,
            at: Fixtures.now(), audit: Fixtures.audit(organization.id, .tokenRegenerate, target: token.id.rawValue))
        try await store.deleteToken(
            id: token.id, organization: organization.id,
            audit: Fixtures.audit(organization.id, .tokenDelete, target: token.id.rawValue))
        let events = try await store.listAuditEvents(organization: organization.id, after: nil, limit: 100).items
        try check(
            events.map(\.action) == [.tokenDelete, .tokenRegenerate, .tokenUpdate, .tokenCreate, .organizationCreate],
            "every change recorded, newest first: \(events.map(\.action))")
        let first = events[0]
        try check(
            first.actor == "conformance" && first.targetID == token.id.rawValue && first.sourceIP == "192.0.2.1"
                && first.requestID == "req-1" && first.outcome == "success" && first.details == ["k": "v"],
            "audit fields round-trip")
    }

    static func failedChangeWritesNoAudit(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        try await checkThrows(StoreError.notFound) {
            try await store.deleteToken(
                id: .generate(), organization: organization.id,
                audit: Fixtures.audit(organization.id, .tokenDelete, target: "nothing"))
        }
        let events = try await store.listAuditEvents(organization: organization.id, after: nil, limit: 100).items
        try check(events.map(\.action) == [.organizationCreate], "only the organization's creation is recorded")
    }

    static func auditPagination(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        for _ in 0..<6 { try await Fixtures.makeToken(in: store, organization.id) }
        var seen: [UUID] = []
        var cursor: AuditCursor?
        repeat {
            let page = try await store.listAuditEvents(organization: organization.id, after: cursor, limit: 3)
            try check(page.items.count <= 3, "a page holds at most the limit")
            seen += page.items.map(\.id)
            cursor = page.next
        } while cursor != nil
        try check(seen.count == 7 && Set(seen).count == 7, "every event exactly once across pages")
    }

    static func tokenPagination(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        let base = Fixtures.now()
        var created: [TokenID] = []
        // Two tokens share each creation time, so the ID must break ties.
        for index in 0..<7 {
            created.append(try await Fixtures.makeToken(in: store, organization.id, createdAt: base.addingTimeInterval(Double(index / 2))).id)
        }
        var seen: [TokenID] = []
        var cursor: TokenCursor?
        repeat {
            let page = try await store.listTokens(organization: organization.id, after: cursor, limit: 2)
            try check(page.items.count <= 2, "a page holds at most the limit")
            seen += page.items.map(\.id)
            cursor = page.next
        } while cursor != nil
        try check(Set(seen) == Set(created) && seen.count == created.count, "every token exactly once across pages")
        let ordered = try await store.listTokens(organization: organization.id, after: nil, limit: 100).items
        try check(ordered.map(\.id) == seen, "pages follow the list order")
        try check(
            zip(ordered, ordered.dropFirst()).allSatisfy { ($0.createdAt, $0.id.rawValue) < ($1.createdAt, $1.id.rawValue) },
            "ordered by creation time, then ID")
    }

    static func paginationStableUnderInserts(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        let base = Fixtures.now()
        for index in 0..<4 {
            try await Fixtures.makeToken(in: store, organization.id, createdAt: base.addingTimeInterval(Double(index)))
        }
        let first = try await store.listTokens(organization: organization.id, after: nil, limit: 2)
        try await Fixtures.makeToken(in: store, organization.id, createdAt: base.addingTimeInterval(-10))
        let second = try await store.listTokens(organization: organization.id, after: first.next, limit: 10)
        try check(second.items.count == 2, "a token inserted before the cursor does not shift the next page")
        try check(Set(first.items.map(\.id)).isDisjoint(with: second.items.map(\.id)), "no token repeats across pages")
    }

    static func organizationsIsolated(_ store: some Store) async throws {
        let acme = try await Fixtures.makeOrganization(in: store)
        let other = try await Fixtures.makeOrganization(in: store, "Other")
        let mine = try await Fixtures.makeToken(in: store, acme.id)
        let theirs = try await Fixtures.makeToken(in: store, other.id)
        let listed = try await store.listTokens(organization: acme.id, after: nil, limit: 100).items.map(\.id)
        try check(listed == [mine.id], "only the organization's own tokens are listed")
        let events = try await store.listAuditEvents(organization: acme.id, after: nil, limit: 100).items
        try check(!events.contains { $0.targetID == theirs.id.rawValue }, "only the organization's own audit events")
        try check(try await store.tokenCount(organization: other.id) == 1, "counts are per organization")
    }

    static func usageWrittenBehind(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        let token = try await Fixtures.makeToken(in: store, organization.id)
        let newer = Fixtures.now(offset: 30)
        try await store.recordUsage([
            TokenUsage(tokenID: token.id, at: newer, sourceIP: "2001:db8::1"),
            TokenUsage(tokenID: .generate(), at: newer, sourceIP: "192.0.2.9"),
        ])
        try await store.recordUsage([TokenUsage(tokenID: token.id, at: Fixtures.now(), sourceIP: "192.0.2.2")])
        let fetched = try await store.token(id: token.id)
        try check(
            sameInstant(fetched?.lastUsedAt, newer) && fetched?.lastUsedIP == "2001:db8::1",
            "the newest usage wins and unknown tokens are ignored")
        try check(sameInstant(fetched?.updatedAt, token.updatedAt), "usage is not an update")
    }

    static func signingKeys(_ store: some Store) async throws {
        try check(try await store.signingKeys().isEmpty, "no keys at first")
        let older = SigningKeyRecord(kid: "k1", algorithm: "RS256", sealedPrivateKey: [1, 2, 3], createdAt: Fixtures.now(offset: -60))
        let newer = SigningKeyRecord(kid: "k2", algorithm: "RS256", sealedPrivateKey: Array(0...255), createdAt: Fixtures.now())
        try await store.addSigningKey(older)
        try await store.addSigningKey(newer)
        let keys = try await store.signingKeys()
        try check(keys.map(\.kid) == ["k2", "k1"] && keys[0].sealedPrivateKey == newer.sealedPrivateKey, "newest first, bytes intact")
        try await checkThrows(StoreError.alreadyExists) { try await store.addSigningKey(older) }
    }
}

extension StoreConformance {
    static func signingKeyRotation(_ store: some Store) async throws {
        let first = SigningKeyRecord(kid: "k1", algorithm: "RS256", sealedPrivateKey: [1], createdAt: Fixtures.now(offset: -60))
        try await store.addSigningKey(first)
        let rotatedAt = Fixtures.now()
        try await store.rotateSigningKey(to: SigningKeyRecord(kid: "k2", algorithm: "RS256", sealedPrivateKey: [2], createdAt: rotatedAt))
        let keys = try await store.signingKeys()
        try check(keys.map(\.kid) == ["k2", "k1"], "both keys kept, newest first")
        try check(keys[0].retiredAt == nil, "the new key signs")
        try check(sameInstant(keys[1].retiredAt, rotatedAt), "the previous key is retired when the new one arrives")
        try await checkThrows(StoreError.alreadyExists) {
            try await store.rotateSigningKey(to: SigningKeyRecord(kid: "k2", algorithm: "RS256", sealedPrivateKey: [3], createdAt: Fixtures.now()))
        }
        try check(try await store.signingKeys()[0].retiredAt == nil, "a failed rotation changes nothing")
    }
}

// MARK: Concurrency

extension StoreConformance {
    static func concurrentCreates(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        let count = 40
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<count {
                group.addTask { try await Fixtures.makeToken(in: store, organization.id) }
            }
            try await group.waitForAll()
        }
        try check(try await store.tokenCount(organization: organization.id) == count, "every concurrent create stored")
        let events = try await store.listAuditEvents(organization: organization.id, after: nil, limit: 1000).items
        try check(events.filter { $0.action == .tokenCreate }.count == count, "one audit event per create")
    }

    static func concurrentRegenerations(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        let token = try await Fixtures.makeToken(in: store, organization.id)
        let count = 20
        let results = try await withThrowingTaskGroup(of: APIToken.self) { group in
            for _ in 0..<count {
                group.addTask {
                    try await store.replaceSecret(
                        id: token.id, organization: organization.id, digest: Fixtures.hasher.digest(TokenSecret.generate()), previousValidUntil: nil,
                        at: Fixtures.now(), audit: Fixtures.audit(organization.id, .tokenRegenerate, target: token.id.rawValue))
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let generations = results.map(\.secretGeneration).sorted()
        try check(generations == Array(2...(count + 1)), "each regeneration got its own generation: \(generations)")
        let last = results.max { $0.secretGeneration < $1.secretGeneration }
        let stored = try await store.token(id: token.id)
        try check(stored?.secretDigest == last?.secretDigest, "the last acknowledged secret is the valid one")
    }

    static func deleteRacingRegeneration(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        let token = try await Fixtures.makeToken(in: store, organization.id)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await store.deleteToken(
                    id: token.id, organization: organization.id,
                    audit: Fixtures.audit(organization.id, .tokenDelete, target: token.id.rawValue))
            }
            for _ in 0..<5 {
                group.addTask {
                    do {
                        _ = try await store.replaceSecret(
                            id: token.id, organization: organization.id, digest: Fixtures.hasher.digest(TokenSecret.generate()),
                            previousValidUntil: nil,
                            at: Fixtures.now(), audit: Fixtures.audit(organization.id, .tokenRegenerate, target: token.id.rawValue))
                    } catch StoreError.notFound {
                        // Lost the race to the delete: the expected outcome for some of them.
                    }
                }
            }
            try await group.waitForAll()
        }
        try check(try await store.token(id: token.id) == nil, "the token ends deleted")
    }
}

func fixedID(_ string: String) throws -> TokenID {
    guard let id = TokenID(string) else { throw ConformanceFailure("bad fixture id \(string)") }
    return id
}
