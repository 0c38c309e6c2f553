import ArgumentParser
import CloudfleetAPI
import CloudfleetClient
import CloudfleetCore
import Foundation

/// `cloudfleet tokens`: create, list, describe, update, regenerate and delete API tokens.
struct Tokens: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the API tokens of your organization.",
        subcommands: [Create.self, List.self, Describe.self, Update.self, Regenerate.self, Delete.self, Check.self]
    )

    @OptionGroup var options: ClientOptions
}

/// Options for commands that take token fields.
struct TokenFieldOptions: ParsableArguments {
    @Argument(
        help: ArgumentHelp(
            "Fields in CLI shorthand, as in the documentation: .name: NAME, .role: ROLE (also .expires_in: 90d, .expires_at: TIMESTAMP)",
            valueName: "shorthand"))
    var shorthand: [String] = []

    @Option(help: "Human-friendly name (overrides the shorthand and the file).")
    var name: String?

    @Option(help: "Role: Administrator or User (overrides the shorthand and the file).")
    var role: String?

    @Option(name: [.customShort("f"), .customLong("file")], help: "Read the fields from a YAML or JSON file; - reads standard input.")
    var file: String?

    @Option(help: ArgumentHelp("Expire this long from now: a whole number and s, m, h, d or w, such as 90d.", valueName: "duration"))
    var expiresIn: String?

    @Option(help: ArgumentHelp("Expire at this RFC 3339 time, such as 2027-01-31T00:00:00Z.", valueName: "timestamp"))
    var expiresAt: String?

    @Option(
        name: .customLong("allowed-cidr"),
        help: ArgumentHelp("Allow use only from this IPv4 or IPv6 network, such as 203.0.113.0/24 (repeatable).", valueName: "cidr"))
    var allowedCIDRs: [String] = []

    /// Whether no field was given at all.
    var isEmpty: Bool {
        shorthand.isEmpty && file == nil && name == nil && role == nil && expiresIn == nil && expiresAt == nil && allowedCIDRs.isEmpty
    }

    /// Shorthand mistakes, bad values and conflicting flags are usage errors: ArgumentParser prints them with the usage.
    func validate() throws {
        if !shorthand.isEmpty {
            let fields: [String: String]
            do {
                fields = try ShorthandParser.parse(shorthand, allowed: TokenInput.fields)
            } catch {
                throw ValidationError("cannot read the fields: \(error.message)")
            }
            do {
                _ = try TokenInput.expiry(expiresIn: fields["expires_in"], expiresAt: fields["expires_at"], style: .shorthand)
            } catch {
                throw ValidationError(error.description)
            }
        }
        if let role, Role(name: role) == nil {
            throw ValidationError("--role must be Administrator or User")
        }
        do {
            _ = try TokenInput.expiry(expiresIn: expiresIn, expiresAt: expiresAt, style: .flag)
            if !allowedCIDRs.isEmpty { _ = try TokenInput.networks(allowedCIDRs) }
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// The fields, with the update-only flags when `update` is given (a `TokenUpdateOptions` exists only parsed).
    func input(update: TokenUpdateOptions? = nil) throws -> TokenInput {
        try CLIFailure.wrap {
            try TokenInput.read(
                shorthand: shorthand, file: file, name: name, role: role, expiresIn: expiresIn, expiresAt: expiresAt,
                noExpiry: update?.noExpiry ?? false,
                allowedCIDRs: allowedCIDRs, anyAddress: update?.anyAddress ?? false
            ) {
                FileHandle.standardInput.readDataToEndOfFile()
            }
        }
    }
}

/// The flags only `tokens update` takes: they remove an expiry or an IP fence.
struct TokenUpdateOptions: ParsableArguments {
    @Flag(help: "Remove the expiry: the token never expires (sends expires_at: null).")
    var noExpiry = false

    @Flag(help: "Remove the IP fence: the token may be used from any address (sends allowed_cidrs: []).")
    var anyAddress = false
}

extension TokenInput {
    /// The body of `POST /v1/tokens`, with a relative expiry counted from `now`; `nil` without a name and role.
    func creation(now: Date) -> TokenCreation? {
        guard let name, let role else { return nil }
        return TokenCreation(name: name, role: role, expiresAt: expiry?.date(now: now), allowedCIDRs: allowedCIDRs)
    }

    /// The body of `PATCH /v1/tokens/{id}`, with a relative expiry counted from `now`.
    func changes(now: Date) -> TokenChanges {
        TokenChanges(name: name, role: role, expiry: expiry?.change(now: now), allowedCIDRs: allowedCIDRs)
    }
}

extension Tokens {
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a token and print its ID and secret (the secret is shown only this once).",
            discussion: """
                Examples:
                  cloudfleet tokens create .name: deploy-bot, .role: User
                  cloudfleet tokens create --name "deploy bot" --role Administrator
                  cloudfleet tokens create -f token.yaml
                  cloudfleet tokens create .name: ci, .role: User --expires-in 90d
                  cloudfleet tokens create --name ci --role User --allowed-cidr 203.0.113.0/24
                """)

        @ParentCommand var parent: Tokens
        @OptionGroup var options: ClientOptions
        @OptionGroup var fields: TokenFieldOptions

        func validate() throws {
            if fields.isEmpty {
                throw ValidationError("give the token's fields, e.g. .name: deploy-bot, .role: User (or --name/--role, or -f FILE)")
            }
        }

        func run() async throws {
            let options = options.merged(with: parent.options)
            let input = try fields.input()
            guard let creation = input.creation(now: Date()) else {
                throw CLIFailure.exit("give both a name and a role, e.g. cloudfleet tokens create .name: deploy-bot, .role: User", code: 64)
            }
            let client = try options.client()
            let issued = try await CLIFailure.wrap { try await client.createToken(creation) }
            try options.renderer.secret(issued, headline: "Token created.")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the tokens of your organization (never their secrets).",
            discussion: """
                Examples:
                  cloudfleet tokens list --expiring-within 7d     # expire within a week (and have not expired yet)
                  cloudfleet tokens list --unused-for 90d         # not used for 90 days (never-used ones created before then too)
                """)

        @ParentCommand var parent: Tokens
        @OptionGroup var options: ClientOptions
        @Option(help: ArgumentHelp("Only tokens that expire within this duration, such as 7d.", valueName: "duration"))
        var expiringWithin: String?
        @Option(help: ArgumentHelp("Only tokens not used for this duration, such as 90d.", valueName: "duration"))
        var unusedFor: String?

        func validate() throws {
            for (flag, value) in [("--expiring-within", expiringWithin), ("--unused-for", unusedFor)] {
                if let value, DurationText(value) == nil { throw ValidationError("\(flag) must be \(TokenInput.durationHelp)") }
            }
        }

        /// The filter sent, with durations in their canonical form.
        var filter: TokenListFilter {
            TokenListFilter(
                expiringWithin: expiringWithin.flatMap(DurationText.init)?.description, unusedFor: unusedFor.flatMap(DurationText.init)?.description)
        }

        func run() async throws {
            let options = options.merged(with: parent.options)
            let client = try options.client()
            let tokens = try await CLIFailure.wrap { try await client.allTokens(filter: filter) }
            try options.renderer.tokens(tokens)
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one token (never its secret).")

        @ParentCommand var parent: Tokens
        @OptionGroup var options: ClientOptions
        @OptionGroup var target: TokenTarget

        func run() async throws {
            let options = options.merged(with: parent.options)
            let client = try options.client()
            let token = try await CLIFailure.wrap { try await client.token(id: target.id) }
            try options.renderer.token(token)
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a token's name, role, expiry or allowed networks.",
            discussion: """
                Examples:
                  cloudfleet tokens update TOKEN_ID .role: Administrator
                  cloudfleet tokens update TOKEN_ID --expires-in 30d
                  cloudfleet tokens update TOKEN_ID --no-expiry
                  cloudfleet tokens update TOKEN_ID --allowed-cidr 203.0.113.0/24
                  cloudfleet tokens update TOKEN_ID --any-address
                --allowed-cidr (repeatable) replaces the whole list of networks.
                """)

        @ParentCommand var parent: Tokens
        @OptionGroup var options: ClientOptions
        @OptionGroup var target: TokenTarget
        @OptionGroup var fields: TokenFieldOptions
        @OptionGroup var update: TokenUpdateOptions

        func validate() throws {
            if update.noExpiry && (fields.expiresIn != nil || fields.expiresAt != nil) {
                throw ValidationError("give --no-expiry or a new expiry (--expires-in, --expires-at), not both")
            }
            if update.anyAddress && !fields.allowedCIDRs.isEmpty {
                throw ValidationError("give --allowed-cidr or --any-address, not both")
            }
            if fields.isEmpty && !update.noExpiry && !update.anyAddress {
                throw ValidationError(
                    "give a change, e.g. .role: Administrator (or --name, --role, --expires-in, --expires-at, --no-expiry, --allowed-cidr, --any-address, -f FILE)"
                )
            }
        }

        func run() async throws {
            let options = options.merged(with: parent.options)
            let changes = try fields.input(update: update).changes(now: Date())
            guard !changes.isEmpty else {
                throw CLIFailure.exit("give a change, e.g. cloudfleet tokens update \(target.id) .role: Administrator", code: 64)
            }
            let client = try options.client()
            let token = try await CLIFailure.wrap { try await client.updateToken(id: target.id, changes: changes) }
            try options.renderer.token(token)
        }
    }

    struct Regenerate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace a token's secret and print the new one (only this once).",
            discussion: """
                Without --grace-period the previous secret stops working at once. With it (at most 7d), the previous \
                secret keeps working until the grace period ends, so deployments can move over without downtime; it is \
                retired earlier once the new secret has been used and the previous one has gone idle.
                Example: cloudfleet tokens regenerate TOKEN_ID --grace-period 1h
                """)

        /// The longest grace period the server accepts.
        static let maximumGracePeriod = 7 * 86_400

        @ParentCommand var parent: Tokens
        @OptionGroup var options: ClientOptions
        @OptionGroup var target: TokenTarget
        @Option(help: ArgumentHelp("Keep the previous secret working for this long, such as 1h (at most 7d).", valueName: "duration"))
        var gracePeriod: String?

        func validate() throws {
            if let gracePeriod {
                guard let duration = DurationText(gracePeriod), duration.seconds <= Self.maximumGracePeriod else {
                    throw ValidationError("--grace-period must be \(TokenInput.durationHelp), at most 7d")
                }
            }
        }

        /// The grace period sent, in its canonical form.
        var grace: DurationText? { gracePeriod.flatMap(DurationText.init) }

        /// What the output says about the previous secret.
        static func previousSecretNote(_ token: Token, grace: DurationText?, now: Date) -> String {
            guard let grace else { return "The previous secret no longer works." }
            let until = token.previousSecretValidUntil ?? now.addingTimeInterval(grace.timeInterval)
            return "The previous secret keeps working until \(Renderer.date(until)) UTC at the latest (grace period \(grace)); "
                + "it is retired earlier once the new secret has been used and the previous one has gone idle."
        }

        func run() async throws {
            let options = options.merged(with: parent.options)
            let client = try options.client()
            let issued = try await CLIFailure.wrap { try await client.regenerateSecret(id: target.id, gracePeriod: grace?.description) }
            let note = Self.previousSecretNote(issued.token, grace: grace, now: Date())
            try options.renderer.secret(issued, headline: "Secret regenerated. \(note)", note: grace == nil ? nil : note)
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a token; it stops working at once.",
            discussion: "Asks for confirmation on a terminal unless --yes is given; never asks when standard input is not a terminal.")

        @ParentCommand var parent: Tokens
        @OptionGroup var options: ClientOptions
        @OptionGroup var target: TokenTarget
        @Flag(name: [.short, .long], help: "Do not ask for confirmation.") var yes = false

        func run() async throws {
            let options = options.merged(with: parent.options)
            let client = try options.client()
            if !yes, isatty(STDIN_FILENO) == 1 {
                let token = try await CLIFailure.wrap { try await client.token(id: target.id) }
                FileHandle.standardError.write(Data("Delete token \(token.id) (\(token.name), \(token.role))? It stops working at once. [y/N] ".utf8))
                guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
                    throw CLIFailure.exit("not deleted", code: 1)
                }
            }
            try await CLIFailure.wrap { try await client.deleteToken(id: target.id) }
            FileHandle.standardError.write(Data("Token \(target.id) deleted.\n".utf8))
        }
    }
}

extension Tokens {
    /// `tokens check`: offline, with no credentials needed.
    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check offline whether a string is a well-formed token secret with a valid checksum.",
            discussion: """
                Needs no network and no credentials, and never prints the secret. Exits 0 when it is well-formed, 1 when not.
                Use - to read the secret from standard input, which keeps it out of your shell history:
                  pbpaste | cloudfleet tokens check -
                """)

        @Argument(help: ArgumentHelp("The secret, or - to read it from standard input.", valueName: "secret"))
        var secret: String

        func run() async throws {
            let text = secret == "-" ? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) : secret
            let verdict = SecretCheck.verdict(text)
            guard verdict.valid else { throw CLIFailure.exit(verdict.message, code: 1) }
            print(verdict.message)
        }
    }
}

/// The offline verdict of `tokens check`. Its messages never repeat the input.
enum SecretCheck {
    struct Verdict: Equatable {
        let valid: Bool
        let message: String
    }

    static let valid = "well-formed Cloudfleet token secret (checksum valid)"

    static func verdict(_ input: String) -> Verdict {
        let text = input.trimmingCharacters(in: .whitespacesAndNewlines)
        do {
            _ = try TokenSecret(parsing: text)
            return Verdict(valid: true, message: valid)
        } catch .badChecksum {
            return Verdict(
                valid: false, message: "not a valid Cloudfleet token secret: the checksum does not match (a typo or an incomplete copy)")
        } catch {
            return Verdict(valid: false, message: "not a Cloudfleet token secret: \(malformation(text))")
        }
    }

    /// Why `text` does not have the shape of a secret: `cfs_`, 40 letters and digits, a 6-character checksum.
    private static func malformation(_ text: String) -> String {
        let shape = "a token secret is cfs_ followed by 46 letters and digits (\(TokenSecret.length) characters in all)"
        if text.isEmpty { return "nothing was given; \(shape)" }
        if text.hasPrefix(ServiceCredential.prefix) { return "it is a service credential (cfsvc_…), not a token secret" }
        if !text.hasPrefix(TokenSecret.prefix) { return "it does not start with cfs_; \(shape)" }
        if !text.dropFirst(TokenSecret.prefix.count).allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) {
            return "it holds characters other than letters and digits after cfs_; \(shape)"
        }
        return "it has \(text.count) characters instead of \(TokenSecret.length); \(shape)"
    }
}

/// The token a command acts on. Its ID is checked before anything is sent; the rejected text is not echoed,
/// since it may be a secret pasted in the wrong place.
struct TokenTarget: ParsableArguments {
    @Argument(help: "Token ID.") var id: String

    func validate() throws {
        guard TokenID(id) != nil else { throw ValidationError("TOKEN_ID must be a token ID: 22 letters and digits") }
    }
}
