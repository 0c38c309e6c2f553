import CloudfleetAPI
import CloudfleetClient
import Foundation
import Yams

/// Prints results in the chosen format. JSON is stable: sorted keys, ISO 8601 dates, every field present.
struct Renderer {
    let format: OutputFormat

    func tokens(_ tokens: [Token]) throws {
        switch format {
        case .table:
            let rows = tokens.map {
                [$0.id, $0.name, $0.role, Self.date($0.createdAt), $0.lastUsedAt.map(Self.date) ?? "never", $0.expiresAt.map(Self.date) ?? "never"]
            }
            print(Self.table(header: ["ID", "NAME", "ROLE", "CREATED", "LAST USED", "EXPIRES"], rows: rows), terminator: "")
        case .json, .yaml:
            try structured(tokens)
        }
    }

    func token(_ token: Token) throws {
        switch format {
        case .table:
            let rows: [(String, String)] = [
                ("ID", token.id), ("Name", token.name), ("Role", token.role), ("Organization", token.organizationID),
                ("Kubernetes user", token.kubernetesUsername), ("Created", Self.date(token.createdAt)), ("Created by", token.createdBy),
                ("Updated", Self.date(token.updatedAt)), ("Secret rotated", Self.date(token.secretRotatedAt)),
                ("Secret generation", String(token.secretGeneration)), ("Last used", token.lastUsedAt.map(Self.date) ?? "never"),
                ("Last used from", token.lastUsedIP ?? "-"), ("Expires", token.expiresAt.map(Self.date) ?? "never"),
            ]
            Self.printDetails(rows)
        case .json, .yaml:
            try structured(token)
        }
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

    /// The one place a secret is printed: after create and regenerate.
    func secret(_ issued: TokenWithSecret, headline: String) throws {
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
        }
    }

    func structured<T: Encodable>(_ value: T) throws {
        switch format {
        case .yaml:
            // Through JSON, so YAML and JSON carry the same keys, types and date forms.
            let json = try JSONDecoder().decode(JSONValue.self, from: try JSONEncoder.stable.encode(value))
            let encoder = YAMLEncoder()
            encoder.options.sortKeys = true
            print(try encoder.encode(json), terminator: "")
        case .json, .table:
            print(String(decoding: try JSONEncoder.stable.encode(value), as: UTF8.self))
        }
    }

    static func date(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: false).timeSeparator(.colon))
            .replacingOccurrences(of: "T", with: " ")
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

extension JSONEncoder {
    static var stable: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
