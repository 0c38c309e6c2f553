import CloudfleetAPI
import CloudfleetClient
import CloudfleetCore
import Foundation
import Yams

/// Prints results in the chosen format. JSON is stable: sorted keys, ISO 8601 dates, every field present.
struct Renderer {
    let format: OutputFormat

    func tokens(_ tokens: [Token], now: Date = Date()) throws {
        switch format {
        case .table:
            let rows = tokens.map { token in
                let expires = token.expiresAt.map { $0 <= now ? "expired" : Self.date($0) } ?? "never"
                return [
                    token.id, token.name, token.role, Self.date(token.createdAt), token.lastUsedAt.map(Self.date) ?? "never",
                    token.lastUsedIP ?? "-", expires,
                ]
            }
            print(Self.table(header: ["ID", "NAME", "ROLE", "CREATED", "LAST USED", "LAST IP", "EXPIRES"], rows: rows), terminator: "")
        case .json, .yaml:
            try structured(tokens)
        }
    }

    func token(_ token: Token, now: Date = Date()) throws {
        switch format {
        case .table:
            Self.printDetails(Self.details(of: token, now: now))
        case .json, .yaml:
            try structured(token)
        }
    }

    /// Every field of a token, for people.
    static func details(of token: Token, now: Date) -> [(String, String)] {
        let previous: String
        if let validUntil = token.previousSecretValidUntil {
            previous =
                "accepted until \(date(validUntil)) at the latest (\(relative(validUntil.timeIntervalSince(now)))), "
                + "last used \(token.previousSecretLastUsedAt.map(date) ?? "never")"
        } else {
            previous = "not accepted"
        }
        return [
            ("ID", token.id), ("Name", token.name), ("Role", token.role), ("Organization", token.organizationID),
            ("Kubernetes user", token.kubernetesUsername), ("Created", date(token.createdAt)), ("Created by", token.createdBy),
            ("Updated", date(token.updatedAt)), ("Expires", expiry(token.expiresAt, now: now)),
            ("Allowed networks", token.allowedCIDRs.isEmpty ? "anywhere" : token.allowedCIDRs.joined(separator: ", ")),
            ("Last used", token.lastUsedAt.map(date) ?? "never"), ("Last used from", token.lastUsedIP ?? "-"),
            ("Last user agent", token.lastUsedUserAgent ?? "-"), ("Secret generation", String(token.secretGeneration)),
            ("Secret rotated", date(token.secretRotatedAt)), ("Secret last used", token.secretLastUsedAt.map(date) ?? "never"),
            ("Previous secret", previous),
        ]
    }

    /// `never`, or the expiry with how far away it is (or that it has passed).
    static func expiry(_ expiresAt: Date?, now: Date) -> String {
        guard let expiresAt else { return "never" }
        let remaining = expiresAt.timeIntervalSince(now)
        return date(expiresAt) + (remaining <= 0 ? " (expired)" : " (\(relative(remaining)))")
    }

    func organization(_ organization: OrganizationInfo) throws {
        switch format {
        case .table:
            let lifetime = organization.policy.maxTokenLifetimeSeconds.map { DurationText(seconds: $0).description } ?? "none"
            Self.printDetails([
                ("ID", organization.id), ("Name", organization.name), ("Created", Self.date(organization.createdAt)),
                ("Tokens", String(organization.tokenCount)), ("Max token lifetime", lifetime),
                ("Expiry required", organization.policy.requireExpiry ? "yes" : "no"),
            ])
        case .json, .yaml:
            try structured(organization)
        }
    }

    func auditEvents(_ events: [AuditEventInfo]) throws {
        switch format {
        case .table:
            let rows = events.map { event in
                [
                    Self.date(event.occurredAt), event.actor, event.action, "\(event.targetType):\(event.targetID)", event.sourceIP ?? "-",
                    event.outcome, Self.compact(event.details),
                ]
            }
            print(
                Self.table(header: ["TIME", "ACTOR", "ACTION", "TARGET", "SOURCE IP", "OUTCOME", "DETAILS"], rows: rows), terminator: "")
        case .json, .yaml:
            try structured(events)
        }
    }

    /// Audit details on one line: `key=value` in key order, quoted when a value holds spaces, long ones cut.
    static func compact(_ details: [String: String]) -> String {
        guard !details.isEmpty else { return "-" }
        return details.keys.sorted().map { key in
            var value = details[key] ?? ""
            if value.count > 80 { value = value.prefix(79) + "…" }
            let plain = !value.isEmpty && !value.contains { $0.isWhitespace || $0 == "\"" || $0 == "=" }
            return "\(key)=\(plain ? value : value.debugDescription)"
        }.joined(separator: " ")
    }

    func clusters(_ clusters: [ClusterInfo]) throws {
        switch format {
        case .table:
            let rows = clusters.map { [$0.id, $0.name, $0.apiEndpoint, $0.webhookConfigured ? "yes" : "no", Self.date($0.createdAt)] }
            print(Self.table(header: ["ID", "NAME", "API ENDPOINT", "WEBHOOK", "CREATED"], rows: rows), terminator: "")
        case .json, .yaml:
            try structured(clusters)
        }
    }

    func cluster(_ cluster: ClusterInfo) throws {
        switch format {
        case .table:
            Self.printDetails([
                ("ID", cluster.id), ("Name", cluster.name), ("Organization", cluster.organizationID), ("API endpoint", cluster.apiEndpoint),
                ("CA bundle", cluster.caBundle == nil ? "system roots" : "custom"), ("Issuer", cluster.issuer), ("Audience", cluster.audience),
                ("TokenReview URL", cluster.tokenReviewURL), ("Webhook credential", cluster.webhookConfigured ? "issued" : "not issued"),
                ("Created", Self.date(cluster.createdAt)), ("Created by", cluster.createdBy), ("Updated", Self.date(cluster.updatedAt)),
            ])
        case .json, .yaml:
            try structured(cluster)
        }
    }

    private static func printDetails(_ rows: [(String, String)]) {
        let width = rows.map(\.0.count).max() ?? 0
        for (key, value) in rows { print(key.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value) }
    }

    /// The one place a secret is printed: after create and regenerate. `note` (already in `headline`) goes to
    /// standard error in JSON and YAML, so that it is not lost there.
    func secret(_ issued: TokenWithSecret, headline: String, note: String? = nil) throws {
        switch format {
        case .table:
            print(
                """
                \(headline)

                  Token ID:  \(issued.token.id)
                  Name:      \(issued.token.name)
                  Role:      \(issued.token.role)
                  Secret:    \(issued.secret)

                """)
            FileHandle.standardError.write(
                Data("Copy the secret now and store it in a secure location: it is shown only this once and cannot be shown again.\n".utf8))
        case .json, .yaml:
            try structured(issued)
            FileHandle.standardError.write(Data("The secret is shown only this once; store it securely.\n".utf8))
            if let note { FileHandle.standardError.write(Data("\(note)\n".utf8)) }
        }
    }

    func structured<T: Encodable>(_ value: T) throws {
        switch format {
        case .yaml:
            // Through JSON, so YAML and JSON carry the same keys, types and date forms.
            let json = try JSONDecoder().decode(JSONValue.self, from: try PrettyJSON.encode(value))
            let encoder = YAMLEncoder()
            encoder.options.sortKeys = true
            print(try encoder.encode(json), terminator: "")
        case .json, .table:
            print(String(decoding: try PrettyJSON.encode(value), as: UTF8.self))
        }
    }

    static func date(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: false).timeSeparator(.colon))
            .replacingOccurrences(of: "T", with: " ")
    }

    /// How far away an interval is, rounded: `in 3 days`, `in 5 hours`, `2 days ago`.
    static func relative(_ interval: TimeInterval) -> String {
        let magnitude = abs(interval)
        let text: String
        switch magnitude {
        case ..<60: text = "less than a minute"
        case ..<3_600: text = plural(Int((magnitude / 60).rounded()), "minute")
        case ..<86_400: text = plural(Int((magnitude / 3_600).rounded()), "hour")
        default: text = plural(Int((magnitude / 86_400).rounded()), "day")
        }
        return interval >= 0 ? "in \(text)" : "\(text) ago"
    }

    private static func plural(_ count: Int, _ unit: String) -> String {
        "\(count) \(unit)\(count == 1 ? "" : "s")"
    }

    static func table(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "   ")
        }.joined(separator: "\n") + "\n"
    }
}
