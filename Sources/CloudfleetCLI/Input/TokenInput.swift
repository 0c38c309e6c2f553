import CloudfleetClient
import CloudfleetCore
import Foundation
import Yams

/// The fields of a token given on the command line: shorthand (`.name: X, .role: Y, .expires_in: 90d`), a YAML or
/// JSON document (`-f FILE`, `-f -` for stdin), and flags (`--name`, `--role`, `--expires-in`, `--expires-at`,
/// `--no-expiry`, `--allowed-cidr`, `--any-address`). Flags override the shorthand, which overrides the document;
/// the expiry counts as one field, however it is given.
struct TokenInput: Equatable {
    /// When the token expires.
    enum Expiry: Equatable {
        /// This long after the request is made (`--expires-in 90d`).
        case after(DurationText)
        /// At this instant (`--expires-at 2027-01-31T00:00:00Z`).
        case at(Date)
        /// Never (`--no-expiry`, update only).
        case never

        /// The expiry to send, computed from `now`.
        func change(now: Date) -> TokenChanges.Expiry {
            switch self {
            case .after(let duration): .at(now.addingTimeInterval(duration.timeInterval))
            case .at(let date): .at(date)
            case .never: .never
            }
        }

        /// The instant to send on create; `nil` for ``never``.
        func date(now: Date) -> Date? {
            guard case .at(let date) = change(now: now) else { return nil }
            return date
        }
    }

    var name: String?
    var role: String?
    var expiry: Expiry?
    /// Canonical networks; `[]` means anywhere (`--any-address`), `nil` leaves the fence as it is.
    var allowedCIDRs: [String]?

    static let fields: Set<String> = ["name", "role", "expires_in", "expires_at"]

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The examples every message about an expiry refers to.
    static let durationHelp = "a duration such as 90d, 12h or 2w (a whole number and s, m, h, d or w)"
    static let timestampHelp = "an RFC 3339 timestamp such as 2027-01-31T00:00:00Z"

    static func read(
        shorthand: [String], file: String?, name: String?, role: String?, expiresIn: String? = nil, expiresAt: String? = nil,
        noExpiry: Bool = false, allowedCIDRs: [String] = [], anyAddress: Bool = false, now: Date = Date(),
        standardInput: () -> Data
    ) throws -> TokenInput {
        var input = TokenInput()
        if let file {
            let data: Data
            if file == "-" {
                data = standardInput()
            } else {
                guard let contents = FileManager.default.contents(atPath: file) else { throw Failure(description: "cannot read \(file)") }
                data = contents
            }
            input.merge(try document(String(decoding: data, as: UTF8.self), source: file == "-" ? "standard input" : file))
        }
        if !shorthand.isEmpty {
            let fields: [String: String]
            do {
                fields = try ShorthandParser.parse(shorthand, allowed: Self.fields)
            } catch {
                throw Failure(description: "cannot read the fields: \(error.message)")
            }
            input.merge(
                TokenInput(
                    name: fields["name"], role: fields["role"],
                    expiry: try expiry(expiresIn: fields["expires_in"], expiresAt: fields["expires_at"], style: .shorthand)))
        }
        var flags = TokenInput(name: name, role: role)
        flags.expiry = try expiry(expiresIn: expiresIn, expiresAt: expiresAt, style: .flag)
        if noExpiry {
            guard flags.expiry == nil else { throw Failure(description: "give --no-expiry or a new expiry (--expires-in, --expires-at), not both") }
            flags.expiry = .never
        }
        if !allowedCIDRs.isEmpty {
            guard !anyAddress else { throw Failure(description: "give --allowed-cidr or --any-address, not both") }
            flags.allowedCIDRs = try networks(allowedCIDRs)
        } else if anyAddress {
            flags.allowedCIDRs = []
        }
        input.merge(flags)
        if let role = input.role {
            guard let canonical = Role(name: role) else {
                throw Failure(description: "role must be Administrator or User, not \(role.debugDescription)")
            }
            input.role = canonical.rawValue
        }
        if case .at(let date) = input.expiry, date <= now {
            throw Failure(description: "the expiry \(date.formatted(.iso8601)) is in the past; give a later time or --expires-in")
        }
        return input
    }

    // MARK: Single values

    /// How a field is named in messages.
    enum Style {
        case flag, shorthand, document

        func name(_ key: String) -> String {
            switch self {
            case .flag: "--" + key.replacingOccurrences(of: "_", with: "-")
            case .shorthand: "." + key
            case .document: key
            }
        }
    }

    /// The expiry given by `expiresIn` or `expiresAt` (not both).
    static func expiry(expiresIn: String?, expiresAt: String?, style: Style) throws(Failure) -> Expiry? {
        switch (expiresIn, expiresAt) {
        case (nil, nil):
            return nil
        case (let text?, nil):
            return .after(try duration(text, field: style.name("expires_in")))
        case (nil, let text?):
            return .at(try timestamp(text, field: style.name("expires_at")))
        case (.some, .some):
            throw Failure(description: "give \(style.name("expires_in")) or \(style.name("expires_at")), not both")
        }
    }

    /// A duration such as `90d`.
    static func duration(_ text: String, field: String) throws(Failure) -> DurationText {
        guard let duration = DurationText(text) else { throw Failure(description: "\(field) must be \(durationHelp), at most ten years") }
        return duration
    }

    /// An RFC 3339 timestamp.
    static func timestamp(_ text: String, field: String) throws(Failure) -> Date {
        guard let date = RFC3339.date(text) else { throw Failure(description: "\(field) must be \(timestampHelp)") }
        return date
    }

    /// Validated networks in their canonical form (`10.1.2.3/8` is `10.0.0.0/8`), duplicates removed. The
    /// refused entry is named: a network is no secret.
    static func networks(_ entries: [String]) throws(Failure) -> [String] {
        guard entries.count <= IPFence.maximumCount else {
            throw Failure(description: "give at most \(IPFence.maximumCount) networks with --allowed-cidr, not \(entries.count)")
        }
        for entry in entries where IPNetwork(entry) == nil {
            throw Failure(
                description: "--allowed-cidr \(String(entry.prefix(60)).debugDescription) is not an IPv4 or IPv6 network in CIDR notation, "
                    + "such as 203.0.113.0/24, 2001:db8::/32 or a single address")
        }
        do {
            return try IPFence(entries).entries
        } catch {
            throw Failure(description: "--allowed-cidr: \(error.reason)")
        }
    }

    // MARK: Documents

    private static func document(_ text: String, source: String) throws -> TokenInput {
        let object: Any?
        do {
            object = try Yams.load(yaml: text)
        } catch {
            throw Failure(description: "\(source) is neither YAML nor JSON")
        }
        guard let mapping = object as? [String: Any] else {
            throw Failure(description: "\(source) must hold a mapping such as {name: deploy, role: User}")
        }
        if let unknown = mapping.keys.sorted().first(where: { !fields.contains($0) }) {
            throw Failure(description: "\(source): unknown field \(unknown); known fields: \(fields.sorted().joined(separator: ", "))")
        }
        func string(_ key: String) throws -> String? {
            guard let value = mapping[key] else { return nil }
            guard let string = value as? String else { throw Failure(description: "\(source): \(key) must be a string") }
            return string
        }
        // YAML reads an unquoted timestamp as a date and a bare number as an integer (seconds): both are fine.
        var expiresAt = mapping["expires_at"].flatMap { $0 as? Date }.map { $0.formatted(.iso8601) }
        if expiresAt == nil { expiresAt = try string("expires_at") }
        var expiresIn = mapping["expires_in"].flatMap { $0 as? Int }.map { String($0) }
        if expiresIn == nil { expiresIn = try string("expires_in") }
        let expiry: Expiry?
        do {
            expiry = try Self.expiry(expiresIn: expiresIn, expiresAt: expiresAt, style: .document)
        } catch {
            throw Failure(description: "\(source): \(error.description)")
        }
        return TokenInput(name: try string("name"), role: try string("role"), expiry: expiry)
    }

    private mutating func merge(_ other: TokenInput) {
        if let name = other.name { self.name = name }
        if let role = other.role { self.role = role }
        if let expiry = other.expiry { self.expiry = expiry }
        if let allowedCIDRs = other.allowedCIDRs { self.allowedCIDRs = allowedCIDRs }
    }
}
