import CloudfleetCore
import CloudfleetStore
import Foundation

// MARK: Users

extension StoreConformance {
    static func userRoundTrip(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        // Whole microseconds that a store rounding to milliseconds or seconds would lose.
        let full = try Fixtures.user(
            organization.id, email: "Alice.Admin@Example.COM", role: .administrator, ssoSubject: "https://idp.example.com#alice ✓",
            createdAt: Date(timeIntervalSince1970: 1_700_000_000.123_457), updatedAt: Date(timeIntervalSince1970: 1_700_000_100.654_321),
            lastSignInAt: Date(timeIntervalSince1970: 1_700_000_200.000_001))
        try await store.createUser(full, audit: Fixtures.userAudit(organization.id, .userCreate, full.id))
        let bare = try await Fixtures.makeUser(in: store, organization.id, email: "bob@example.com")

        guard let fetched = try await store.user(id: full.id) else { throw ConformanceFailure("user not found by ID") }
        try check(fetched.id == full.id && fetched.organizationID == organization.id, "identity round-trips")
        try check(fetched.email.rawValue == "alice.admin@example.com", "the email address is stored lower-cased: \(fetched.email)")
        try check(fetched.role == .administrator, "the role round-trips")
        try check(fetched.ssoSubject == "https://idp.example.com#alice ✓", "the SSO subject round-trips")
        try check(sameInstant(fetched.createdAt, full.createdAt), "created_at round-trips to the microsecond: \(fetched.createdAt)")
        try check(sameInstant(fetched.updatedAt, full.updatedAt), "updated_at round-trips to the microsecond: \(fetched.updatedAt)")
        try check(sameInstant(fetched.lastSignInAt, full.lastSignInAt), "last_sign_in_at round-trips to the microsecond")
        try check(fetched.createdBy == "conformance", "created_by round-trips")
        try check(sameUser(fetched, full), "the whole user round-trips")

        try check(sameUser(try await store.user(email: try EmailAddress("ALICE.admin@example.com")), full), "found by email in any case")
        try check(sameUser(try await store.user(ssoSubject: "https://idp.example.com#alice ✓"), full), "found by SSO subject")
        try check(try await store.user(ssoSubject: "https://idp.example.com#ALICE ✓") == nil, "SSO subjects are compared exactly")

        let fetchedBare = try await store.user(id: bare.id)
        try check(fetchedBare?.ssoSubject == nil && fetchedBare?.lastSignInAt == nil, "a new user has no subject and never signed in")
        try check(sameInstant(fetchedBare?.updatedAt, bare.createdAt), "updated_at starts at created_at")
        try check(sameUser(fetchedBare, bare), "the bare user round-trips")

        try check(try await store.user(id: .generate()) == nil, "a missing user is nil")
        try check(try await store.user(email: try EmailAddress("nobody@example.com")) == nil, "an unknown email is nil")
        try check(try await store.user(ssoSubject: "https://idp.example.com#nobody") == nil, "an unknown subject is nil")

        let created = try await store.listAuditEvents(organization: organization.id, filter: AuditFilter(action: .userCreate), after: nil, limit: 100)
            .items
        try check(
            Set(created.map(\.targetID)) == [full.id.description, bare.id.description] && created.count == 2,
            "one audit event per created user")
        try check(created.allSatisfy { $0.targetType == "user" }, "audit events keep their target type")
    }

    static func userDuplicate(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        let other = try await Fixtures.makeOrganization(in: store, "Other")
        let first = try await Fixtures.makeUser(in: store, organization.id, email: "alice@example.com", ssoSubject: "idp#alice")

        for scope in [organization.id, other.id] {
            try await checkThrows(StoreError.alreadyExists) {
                try await Fixtures.makeUser(in: store, scope, email: "ALICE@example.com")
            }
            try await checkThrows(StoreError.alreadyExists) {
                try await Fixtures.makeUser(in: store, scope, email: "carol@example.com", ssoSubject: "idp#alice")
            }
        }
        try await checkThrows(StoreError.alreadyExists) {
            try await Fixtures.makeUser(in: store, organization.id, id: first.id, email: "dave@example.com")
        }
        try check(try await store.user(email: try EmailAddress("carol@example.com")) == nil, "no clashing user was stored")
        try check(sameUser(try await store.user(email: try EmailAddress("alice@example.com")), first), "the first user is unchanged")
        for scope in [organization.id, other.id] {
            let created = try await store.listAuditEvents(organization: scope, filter: AuditFilter(action: .userCreate), after: nil, limit: 100)
            try check(created.items.count == (scope == organization.id ? 1 : 0), "no audit event for a failed create")
        }
        // Another user without a subject: a missing subject is no duplicate.
        try await Fixtures.makeUser(in: store, other.id, email: "erin@example.com")
        try await Fixtures.makeUser(in: store, other.id, email: "frank@example.com")
        try check(try await store.userCount(organization: other.id, role: .user) == 2, "users without subjects coexist")
    }

    static func userPagination(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        let other = try await Fixtures.makeOrganization(in: store, "Other")
        let empty = try await store.listUsers(organization: organization.id, after: nil, limit: 10)
        try check(empty.items.isEmpty && empty.next == nil, "an empty list has no next page")

        // Byte order, which a locale-aware collation would not keep: "-" < "." < digits < "_" < letters, and the
        // local part's punctuation matters before the domain.
        let emails = [
            "zed@example.com", "a.b@example.com", "ab@example.com", "a-c@example.com", "a_b@example.com", "a0@example.com",
            "B@example.com", "aa@zeta.example", "aa@alpha.example",
        ]
        var created: [User] = []
        for (index, email) in emails.enumerated() {
            // Creation order differs from list order.
            created.append(try await Fixtures.makeUser(in: store, organization.id, email: email, createdAt: Fixtures.now(offset: Double(-index))))
            if index.isMultiple(of: 3) {
                try await Fixtures.makeUser(in: store, other.id, email: "other-\(index)@example.com")
            }
        }
        let expected = created.sorted { ($0.email, $0.id) < ($1.email, $1.id) }.map(\.id)
        try check(
            Array(created.map(\.email.rawValue).sorted().prefix(3)) == ["a-c@example.com", "a.b@example.com", "a0@example.com"],
            "the fixture sorts by bytes, punctuation first")

        var seen: [UserID] = []
        var pages = 0
        var cursor: UserCursor?
        repeat {
            let page = try await store.listUsers(organization: organization.id, after: cursor, limit: 2)
            pages += 1
            try check(page.items.count == (pages < 5 ? 2 : 1), "page \(pages) holds \(page.items.count) users")
            if let next = page.next {
                try check(next.id == page.items.last?.id && next.email == page.items.last?.email, "the cursor points at the last user of the page")
            }
            seen += page.items.map(\.id)
            cursor = page.next
        } while cursor != nil && pages < 10
        try check(pages == 5, "nine users in pages of two make five pages, got \(pages)")
        try check(seen == expected, "every user exactly once, by email then ID: \(seen.count) of \(expected.count)")

        let all = try await store.listUsers(organization: organization.id, after: nil, limit: 100)
        try check(all.next == nil && all.items.map(\.id) == expected, "one page holds them all in order")
        try check(
            all.items.map(\.email.rawValue) == created.map(\.email.rawValue).sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }),
            "ordered by email byte by byte: \(all.items.map(\.email.rawValue))")
        let exact = try await store.listUsers(organization: organization.id, after: nil, limit: 9)
        try check(exact.items.count == 9 && exact.next == nil, "a full last page has no next page")

        let theirs = try await store.listUsers(organization: other.id, after: nil, limit: 100).items
        try check(theirs.count == 3 && theirs.allSatisfy { $0.organizationID == other.id }, "organizations are isolated")

        // A user inserted before the cursor does not shift the next page; one after it appears on it.
        let first = try await store.listUsers(organization: organization.id, after: nil, limit: 2)
        let early = try await Fixtures.makeUser(in: store, organization.id, email: "a+@example.com")
        let late = try await Fixtures.makeUser(in: store, organization.id, email: "zz@example.com")
        let rest = try await store.listUsers(organization: organization.id, after: first.next, limit: 100)
        try check(rest.items.map(\.id) == Array(expected.dropFirst(2)) + [late.id], "the next page is unchanged by an earlier insert")
        try check(!rest.items.contains { $0.id == early.id }, "the earlier user is not on a later page")
    }

    static func userCountByRole(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        let other = try await Fixtures.makeOrganization(in: store, "Other")
        try check(try await store.userCount(organization: organization.id, role: .administrator) == 0, "no users at first")
        for index in 0..<2 { try await Fixtures.makeUser(in: store, organization.id, email: "admin\(index)@example.com", role: .administrator) }
        for index in 0..<3 { try await Fixtures.makeUser(in: store, organization.id, email: "user\(index)@example.com") }
        try await Fixtures.makeUser(in: store, other.id, email: "theirs@example.com", role: .administrator)
        try check(try await store.userCount(organization: organization.id, role: .administrator) == 2, "administrators counted")
        try check(try await store.userCount(organization: organization.id, role: .user) == 3, "users counted")
        try check(try await store.userCount(organization: other.id, role: .administrator) == 1, "counts are per organization")
        try check(try await store.userCount(organization: other.id, role: .user) == 0, "and per role")
    }

    static func userRoleUpdate(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        let other = try await Fixtures.makeOrganization(in: store, "Other")
        let user = try await Fixtures.makeUser(in: store, organization.id, email: "alice@example.com", ssoSubject: "idp#alice")
        let later = Fixtures.now(offset: 30)
        let promoted = try await store.updateUserRole(
            id: user.id, organization: organization.id, role: .administrator, at: later,
            audit: Fixtures.userAudit(organization.id, .userUpdate, user.id))
        try check(promoted.role == .administrator, "the role changed")
        try check(sameInstant(promoted.updatedAt, later), "updated_at moved")
        try check(
            promoted.email == user.email && promoted.ssoSubject == user.ssoSubject && sameInstant(promoted.createdAt, user.createdAt),
            "nothing else changed")
        try check(sameUser(try await store.user(id: user.id), promoted), "the returned user is the stored one")
        try check(try await store.userCount(organization: organization.id, role: .administrator) == 1, "counts follow the role")

        for (id, scope) in [(user.id, other.id), (UserID.generate(), organization.id)] {
            try await checkThrows(StoreError.notFound) {
                _ = try await store.updateUserRole(
                    id: id, organization: scope, role: .user, at: Fixtures.now(offset: 60), audit: Fixtures.userAudit(scope, .userUpdate, id))
            }
        }
        try check(sameUser(try await store.user(id: user.id), promoted), "failed updates change nothing")

        let updates = try await store.listAuditEvents(organization: organization.id, filter: AuditFilter(action: .userUpdate), after: nil, limit: 100)
        try check(updates.items.map(\.targetID) == [user.id.description], "one audit event for the update")
        let otherEvents = try await store.listAuditEvents(organization: other.id, after: nil, limit: 100).items
        try check(otherEvents.map(\.action) == [.organizationCreate], "a failed update writes no audit event")
    }

    static func ssoSubjectBinding(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        let other = try await Fixtures.makeOrganization(in: store, "Other")
        let alice = try await Fixtures.makeUser(in: store, organization.id, email: "alice@example.com")
        let bob = try await Fixtures.makeUser(in: store, other.id, email: "bob@example.com")

        let boundAt = Fixtures.now(offset: 10)
        let bound = try await store.bindSSOSubject(id: alice.id, subject: "https://idp.example.com#alice", at: boundAt)
        try check(bound.ssoSubject == "https://idp.example.com#alice", "the subject is bound")
        try check(sameInstant(bound.updatedAt, boundAt), "binding is a change: updated_at moved")
        try check(sameUser(try await store.user(id: alice.id), bound), "the returned user is the stored one")
        try check(sameUser(try await store.user(ssoSubject: "https://idp.example.com#alice"), bound), "found by the bound subject")

        let again = try await store.bindSSOSubject(id: alice.id, subject: "https://idp.example.com#alice", at: Fixtures.now(offset: 20))
        try check(sameUser(again, bound), "binding the same subject again changes nothing")

        try await checkThrows(StoreError.alreadyExists) {
            _ = try await store.bindSSOSubject(id: alice.id, subject: "https://idp.example.com#mallory", at: Fixtures.now(offset: 30))
        }
        try await checkThrows(StoreError.alreadyExists) {
            _ = try await store.bindSSOSubject(id: bob.id, subject: "https://idp.example.com#alice", at: Fixtures.now(offset: 40))
        }
        try await checkThrows(StoreError.notFound) {
            _ = try await store.bindSSOSubject(id: .generate(), subject: "https://idp.example.com#ghost", at: Fixtures.now(offset: 50))
        }
        try check(sameUser(try await store.user(id: alice.id), bound), "a refused bind leaves the user alone")
        try check(sameUser(try await store.user(id: bob.id), bob), "a refused bind leaves the other user alone")
        try check(try await store.user(ssoSubject: "https://idp.example.com#mallory") == nil, "the refused subject is bound to nobody")

        let bobBound = try await store.bindSSOSubject(id: bob.id, subject: "https://idp.example.com#bob", at: Fixtures.now(offset: 60))
        try check(bobBound.ssoSubject == "https://idp.example.com#bob", "users of any organization bind their own subject")
    }

    static func userDelete(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        let other = try await Fixtures.makeOrganization(in: store, "Other")
        let alice = try await Fixtures.makeUser(in: store, organization.id, email: "alice@example.com")
        let bob = try await Fixtures.makeUser(in: store, organization.id, email: "bob@example.com")
        let aliceSession = try await Fixtures.makeSession(in: store, alice)
        let aliceLink = try await Fixtures.makeSignInLink(in: store, alice)
        let bobSession = try await Fixtures.makeSession(in: store, bob)
        let bobLink = try await Fixtures.makeSignInLink(in: store, bob)
        let bobSignedIn = try await store.user(id: bob.id)

        for (id, scope) in [(alice.id, other.id), (UserID.generate(), organization.id)] {
            try await checkThrows(StoreError.notFound) {
                try await store.deleteUser(id: id, organization: scope, audit: Fixtures.userAudit(scope, .userDelete, id))
            }
        }
        try check(try await store.user(id: alice.id) != nil, "a user of another organization is not deleted")
        try check(try await store.session(digest: aliceSession.digest) != nil, "nor are its sessions")
        try check(try await store.signInLink(digest: aliceLink.digest) != nil, "nor its sign-in links")

        try await store.deleteUser(id: alice.id, organization: organization.id, audit: Fixtures.userAudit(organization.id, .userDelete, alice.id))
        try check(try await store.user(id: alice.id) == nil, "the deleted user is gone")
        try check(try await store.user(email: alice.email) == nil, "also by email")
        try check(try await store.session(digest: aliceSession.digest) == nil, "its sessions went with it")
        try check(try await store.signInLink(digest: aliceLink.digest) == nil, "its sign-in links went with it")
        try check(try await store.consumeSignInLink(digest: aliceLink.digest, at: Fixtures.now()) == nil, "its links sign nobody in")
        let bobAfter = try await store.user(id: bob.id)
        try check(bobSignedIn != nil && sameUser(bobAfter, bobSignedIn), "other users stay")
        try check(try await store.session(digest: bobSession.digest) != nil, "with their sessions")
        try check(try await store.signInLink(digest: bobLink.digest) != nil, "and their links")
        try await checkThrows(StoreError.notFound) {
            try await store.deleteUser(id: alice.id, organization: organization.id, audit: Fixtures.userAudit(organization.id, .userDelete, alice.id))
        }

        // The address is free again.
        try await Fixtures.makeUser(in: store, other.id, email: "alice@example.com")

        let deletes = try await store.listAuditEvents(organization: organization.id, filter: AuditFilter(action: .userDelete), after: nil, limit: 100)
        try check(deletes.items.map(\.targetID) == [alice.id.description], "one audit event for the deletion")
        let otherDeletes = try await store.listAuditEvents(organization: other.id, filter: AuditFilter(action: .userDelete), after: nil, limit: 100)
        try check(otherDeletes.items.isEmpty, "a failed deletion writes no audit event")
    }
}

// MARK: Console sessions and sign-in links

extension StoreConformance {
    static func consoleSessions(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        let other = try await Fixtures.makeOrganization(in: store, "Other")
        let alice = try await Fixtures.makeUser(in: store, organization.id, email: "alice@example.com")
        let createdAt = Date(timeIntervalSince1970: 1_700_000_000.123_457)
        let session = ConsoleSession(
            digest: Fixtures.consoleDigest(.session), userID: alice.id, organizationID: organization.id, createdAt: createdAt,
            expiresAt: Date(timeIntervalSince1970: 1_700_028_800.654_321), sourceIP: "2001:db8::7", method: .sso)
        try await store.createSession(session, audit: Fixtures.userAudit(organization.id, .consoleSignIn, alice.id))

        guard let fetched = try await store.session(digest: session.digest) else { throw ConformanceFailure("session not found") }
        try check(fetched.digest == session.digest && fetched.userID == alice.id, "identity round-trips")
        try check(fetched.organizationID == organization.id, "the organization round-trips")
        try check(fetched.sourceIP == "2001:db8::7" && fetched.method == .sso, "source and method round-trip")
        try check(sameInstant(fetched.createdAt, session.createdAt), "created_at round-trips to the microsecond: \(fetched.createdAt)")
        try check(sameInstant(fetched.expiresAt, session.expiresAt), "expires_at round-trips to the microsecond: \(fetched.expiresAt)")
        try check(sameSession(fetched, session), "the whole session round-trips")
        try check(sameInstant(try await store.user(id: alice.id)?.lastSignInAt, createdAt), "signing in sets last_sign_in_at")
        try check(sameInstant(try await store.user(id: alice.id)?.updatedAt, alice.updatedAt), "signing in is not an update of the user")

        // An expired session is still returned; a later sign-in moves last_sign_in_at.
        let expired = try await Fixtures.makeSession(
            in: store, alice, createdAt: Fixtures.now(offset: -7200), expiresAt: Fixtures.now(offset: -3600), method: .link, sourceIP: nil)
        let fetchedExpired = try await store.session(digest: expired.digest)
        try check(sameSession(fetchedExpired, expired) && fetchedExpired?.sourceIP == nil, "an expired session is returned, without a source")
        try check(sameInstant(try await store.user(id: alice.id)?.lastSignInAt, expired.createdAt), "the last sign-in wins")

        try check(try await store.session(digest: Fixtures.consoleDigest(.session)) == nil, "an unknown session is nil")

        // A session for a user that is gone, or named with another organization, is refused.
        for (userID, scope) in [(UserID.generate(), organization.id), (alice.id, other.id)] {
            let orphan = ConsoleSession(
                digest: Fixtures.consoleDigest(.session), userID: userID, organizationID: scope, createdAt: Fixtures.now(),
                expiresAt: Fixtures.now(offset: 3600), method: .sso)
            try await checkThrows(StoreError.notFound) {
                try await store.createSession(orphan, audit: Fixtures.userAudit(scope, .consoleSignIn, userID))
            }
            try check(try await store.session(digest: orphan.digest) == nil, "the refused session was not stored")
        }
        try await checkThrows(StoreError.alreadyExists) {
            try await store.createSession(session, audit: Fixtures.userAudit(organization.id, .consoleSignIn, alice.id))
        }

        try await store.deleteSession(digest: session.digest, audit: Fixtures.userAudit(organization.id, .consoleSignOut, alice.id))
        try check(try await store.session(digest: session.digest) == nil, "a signed-out session is gone")
        try check(try await store.session(digest: expired.digest) != nil, "other sessions stay")
        try await checkThrows(StoreError.notFound) {
            try await store.deleteSession(digest: session.digest, audit: Fixtures.userAudit(organization.id, .consoleSignOut, alice.id))
        }
        try await checkThrows(StoreError.notFound) {
            try await store.deleteSession(
                digest: Fixtures.consoleDigest(.session), audit: Fixtures.userAudit(organization.id, .consoleSignOut, alice.id))
        }

        let events = try await store.listAuditEvents(organization: organization.id, after: nil, limit: 100).items
        try check(events.filter { $0.action == .consoleSignIn }.count == 2, "one audit event per sign-in")
        try check(events.filter { $0.action == .consoleSignOut }.count == 1, "one audit event per sign-out, none for failures")
        let otherEvents = try await store.listAuditEvents(organization: other.id, after: nil, limit: 100).items
        try check(otherEvents.map(\.action) == [.organizationCreate], "a refused session writes no audit event")
    }

    static func expiredConsoleRecords(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        let alice = try await Fixtures.makeUser(in: store, organization.id, email: "alice@example.com")
        let cutoff = Fixtures.now()
        let oldSessions = [
            try await Fixtures.makeSession(in: store, alice, createdAt: cutoff.addingTimeInterval(-7200), expiresAt: cutoff.addingTimeInterval(-60)),
            try await Fixtures.makeSession(
                in: store, alice, createdAt: cutoff.addingTimeInterval(-7200), expiresAt: cutoff.addingTimeInterval(-0.000_001)),
        ]
        let liveSessions = [
            try await Fixtures.makeSession(in: store, alice, createdAt: cutoff.addingTimeInterval(-60), expiresAt: cutoff),
            try await Fixtures.makeSession(in: store, alice, createdAt: cutoff.addingTimeInterval(-60), expiresAt: cutoff.addingTimeInterval(3600)),
        ]
        let oldLink = try await Fixtures.makeSignInLink(
            in: store, alice, createdAt: cutoff.addingTimeInterval(-900), expiresAt: cutoff.addingTimeInterval(-300))
        let usedLink = try await Fixtures.makeSignInLink(
            in: store, alice, createdAt: cutoff.addingTimeInterval(-900), expiresAt: cutoff.addingTimeInterval(-1))
        try check(
            try await store.consumeSignInLink(digest: usedLink.digest, at: cutoff.addingTimeInterval(-2)) != nil, "the link could be used in time")
        let liveLink = try await Fixtures.makeSignInLink(in: store, alice, createdAt: cutoff, expiresAt: cutoff.addingTimeInterval(900))

        let removed = try await store.deleteExpiredConsoleRecords(before: cutoff)
        try check(removed == 4, "two sessions and two links expired before the instant: \(removed)")
        for session in oldSessions { try check(try await store.session(digest: session.digest) == nil, "an expired session went") }
        for session in liveSessions {
            try check(try await store.session(digest: session.digest) != nil, "a session expiring at or after the instant stays")
        }
        try check(try await store.signInLink(digest: oldLink.digest) == nil, "an expired link went")
        try check(try await store.signInLink(digest: usedLink.digest) == nil, "an expired used link went")
        try check(try await store.signInLink(digest: liveLink.digest) != nil, "a live link stays")
        try check(try await store.user(id: alice.id) != nil, "the user stays")
        try check(try await store.deleteExpiredConsoleRecords(before: cutoff) == 0, "nothing left to remove")
    }

    static func signInLinks(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        let alice = try await Fixtures.makeUser(in: store, organization.id, email: "alice@example.com")
        let createdAt = Date(timeIntervalSince1970: 1_700_000_000.123_457)
        let link = SignInLink(
            digest: Fixtures.consoleDigest(.signInLink), userID: alice.id, organizationID: organization.id, createdAt: createdAt,
            expiresAt: Date(timeIntervalSince1970: 1_700_000_900.654_321))
        try await store.createSignInLink(link, audit: Fixtures.userAudit(organization.id, .consoleSignInLinkIssue, alice.id))
        guard let fetched = try await store.signInLink(digest: link.digest) else { throw ConformanceFailure("link not found") }
        try check(sameInstant(fetched.createdAt, createdAt) && sameInstant(fetched.expiresAt, link.expiresAt), "dates round-trip to the microsecond")
        try check(fetched.usedAt == nil && sameLink(fetched, link), "the whole link round-trips, unused")

        let usedAt = Date(timeIntervalSince1970: 1_700_000_500.000_001)
        guard let consumed = try await store.consumeSignInLink(digest: link.digest, at: usedAt) else {
            throw ConformanceFailure("an unused link in time is consumed")
        }
        try check(sameInstant(consumed.usedAt, usedAt), "the consumed link carries its use: \(String(describing: consumed.usedAt))")
        try check(consumed.userID == alice.id && consumed.organizationID == organization.id, "the consumed link names its user")
        try check(sameLink(try await store.signInLink(digest: link.digest), consumed), "a used link is still returned, used")
        try check(try await store.consumeSignInLink(digest: link.digest, at: usedAt.addingTimeInterval(1)) == nil, "a link works once")
        try check(sameInstant(try await store.signInLink(digest: link.digest)?.usedAt, usedAt), "a second try does not move used_at")

        let late = try await Fixtures.makeSignInLink(in: store, alice, createdAt: Fixtures.now(offset: -900), expiresAt: Fixtures.now(offset: -1))
        try check(try await store.consumeSignInLink(digest: late.digest, at: Fixtures.now()) == nil, "an expired link is refused")
        try check(try await store.consumeSignInLink(digest: late.digest, at: late.expiresAt) == nil, "a link is refused at its expiry")
        try check(try await store.signInLink(digest: late.digest)?.usedAt == nil, "a refused link stays unused")
        let justInTime = late.expiresAt.addingTimeInterval(-0.000_001)
        try check(
            sameInstant(try await store.consumeSignInLink(digest: late.digest, at: justInTime)?.usedAt, justInTime),
            "a link is accepted a microsecond before its expiry")

        try check(
            try await store.consumeSignInLink(digest: Fixtures.consoleDigest(.signInLink), at: Fixtures.now()) == nil, "an unknown link is nil")
        try check(try await store.signInLink(digest: Fixtures.consoleDigest(.signInLink)) == nil, "an unknown link is not found")
        try await checkThrows(StoreError.alreadyExists) {
            try await store.createSignInLink(link, audit: Fixtures.userAudit(organization.id, .consoleSignInLinkIssue, alice.id))
        }

        let issued = try await store.listAuditEvents(
            organization: organization.id, filter: AuditFilter(action: .consoleSignInLinkIssue), after: nil, limit: 100)
        try check(issued.items.count == 2, "one audit event per issued link: \(issued.items.count)")
    }

    static func concurrentSignInLinkConsumption(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        let alice = try await Fixtures.makeUser(in: store, organization.id, email: "alice@example.com")
        for round in 0..<3 {
            let link = try await Fixtures.makeSignInLink(in: store, alice)
            let winners = try await withThrowingTaskGroup(of: SignInLink?.self) { group in
                for attempt in 0..<10 {
                    group.addTask { try await store.consumeSignInLink(digest: link.digest, at: Fixtures.now(offset: Double(attempt) / 1000)) }
                }
                return try await group.reduce(into: [SignInLink]()) { winners, result in
                    if let result { winners.append(result) }
                }
            }
            try check(winners.count == 1, "round \(round): exactly one of ten concurrent uses gets the link, got \(winners.count)")
            let stored = try await store.signInLink(digest: link.digest)
            try check(sameInstant(stored?.usedAt, winners.first?.usedAt), "round \(round): the stored use is the winner's")
        }
    }
}

extension Fixtures {
    /// An audit event about a user (sign-ins and sign-outs name the user too).
    static func userAudit(_ organization: OrganizationID, _ action: AuditAction, _ user: UserID) -> AuditEvent {
        audit(organization, action, target: user.description, targetType: "user")
    }

    static func user(
        _ organization: OrganizationID, id: UserID = .generate(), email: String, role: Role = .user, ssoSubject: String? = nil,
        createdAt: Date = now(), updatedAt: Date? = nil, lastSignInAt: Date? = nil
    ) throws -> User {
        User(
            id: id, organizationID: organization, email: try EmailAddress(email), role: role, ssoSubject: ssoSubject, createdAt: createdAt,
            updatedAt: updatedAt, createdBy: "conformance", lastSignInAt: lastSignInAt)
    }

    /// Creates a user with its audit event, returning it.
    @discardableResult
    static func makeUser(
        in store: some Store, _ organization: OrganizationID, id: UserID = .generate(), email: String, role: Role = .user,
        ssoSubject: String? = nil, createdAt: Date = now()
    ) async throws -> User {
        let user = try user(organization, id: id, email: email, role: role, ssoSubject: ssoSubject, createdAt: createdAt)
        try await store.createUser(user, audit: userAudit(organization, .userCreate, user.id))
        return user
    }

    /// The digest of a new console secret of `kind`.
    static func consoleDigest(_ kind: ConsoleSecret.Kind) -> SecretDigest {
        hasher.digest(ConsoleSecret.generate(kind))
    }

    /// Creates a session of `user` with its audit event, returning it.
    @discardableResult
    static func makeSession(
        in store: some Store, _ user: User, createdAt: Date = now(), expiresAt: Date = now(offset: 3600), method: SignInMethod = .sso,
        sourceIP: String? = "192.0.2.1"
    ) async throws -> ConsoleSession {
        let session = ConsoleSession(
            digest: consoleDigest(.session), userID: user.id, organizationID: user.organizationID, createdAt: createdAt, expiresAt: expiresAt,
            sourceIP: sourceIP, method: method)
        try await store.createSession(session, audit: userAudit(user.organizationID, .consoleSignIn, user.id))
        return session
    }

    /// Creates an unused sign-in link of `user` with its audit event, returning it.
    @discardableResult
    static func makeSignInLink(in store: some Store, _ user: User, createdAt: Date = now(), expiresAt: Date = now(offset: 900)) async throws
        -> SignInLink
    {
        let link = SignInLink(
            digest: consoleDigest(.signInLink), userID: user.id, organizationID: user.organizationID, createdAt: createdAt, expiresAt: expiresAt)
        try await store.createSignInLink(link, audit: userAudit(user.organizationID, .consoleSignInLinkIssue, user.id))
        return link
    }
}

/// Equal users, comparing times to the microsecond.
func sameUser(_ lhs: User?, _ rhs: User?) -> Bool {
    guard let lhs, let rhs else { return lhs == nil && rhs == nil }
    guard sameInstant(lhs.createdAt, rhs.createdAt), sameInstant(lhs.updatedAt, rhs.updatedAt), sameInstant(lhs.lastSignInAt, rhs.lastSignInAt)
    else { return false }
    var left = lhs
    left.createdAt = rhs.createdAt
    left.updatedAt = rhs.updatedAt
    left.lastSignInAt = rhs.lastSignInAt
    return left == rhs
}

/// Equal sessions, comparing times to the microsecond.
func sameSession(_ lhs: ConsoleSession?, _ rhs: ConsoleSession?) -> Bool {
    guard let lhs, let rhs else { return lhs == nil && rhs == nil }
    guard sameInstant(lhs.createdAt, rhs.createdAt), sameInstant(lhs.expiresAt, rhs.expiresAt) else { return false }
    var left = lhs
    left.createdAt = rhs.createdAt
    left.expiresAt = rhs.expiresAt
    return left == rhs
}

/// Equal sign-in links, comparing times to the microsecond.
func sameLink(_ lhs: SignInLink?, _ rhs: SignInLink?) -> Bool {
    guard let lhs, let rhs else { return lhs == nil && rhs == nil }
    guard sameInstant(lhs.createdAt, rhs.createdAt), sameInstant(lhs.expiresAt, rhs.expiresAt), sameInstant(lhs.usedAt, rhs.usedAt)
    else { return false }
    var left = lhs
    left.createdAt = rhs.createdAt
    left.expiresAt = rhs.expiresAt
    left.usedAt = rhs.usedAt
    return left == rhs
}
