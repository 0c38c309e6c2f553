import ArgumentParser
import CloudfleetAPI
import CloudfleetClient
import CloudfleetCore
import Foundation

/// `cloudfleet audit`: the organization's audit trail.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Read your organization's audit trail (Administrator).",
        subcommands: [List.self]
    )

    @OptionGroup var options: ClientOptions
}

extension AuditCommand {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List audit events, newest first.",
            discussion: """
                Examples:
                  cloudfleet audit list --token TOKEN_ID --since 30d
                  cloudfleet audit list --action token.regenerate --since 2026-01-01T00:00:00Z
                  cloudfleet audit list --actor token:TOKEN_ID --limit 500 -o json
                Actions: \(AuditAction.allCases.map(\.rawValue).joined(separator: ", ")).
                """)

        /// The most events any one run prints.
        static let maximumLimit = 100_000

        @ParentCommand var parent: AuditCommand
        @OptionGroup var options: ClientOptions
        @Option(help: ArgumentHelp("Only events by this actor: token:TOKEN_ID (or just TOKEN_ID), bootstrap or admin-cli.", valueName: "actor"))
        var actor: String?
        @Option(help: ArgumentHelp("Only events about this token.", valueName: "token-id"))
        var token: String?
        @Option(help: ArgumentHelp("Only events of this action, such as token.regenerate.", valueName: "action"))
        var action: String?
        @Option(help: ArgumentHelp("Only events since this long ago (such as 7d) or this RFC 3339 time.", valueName: "duration|timestamp"))
        var since: String?
        @Option(help: ArgumentHelp("Only events before this RFC 3339 time.", valueName: "timestamp"))
        var until: String?
        @Option(help: "Print at most this many events.")
        var limit: Int = 100

        func validate() throws {
            if let token, TokenID(token) == nil { throw ValidationError("--token must be a token ID: 22 letters and digits") }
            if let action, AuditAction(rawValue: action) == nil {
                throw ValidationError("--action must be one of \(AuditAction.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if let actor, actor.isEmpty || actor.count > 200 { throw ValidationError("--actor must be such as token:TOKEN_ID") }
            if let since, AuditTime.since(since, now: Date()) == nil {
                throw ValidationError("--since must be a duration such as 7d (that long ago) or \(TokenInput.timestampHelp)")
            }
            if let until, AuditTime.until(until) == nil { throw ValidationError("--until must be \(TokenInput.timestampHelp)") }
            guard (1...Self.maximumLimit).contains(limit) else { throw ValidationError("--limit must be from 1 to \(Self.maximumLimit)") }
        }

        /// The filter sent, with `--since` counted back from `now`.
        func filter(now: Date) -> AuditEventFilter {
            AuditEventFilter(
                actor: actor.map(AuditTime.actor), tokenID: token, action: action, since: since.flatMap { AuditTime.since($0, now: now) },
                until: until.flatMap(AuditTime.until))
        }

        func run() async throws {
            let options = options.merged(with: parent.options)
            let client = try options.client()
            let filter = filter(now: Date())
            let (events, more) = try await CLIFailure.wrap { try await client.auditEvents(filter: filter, limit: limit) }
            try options.renderer.auditEvents(events)
            if more {
                FileHandle.standardError.write(
                    Data("Showing the newest \(events.count) events; there are more (raise --limit or narrow with --since).\n".utf8))
            }
        }
    }
}

/// The time and actor arguments of `audit list`.
enum AuditTime {
    /// `--since`: a duration counted back from `now` (`7d`), or an RFC 3339 timestamp.
    static func since(_ text: String, now: Date) -> Date? {
        if let duration = DurationText(text) { return now.addingTimeInterval(-duration.timeInterval) }
        return RFC3339.date(text)
    }

    /// `--until`: an RFC 3339 timestamp.
    static func until(_ text: String) -> Date? {
        RFC3339.date(text)
    }

    /// `--actor`: a bare token ID means `token:ID`; anything else is sent as given.
    static func actor(_ text: String) -> String {
        TokenID(text) != nil ? "token:\(text)" : text
    }
}
