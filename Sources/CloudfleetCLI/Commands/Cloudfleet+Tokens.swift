import ArgumentParser
import CloudfleetAPI
import CloudfleetClient
import CloudfleetCore
import Foundation

/// `cloudfleet tokens`: create, list, describe, update, regenerate and delete API tokens.
struct Tokens: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the API tokens of your organization.",
        subcommands: [Create.self, List.self, Describe.self, Update.self, Regenerate.self, Delete.self]
    )

    @OptionGroup var options: ClientOptions
}

/// Options for commands that take token fields.
struct TokenFieldOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("Fields in CLI shorthand, as in the documentation: .name: NAME, .role: ROLE", valueName: "shorthand"))
    var shorthand: [String] = []

    @Option(help: "Human-friendly name (overrides the shorthand and the file).")
    var name: String?

    @Option(help: "Role: Administrator or User (overrides the shorthand and the file).")
    var role: String?

    @Option(name: [.customShort("f"), .customLong("file")], help: "Read the fields from a YAML or JSON file; - reads standard input.")
    var file: String?

    /// Shorthand mistakes and a missing input are usage errors: ArgumentParser prints them with the usage.
    func validate() throws {
        if !shorthand.isEmpty {
            do {
                _ = try ShorthandParser.parse(shorthand, allowed: TokenInput.fields)
            } catch {
                throw ValidationError("cannot read the fields: \(error.message)")
            }
        }
        if let role, Role(name: role) == nil {
            throw ValidationError("--role must be Administrator or User")
        }
        if shorthand.isEmpty && file == nil && name == nil && role == nil {
            throw ValidationError("give the token's fields, e.g. .name: deploy-bot, .role: User (or --name/--role, or -f FILE)")
        }
    }

    func input() throws -> TokenInput {
        try CLIFailure.wrap {
            try TokenInput.read(shorthand: shorthand, file: file, name: name, role: role) {
                FileHandle.standardInput.readDataToEndOfFile()
            }
        }
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
                """)

        @ParentCommand var parent: Tokens
        @OptionGroup var options: ClientOptions
        @OptionGroup var fields: TokenFieldOptions

        func run() async throws {
            let options = options.merged(with: parent.options)
            let input = try fields.input()
            guard let name = input.name, let role = input.role else {
                throw CLIFailure.exit("give both a name and a role, e.g. cloudfleet tokens create .name: deploy-bot, .role: User", code: 64)
            }
            let client = try options.client()
            let issued = try await CLIFailure.wrap { try await client.createToken(name: name, role: role) }
            try options.renderer.secret(issued, headline: "Token created.")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tokens of your organization (never their secrets).")

        @ParentCommand var parent: Tokens
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let options = options.merged(with: parent.options)
            let client = try options.client()
            let tokens = try await CLIFailure.wrap { try await client.allTokens() }
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
            abstract: "Change a token's name or role.",
            discussion: "Example: cloudfleet tokens update TOKEN_ID .role: Administrator")

        @ParentCommand var parent: Tokens
        @OptionGroup var options: ClientOptions
        @OptionGroup var target: TokenTarget
        @OptionGroup var fields: TokenFieldOptions

        func run() async throws {
            let options = options.merged(with: parent.options)
            let input = try fields.input()
            guard input.name != nil || input.role != nil else {
                throw CLIFailure.exit("give a new name or role, e.g. cloudfleet tokens update \(target.id) .role: Administrator", code: 64)
            }
            let client = try options.client()
            let token = try await CLIFailure.wrap { try await client.updateToken(id: target.id, name: input.name, role: input.role) }
            try options.renderer.token(token)
        }
    }

    struct Regenerate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace a token's secret; the old secret stops working at once. Prints the new secret only this once.")

        @ParentCommand var parent: Tokens
        @OptionGroup var options: ClientOptions
        @OptionGroup var target: TokenTarget

        func run() async throws {
            let options = options.merged(with: parent.options)
            let client = try options.client()
            let issued = try await CLIFailure.wrap { try await client.regenerateSecret(id: target.id) }
            try options.renderer.secret(issued, headline: "Secret regenerated. The previous secret no longer works.")
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

/// The token a command acts on. Its ID is checked before anything is sent; the rejected text is not echoed,
/// since it may be a secret pasted in the wrong place.
struct TokenTarget: ParsableArguments {
    @Argument(help: "Token ID.") var id: String

    func validate() throws {
        guard TokenID(id) != nil else { throw ValidationError("TOKEN_ID must be a token ID: 22 letters and digits") }
    }
}
