import CloudfleetCore
import Foundation
import Yams

/// The fields of a token given on the command line: shorthand (`.name: X, .role: Y`), a YAML or JSON document
/// (`-f FILE`, `-f -` for stdin), and flags (`--name`, `--role`). Flags override the shorthand, which overrides
/// the document.
struct TokenInput: Equatable {
    var name: String?
    var role: String?

    static let fields: Set<String> = ["name", "role"]

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func read(shorthand: [String], file: String?, name: String?, role: String?, standardInput: () -> Data) throws -> TokenInput {
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
            do {
                let fields = try ShorthandParser.parse(shorthand, allowed: fields)
                input.merge(TokenInput(name: fields["name"], role: fields["role"]))
            } catch {
                throw Failure(description: "cannot read the fields: \(error.message)")
            }
        }
        input.merge(TokenInput(name: name, role: role))
        if let role = input.role {
            guard let canonical = Role(name: role) else {
                throw Failure(description: "role must be Administrator or User, not \(role.debugDescription)")
            }
            input.role = canonical.rawValue
        }
        return input
    }

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
            throw Failure(description: "\(source): unknown field \(unknown); known fields: name, role")
        }
        func string(_ key: String) throws -> String? {
            guard let value = mapping[key] else { return nil }
            guard let string = value as? String else { throw Failure(description: "\(source): \(key) must be a string") }
            return string
        }
        return TokenInput(name: try string("name"), role: try string("role"))
    }

    private mutating func merge(_ other: TokenInput) {
        if let name = other.name { self.name = name }
        if let role = other.role { self.role = role }
    }
}
