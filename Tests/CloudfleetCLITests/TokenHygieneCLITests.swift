import ArgumentParser
import CloudfleetAPI
import CloudfleetCore
import CloudfleetTestSupport
import Foundation
import Testing

@testable import CloudfleetCLI
@testable import CloudfleetClient

/// Expiry, IP fences, grace periods, list filters, `tokens check`, the expiry warning, audit and the token policy.
@Suite struct TokenHygieneCLITests {
    static let tokenID = "nFYyVdtg8K1aDujwk3YFh1"
    static let now = Date(timeIntervalSince1970: 1_800_000_000)  // 2027-01-15T08:00:00Z

    static func parse<Command>(_ arguments: [String], as type: Command.Type) throws -> Command {
        try #require(try CloudfleetCommand.parseAsRoot(arguments) as? Command)
    }

    static func json(_ body: some Encodable) throws -> String {
        String(decoding: try CloudfleetClient.encodeBody(body), as: UTF8.self)
    }

    /// A command line ArgumentParser refuses as a usage error (exit 64), before anything runs.
    static func expectUsageError(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try CloudfleetCommand.parseAsRoot(arguments)
            Issue.record("\(arguments) parsed", sourceLocation: sourceLocation)
        } catch {
            #expect(CloudfleetCommand.exitCode(for: error) == .validationFailure, "\(arguments)", sourceLocation: sourceLocation)
        }
    }

    // MARK: tokens create / update flags

    @Test func createTakesExpiryAndNetworks() throws {
        let create = try Self.parse(
            [
                "tokens", "create", ".name:", "ci,", ".role:", "User", "--expires-in", "90d", "--allowed-cidr", "203.0.113.7/24",
                "--allowed-cidr", "2001:db8::/32",
            ], as: Tokens.Create.self)
        let input = try create.fields.input()
        #expect(input.expiry == .after(DurationText(seconds: 90 * 86_400)))
        #expect(input.allowedCIDRs == ["203.0.113.0/24", "2001:db8::/32"])
        let creation = try #require(input.creation(now: Self.now))
        #expect(creation.expiresAt == Self.now.addingTimeInterval(90 * 86_400))
        #expect(
            try Self.json(creation)
                == #"{"allowed_cidrs":["203.0.113.0/24","2001:db8::/32"],"expires_at":"2027-04-15T08:00:00Z","name":"ci","role":"User"}"#)
    }

    @Test func createWithoutTheNewFlagsSendsWhatItSentBefore() throws {
        let create = try Self.parse(["tokens", "create", "--name", "bot", "--role", "user"], as: Tokens.Create.self)
        let creation = try #require(try create.fields.input().creation(now: Self.now))
        #expect(try Self.json(creation) == #"{"name":"bot","role":"User"}"#)
    }

    @Test func createTakesAnAbsoluteExpiry() throws {
        let create = try Self.parse(
            ["tokens", "create", "--name", "bot", "--role", "User", "--expires-at", "2099-01-31T00:00:00+01:00"], as: Tokens.Create.self)
        let input = try create.fields.input()
        #expect(input.expiry == .at(Date(timeIntervalSince1970: 4_073_497_200)))
        #expect(try Self.json(try #require(input.creation(now: Self.now))).contains(#""expires_at":"2099-01-30T23:00:00Z""#))
    }

    @Test func durationBecomesExpiresAtCountedFromNow() throws {
        for (text, seconds) in [("90d", 7_776_000), ("12h", 43_200), ("2w", 1_209_600), ("45m", 2_700), ("3600", 3_600)] {
            let duration = try TokenInput.duration(text, field: "--expires-in")
            #expect(TokenInput.Expiry.after(duration).date(now: Self.now) == Self.now.addingTimeInterval(TimeInterval(seconds)))
            #expect(TokenInput.Expiry.after(duration).change(now: Self.now) == .at(Self.now.addingTimeInterval(TimeInterval(seconds))))
        }
        #expect(TokenInput.Expiry.never.date(now: Self.now) == nil)
        for bad in ["", "0d", "-1d", "1y", "1.5d", "d", "90 days", "99999999999999d", "١٢d"] {
            #expect(throws: TokenInput.Failure.self, "\(bad)") { try TokenInput.duration(bad, field: "--expires-in") }
        }
    }

    @Test func updateSendsNullToRemoveTheExpiryAndAnEmptyListForAnywhere() throws {
        let noExpiry = try Self.parse(["tokens", "update", Self.tokenID, "--no-expiry"], as: Tokens.Update.self)
        let changes = try noExpiry.fields.input(update: noExpiry.update).changes(now: Self.now)
        #expect(changes == TokenChanges(expiry: .never))
        #expect(try Self.json(changes) == #"{"expires_at":null}"#)

        let anywhere = try Self.parse(["tokens", "update", Self.tokenID, "--any-address"], as: Tokens.Update.self)
        #expect(try Self.json(try anywhere.fields.input(update: anywhere.update).changes(now: Self.now)) == #"{"allowed_cidrs":[]}"#)

        let both = try Self.parse(
            ["tokens", "update", Self.tokenID, "--no-expiry", "--any-address", "--role", "Administrator"], as: Tokens.Update.self)
        #expect(
            try Self.json(try both.fields.input(update: both.update).changes(now: Self.now))
                == #"{"allowed_cidrs":[],"expires_at":null,"role":"Administrator"}"#)
    }

    @Test func updateSendsOnlyWhatChanges() throws {
        let update = try Self.parse(
            ["tokens", "update", Self.tokenID, "--expires-in", "30d", "--allowed-cidr", "10.1.2.3/8"], as: Tokens.Update.self)
        let changes = try update.fields.input(update: update.update).changes(now: Self.now)
        #expect(try Self.json(changes) == #"{"allowed_cidrs":["10.0.0.0/8"],"expires_at":"2027-02-14T08:00:00Z"}"#)
        #expect(try Self.json(TokenChanges(name: "x")) == #"{"name":"x"}"#)
        #expect(TokenChanges().isEmpty && !TokenChanges(allowedCIDRs: []).isEmpty)
    }

    @Test func shorthandAndDocumentsTakeTheExpiry() throws {
        let update = try Self.parse(["tokens", "update", Self.tokenID, ".expires_in:", "7d"], as: Tokens.Update.self)
        #expect(try update.fields.input(update: update.update).expiry == .after(DurationText(seconds: 604_800)))
        let at = try TokenInput.read(shorthand: [".expires_at: 2099-01-31T00:00:00Z"], file: nil, name: nil, role: nil) { Data() }
        #expect(at.expiry == .at(Date(timeIntervalSince1970: 4_073_500_800)))
        // YAML reads an unquoted timestamp as a date and a bare number as seconds.
        for document in ["expires_at: 2099-01-31T00:00:00Z", #"{"expires_at": "2099-01-31T00:00:00Z"}"#] {
            let input = try TokenInput.read(shorthand: [], file: "-", name: nil, role: nil) { Data(document.utf8) }
            #expect(input.expiry == .at(Date(timeIntervalSince1970: 4_073_500_800)), "\(document)")
        }
        let seconds = try TokenInput.read(shorthand: [], file: "-", name: nil, role: nil) { Data("expires_in: 3600".utf8) }
        #expect(seconds.expiry == .after(DurationText(seconds: 3_600)))
        // Flags override the shorthand, which overrides the document; the expiry is one field however given.
        let layered = try TokenInput.read(
            shorthand: [".expires_at: 2099-01-31T00:00:00Z"], file: "-", name: nil, role: nil, expiresIn: "1d"
        ) { Data("expires_in: 30d".utf8) }
        #expect(layered.expiry == .after(DurationText(seconds: 86_400)))
        let removed = try TokenInput.read(shorthand: [".expires_in: 30d"], file: nil, name: nil, role: nil, noExpiry: true) { Data() }
        #expect(removed.expiry == .never)
    }

    @Test(arguments: [
        ["tokens", "create", "--name", "a", "--role", "User", "--expires-in", "1d", "--expires-at", "2099-01-01T00:00:00Z"],
        ["tokens", "update", tokenID, "--expires-in", "1d", "--expires-at", "2099-01-01T00:00:00Z"],
        ["tokens", "update", tokenID, "--no-expiry", "--expires-in", "1d"],
        ["tokens", "update", tokenID, "--no-expiry", "--expires-at", "2099-01-01T00:00:00Z"],
        ["tokens", "update", tokenID, "--any-address", "--allowed-cidr", "10.0.0.0/8"],
        ["tokens", "create", "--name", "a", "--role", "User", "--no-expiry"],
        ["tokens", "create", "--name", "a", "--role", "User", "--any-address"],
        ["tokens", "create", ".name: a, .role: User, .expires_in: 1d, .expires_at: 2099-01-01T00:00:00Z"],
        ["tokens", "create", "--name", "a", "--role", "User", "--expires-in", "soon"],
        ["tokens", "create", "--name", "a", "--role", "User", "--expires-in", "11000d"],
        ["tokens", "create", "--name", "a", "--role", "User", "--expires-at", "tomorrow"],
        ["tokens", "create", "--name", "a", "--role", "User", "--expires-at", "2099-01-31"],
        ["tokens", "create", "--name", "a", "--role", "User", "--allowed-cidr", "10.0.0.0/33"],
        ["tokens", "create", "--name", "a", "--role", "User", "--allowed-cidr", "300.1.1.1"],
        ["tokens", "create", "--name", "a", "--role", "User", "--allowed-cidr", "example.com"],
        ["tokens", "create", "--name", "a", "--role", "User", "--allowed-cidr", ""],
        ["tokens", "update", tokenID],
        ["tokens", "create"],
        ["tokens", "regenerate", tokenID, "--grace-period", "8d"],
        ["tokens", "regenerate", tokenID, "--grace-period", "1x"],
        ["tokens", "regenerate", tokenID, "--grace-period", "0s"],
        ["tokens", "list", "--expiring-within", "week"],
        ["tokens", "list", "--unused-for", "-90d"],
        ["tokens", "check"],
        ["audit", "list", "--since", "last week"],
        ["audit", "list", "--until", "7d"],
        ["audit", "list", "--action", "token.explode"],
        ["audit", "list", "--token", "cfs_notatokenid"],
        ["audit", "list", "--limit", "0"],
        ["organization", "set-policy"],
        ["organization", "set-policy", "--max-token-lifetime", "30m"],
        ["organization", "set-policy", "--max-token-lifetime", "forever"],
        ["organization", "set-policy", "--require-expiry", "yes"],
    ])
    func conflictsAndBadValuesAreUsageErrors(_ arguments: [String]) {
        Self.expectUsageError(arguments)
    }

    @Test func aConflictInTheReadInputIsAUsageError() {
        #expect(throws: TokenInput.Failure.self) {
            try TokenInput.read(shorthand: [], file: nil, name: nil, role: nil, allowedCIDRs: ["10.0.0.0/8"], anyAddress: true) { Data() }
        }
        #expect(throws: TokenInput.Failure.self) {
            try TokenInput.read(shorthand: [], file: nil, name: nil, role: nil, expiresIn: "1d", noExpiry: true) { Data() }
        }
        #expect(throws: TokenInput.Failure.self) {
            try TokenInput.read(shorthand: [], file: "-", name: nil, role: nil) { Data("expires_in: 1d\nexpires_at: 2099-01-01T00:00:00Z".utf8) }
        }
        // An expiry in the past is refused before anything is sent.
        #expect(throws: TokenInput.Failure.self) {
            try TokenInput.read(shorthand: [], file: nil, name: nil, role: nil, expiresAt: "2020-01-01T00:00:00Z", now: Self.now) { Data() }
        }
    }

    // MARK: IP fences

    @Test func networksAreValidatedAndCanonical() throws {
        #expect(try TokenInput.networks(["203.0.113.0/24"]) == ["203.0.113.0/24"])
        #expect(try TokenInput.networks(["198.51.100.7"]) == ["198.51.100.7/32"])
        #expect(try TokenInput.networks(["2001:DB8::1/32", "2001:db8::/32"]) == ["2001:db8::/32"])
        #expect(try TokenInput.networks(["::1"]) == ["::1/128"])
        #expect(try TokenInput.networks([" 10.0.0.0/8 "]) == ["10.0.0.0/8"])
        for bad in ["10.0.0.0/33", "10.0.0.0/", "10.0.0/8", "2001:db8::/129", "1.2.3.4/a", "localhost", "10.0.0.0/8/8", "fe80::1%eth0"] {
            #expect(throws: TokenInput.Failure.self, "\(bad)") { try TokenInput.networks([bad]) }
        }
        let tooMany = (0...IPFence.maximumCount).map { "10.0.\($0).0/24" }
        #expect(throws: TokenInput.Failure.self) { try TokenInput.networks(tooMany) }
        #expect(try TokenInput.networks(Array(tooMany.prefix(IPFence.maximumCount))).count == IPFence.maximumCount)
    }

    // MARK: regenerate, list

    @Test func regenerateSendsTheGracePeriodOnlyWhenGiven() throws {
        let plain = try Self.parse(["tokens", "regenerate", Self.tokenID], as: Tokens.Regenerate.self)
        #expect(plain.grace == nil)
        let grace = try Self.parse(["tokens", "regenerate", Self.tokenID, "--grace-period", "60m"], as: Tokens.Regenerate.self)
        #expect(grace.grace?.description == "1h")
        #expect(try Self.parse(["tokens", "regenerate", Self.tokenID, "--grace-period", "7d"], as: Tokens.Regenerate.self).grace?.seconds == 604_800)
    }

    @Test func regenerateSaysUntilWhenThePreviousSecretWorks() {
        let token = Self.token(previousSecretValidUntil: Self.now.addingTimeInterval(3_600))
        let note = Tokens.Regenerate.previousSecretNote(token, grace: DurationText("1h"), now: Self.now)
        #expect(note.contains("until 2027-01-15 09:00:00 UTC"))
        #expect(note.contains("retired earlier once the new secret has been used and the previous one has gone idle"))
        #expect(Tokens.Regenerate.previousSecretNote(Self.token(), grace: nil, now: Self.now) == "The previous secret no longer works.")
    }

    @Test func listFiltersAreSentAsDurations() throws {
        let list = try Self.parse(["tokens", "list", "--expiring-within", "7d", "--unused-for", "2160h"], as: Tokens.List.self)
        #expect(list.filter == TokenListFilter(expiringWithin: "1w", unusedFor: "90d"))
        #expect(CloudfleetClient.query(list.filter.query) == "?expiring_within=1w&unused_for=90d")
        #expect(try Self.parse(["tokens", "list"], as: Tokens.List.self).filter.query.isEmpty)
    }

    @Test func theTableShowsLastIPAndExpiry() {
        let rows = [
            Self.token(expiresAt: nil), Self.token(expiresAt: Self.now.addingTimeInterval(-1)),
            Self.token(expiresAt: Self.now.addingTimeInterval(86_400)),
        ]
        let details = Renderer.details(of: rows[1], now: Self.now)
        #expect(details.first { $0.0 == "Expires" }?.1.hasSuffix("(expired)") == true)
        #expect(details.first { $0.0 == "Allowed networks" }?.1 == "anywhere")
        #expect(details.first { $0.0 == "Previous secret" }?.1 == "not accepted")
        let fenced = Renderer.details(
            of: Self.token(allowedCIDRs: ["10.0.0.0/8", "2001:db8::/32"], previousSecretValidUntil: Self.now.addingTimeInterval(7_200)), now: Self.now
        )
        #expect(fenced.first { $0.0 == "Allowed networks" }?.1 == "10.0.0.0/8, 2001:db8::/32")
        #expect(fenced.first { $0.0 == "Previous secret" }?.1.contains("accepted until 2027-01-15 10:00:00") == true)
        #expect(fenced.first { $0.0 == "Last user agent" }?.1 == "cloudfleet-cli")
        #expect(Renderer.expiry(nil, now: Self.now) == "never")
        #expect(Renderer.expiry(Self.now.addingTimeInterval(3 * 86_400 + 5), now: Self.now) == "2027-01-18 08:00:05 (in 3 days)")
    }

    // MARK: tokens check

    @Test func checkAcceptsAGeneratedSecret() throws {
        let secret = TokenSecret.generate().reveal
        #expect(SecretCheck.verdict(secret) == .init(valid: true, message: "well-formed Cloudfleet token secret (checksum valid)"))
        #expect(SecretCheck.verdict(secret + "\n").valid)
        let check = try Self.parse(["tokens", "check", "-"], as: Tokens.Check.self)
        #expect(check.secret == "-")
    }

    @Test func checkRefusesABadChecksumWithoutEchoingTheInput() throws {
        let secret = TokenSecret.generate().reveal
        var characters = Array(secret)
        let index = 10
        characters[index] = characters[index] == "a" ? "b" : "a"
        let flipped = String(characters)
        let verdict = SecretCheck.verdict(flipped)
        #expect(!verdict.valid)
        #expect(verdict.message.contains("checksum does not match"))
        #expect(!verdict.message.contains(flipped) && !verdict.message.contains(String(flipped.dropFirst(4).prefix(12))))
    }

    @Test(arguments: [
        ("", "nothing was given"),
        ("ghp_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ", "does not start with cfs_"),
        ("cfs_0123456789abcdefghij-lmnopqrstuvwxyzABCDEFGHIJ", "other than letters and digits"),
        ("cfs_0123456789", "has 14 characters instead of 50"),
        ("cfsvc_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH", "service credential"),
    ])
    func checkSaysWhyAStringIsMalformed(_ input: String, _ reason: String) {
        let verdict = SecretCheck.verdict(input)
        #expect(!verdict.valid)
        #expect(verdict.message.contains(reason), "\(verdict.message)")
        #expect(input.isEmpty || !verdict.message.contains(input))
    }

    // MARK: Expiry warning

    @Test func expiryWarningDecision() throws {
        let header = { (offset: TimeInterval) in RFC3339.string(Self.now.addingTimeInterval(offset)) }
        #expect(ExpiryWarning.decide(header: nil, now: Self.now) == nil)
        #expect(ExpiryWarning.decide(header: "soon", now: Self.now) == nil)
        #expect(ExpiryWarning.decide(header: header(8 * 86_400), now: Self.now) == nil)
        #expect(ExpiryWarning.decide(header: header(7 * 86_400 + 1), now: Self.now) == nil)
        let edge = try #require(ExpiryWarning.decide(header: header(7 * 86_400), now: Self.now))
        #expect(abs(edge.remaining - 7 * 86_400) < 0.001)
        let soon = ExpiryWarning.decide(header: header(3 * 86_400 + 3_600), now: Self.now)
        #expect(abs((soon?.expiresAt.timeIntervalSince(Self.now) ?? 0) - (3 * 86_400 + 3_600)) < 0.001)
        let line = soon?.line(subject: "the token of profile ci (\(Self.tokenID))", tokenID: Self.tokenID) ?? ""
        #expect(line.hasPrefix("warning: the token of profile ci (\(Self.tokenID)) expires at 2027-01-18 09:00:00 UTC (in 3 days); "))
        #expect(!line.contains("\n"))
        let past = ExpiryWarning.decide(header: header(-60), now: Self.now)
        #expect(past?.line(subject: "the token", tokenID: Self.tokenID).hasPrefix("warning: the token expired at 2027-01-15 07:59:00 UTC;") == true)
        // Fractional seconds, as some servers send them.
        #expect(ExpiryWarning.decide(header: "2027-01-16T08:00:00.250Z", now: Self.now) != nil)
    }

    @Test func expiryWarningNamesTheCredentials() {
        let profile = ResolvedCredentials(
            source: "profile ci", profileName: "ci", organizationID: "o", tokenID: Self.tokenID, tokenSecret: "s", apiURL: "http://x")
        #expect(ExpiryWarning.subject(profile) == "the token of profile ci (\(Self.tokenID))")
        var environment = profile
        environment.profileName = nil
        #expect(ExpiryWarning.subject(environment).contains("CLOUDFLEET_TOKEN_*"))
    }

    @Test func relativeTimes() {
        #expect(Renderer.relative(30) == "in less than a minute")
        #expect(Renderer.relative(120) == "in 2 minutes")
        #expect(Renderer.relative(3_600) == "in 1 hour")
        #expect(Renderer.relative(86_400 * 6.4) == "in 6 days")
        #expect(Renderer.relative(86_400 * 3 - 60) == "in 3 days")
        #expect(Renderer.relative(-86_400) == "1 day ago")
    }

    // MARK: Errors

    @Test func newErrorAnswersMapToTheirExitCodes() {
        let expired = CloudfleetClient.error(
            status: 401,
            body:
                #"{"error":{"code":"token_expired","message":"The token expired at 2027-01-01T00:00:00Z; create a new token or ask an Administrator to extend it."}}"#
        )
        #expect(expired == .tokenExpired(at: Date(timeIntervalSince1970: 1_798_761_600)))
        #expect(expired?.exitCode == 3)
        #expect(expired?.description.hasPrefix("the token expired at 2027-01-01T00:00:00Z.") == true)

        let fenced = CloudfleetClient.error(status: 403, body: #"{"error":{"code":"address_not_allowed","message":"No."}}"#)
        #expect(fenced == .addressNotAllowed && fenced?.exitCode == 4)
        #expect(CloudfleetClient.error(status: 403, body: #"{"error":{"code":"forbidden","message":"No."}}"#) == .forbidden("No."))

        let limited = CloudfleetClient.error(
            status: 429, headers: [("Retry-After", "30")], body: #"{"error":{"code":"rate_limited","message":"Slow down."}}"#)
        #expect(limited == .rateLimited(retryAfter: 30) && limited?.exitCode == 9)
        #expect(limited?.description.contains("retry in 30 seconds") == true)
        #expect(CloudfleetClient.error(status: 429, body: "") == .rateLimited(retryAfter: nil))
        #expect(CloudfleetClient.error(status: 401, body: #"{"error":{"code":"unauthorized","message":"No."}}"#) == .unauthorized)
        #expect(CloudfleetClient.error(status: 200, body: "{}") == nil)
    }

    @Test func tokenEndpointErrorsMapToo() {
        func answer(_ status: Int, _ body: String, _ headers: [(String, String)] = []) -> ClientError? {
            CloudfleetClient.error(status: status, headers: headers, body: body, tokenEndpoint: true)
        }
        #expect(
            answer(401, #"{"error":"invalid_client","error_description":"The token expired at 2027-01-01T00:00:00Z."}"#)
                == .tokenExpired(at: Date(timeIntervalSince1970: 1_798_761_600)))
        #expect(answer(401, #"{"error":"invalid_client","error_description":"Client authentication failed."}"#) == .unauthorized)
        #expect(answer(401, #"{"error":"invalid_client"}"#) == .unauthorized)
        #expect(answer(403, #"{"error":"invalid_client","error_description":"Not from here."}"#) == .addressNotAllowed)
        #expect(answer(429, #"{"error":"slow_down"}"#, [("Retry-After", "12")]) == .rateLimited(retryAfter: 12))
        #expect(answer(500, #"{"error":{"code":"internal","message":"Boom."}}"#) == .server(status: 500, message: "Boom."))
    }

    @Test func retryAfterTakesSecondsOrADate() {
        #expect(CloudfleetClient.retryAfter("120") == 120)
        #expect(CloudfleetClient.retryAfter(nil) == nil)
        #expect(CloudfleetClient.retryAfter("soon") == nil)
        #expect(CloudfleetClient.retryAfter("Fri, 15 Jan 2027 08:01:00 GMT", now: Self.now) == 60)
    }

    // MARK: audit list

    @Test func auditSinceTakesADurationOrATimestamp() {
        #expect(AuditTime.since("7d", now: Self.now) == Self.now.addingTimeInterval(-7 * 86_400))
        #expect(AuditTime.since("90m", now: Self.now) == Self.now.addingTimeInterval(-5_400))
        #expect(AuditTime.since("2026-11-01T00:00:00Z", now: Self.now) == Date(timeIntervalSince1970: 1_793_491_200))
        #expect(AuditTime.since("2026-11-01T01:00:00+01:00", now: Self.now) == Date(timeIntervalSince1970: 1_793_491_200))
        #expect(AuditTime.since("2026-11-01T00:00:00.5Z", now: Self.now) == Date(timeIntervalSince1970: 1_793_491_200.5))
        for bad in ["", "yesterday", "2026-11-01", "0d", "7 d"] {
            #expect(AuditTime.since(bad, now: Self.now) == nil, "\(bad)")
        }
        #expect(AuditTime.until("7d") == nil)
        #expect(AuditTime.actor(Self.tokenID) == "token:\(Self.tokenID)")
        #expect(AuditTime.actor("bootstrap") == "bootstrap")
    }

    @Test func auditListBuildsItsQuery() throws {
        let list = try Self.parse(
            [
                "audit", "list", "--actor", Self.tokenID, "--token", Self.tokenID, "--action", "token.regenerate", "--since", "1d", "--until",
                "2027-01-15T00:00:00Z", "--limit", "500",
            ], as: AuditCommand.List.self)
        #expect(list.limit == 500)
        let filter = list.filter(now: Self.now)
        #expect(
            CloudfleetClient.query(filter.query)
                == "?actor=token%3A\(Self.tokenID)&token=\(Self.tokenID)&action=token.regenerate&since=2027-01-14T08%3A00%3A00Z&until=2027-01-15T00%3A00%3A00Z"
        )
        #expect(try Self.parse(["audit", "list"], as: AuditCommand.List.self).limit == 100)
        #expect(try Self.parse(["audit", "--profile", "p", "list"], as: AuditCommand.List.self).parent.options.profile == "p")
    }

    @Test func auditDetailsAreCompact() {
        #expect(Renderer.compact([:]) == "-")
        #expect(Renderer.compact(["role": "User", "name": "deploy bot"]) == #"name="deploy bot" role=User"#)
        #expect(Renderer.compact(["url": String(repeating: "x", count: 200)]).count < 100)
    }

    // MARK: organization

    @Test func setPolicyBody() throws {
        let set = try Self.parse(
            ["organization", "set-policy", "--max-token-lifetime", "8760h", "--require-expiry", "true"], as: OrganizationCommand.SetPolicy.self)
        #expect(try Self.json(set.changes) == #"{"max_token_lifetime":"365d","require_expiry":true}"#)
        let none = try Self.parse(["organization", "set-policy", "--max-token-lifetime", "none"], as: OrganizationCommand.SetPolicy.self)
        #expect(try Self.json(none.changes) == #"{"max_token_lifetime":null}"#)
        let off = try Self.parse(["organization", "set-policy", "--require-expiry", "false"], as: OrganizationCommand.SetPolicy.self)
        #expect(try Self.json(off.changes) == #"{"require_expiry":false}"#)
        _ = try Self.parse(["organization", "describe", "-o", "yaml"], as: OrganizationCommand.Describe.self)
    }

    // MARK: Random input

    /// Seeded random shorthand over the token fields: never a crash, only a parse or the parser's own error, and
    /// the same through `TokenInput.read`.
    @Test func randomShorthandNeverCrashes() {
        var generator = SplitMix64(seed: 0xC10D_F1EE7)
        let pieces = [
            ".", ":", ",", " ", "\"", "'", "\\", "\t", "\n", ".name:", ".role:", ".expires_in:", ".expires_at:", ".allowed_cidrs:", "User",
            "Administrator", "90d", "2099-01-31T00:00:00Z", "x", "é", "✓", "👩‍💻", "\u{0}", "\u{301}", "_", "0", "-", "..", "::",
        ]
        var parsed = 0
        for _ in 0..<4_000 {
            let count = Int.random(in: 0...12, using: &generator)
            let text = (0..<count).map { _ in pieces[Int.random(in: 0..<pieces.count, using: &generator)] }.joined()
            let words = text.split(separator: " ", omittingEmptySubsequences: Bool.random(using: &generator)).map(String.init)
            do {
                let fields = try ShorthandParser.parse(words, allowed: TokenInput.fields)
                #expect(Set(fields.keys).isSubset(of: TokenInput.fields))
                #expect(fields.values.allSatisfy { !$0.isEmpty || text.contains("\"\"") || text.contains("''") })
                parsed += 1
            } catch {
                #expect(!error.message.isEmpty)
            }
            do {
                _ = try TokenInput.read(shorthand: words, file: nil, name: nil, role: nil) { Data() }
            } catch {
                #expect(error is TokenInput.Failure, "\(words)")
            }
        }
        #expect(parsed > 0)
    }
}

extension TokenHygieneCLITests {
    static func token(
        expiresAt: Date? = nil, allowedCIDRs: [String] = [], previousSecretValidUntil: Date? = nil
    ) -> Token {
        Token(
            id: tokenID, name: "ci", role: "User", organizationID: "0f5e0a59-86a2-4d43-9bd6-3d8d3a3c1f00",
            kubernetesUsername: "service-account-nfyyvdtg8k1adujwk3yfh1", secretGeneration: 2, createdAt: now, updatedAt: now, secretRotatedAt: now,
            lastUsedAt: now, lastUsedIP: "203.0.113.9", lastUsedUserAgent: "cloudfleet-cli", secretLastUsedAt: now, expiresAt: expiresAt,
            allowedCIDRs: allowedCIDRs, previousSecretValidUntil: previousSecretValidUntil, previousSecretLastUsedAt: nil, createdBy: "bootstrap")
    }
}
