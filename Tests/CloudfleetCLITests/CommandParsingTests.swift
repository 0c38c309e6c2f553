import ArgumentParser
import CloudfleetClient
import Foundation
import Testing

@testable import CloudfleetCLI

/// Every command line of the documentation parses into the intended command.
@Suite struct CommandParsingTests {
    @Test func seedCreateLine() throws {
        let command = try CloudfleetCommand.parseAsRoot(["tokens", "create", ".name:", "HUMAN_FRIENDLY_NAME,", ".role:", "User"])
        let create = try #require(command as? Tokens.Create)
        let input = try create.fields.input()
        #expect(input == TokenInput(name: "HUMAN_FRIENDLY_NAME", role: "User"))
    }

    @Test(arguments: [
        ["tokens", "--profile", "cloudfleetou", "regenerate", "2iKo4Asy51EUx2gpJFW76t"],
        ["tokens", "regenerate", "2iKo4Asy51EUx2gpJFW76t", "--profile", "cloudfleetou"],
    ])
    func seedRegenerateLineInBothOrders(_ arguments: [String]) throws {
        let command = try CloudfleetCommand.parseAsRoot(arguments)
        let regenerate = try #require(command as? Tokens.Regenerate)
        #expect(regenerate.target.id == "2iKo4Asy51EUx2gpJFW76t")
        #expect(regenerate.options.merged(with: regenerate.parent.options).profile == "cloudfleetou")
    }

    @Test func seedDeleteLine() throws {
        // The documentation's TOKEN_ID placeholder, filled with its own example ID.
        let command = try CloudfleetCommand.parseAsRoot(["tokens", "--profile", "cloudfleetou", "delete", "nFYyVdtg8K1aDujwk3YFh1"])
        let delete = try #require(command as? Tokens.Delete)
        #expect(delete.target.id == "nFYyVdtg8K1aDujwk3YFh1")
        #expect(delete.parent.options.profile == "cloudfleetou")
        #expect(!delete.yes)
    }

    @Test func seedAddProfileLine() throws {
        let command = try CloudfleetCommand.parseAsRoot([
            "auth", "add-profile", "token", "cloudfleetou", "0f5e0a59-86a2-4d43-9bd6-3d8d3a3c1f00", "nFYyVdtg8K1aDujwk3YFh1", "cfs_x",
        ])
        let add = try #require(command as? Auth.TokenProfile)
        #expect(add.profileName == "cloudfleetou")
        #expect(add.tokenID == "nFYyVdtg8K1aDujwk3YFh1")
        #expect(add.apiURL == CredentialResolver.defaultAPIURL)
    }

    @Test(arguments: [
        ["auth", "add-profile", "token", "p", "not-a-uuid", "nFYyVdtg8K1aDujwk3YFh1", "cfs_x"],
        ["auth", "add-profile", "token", "p", "0f5e0a59-86a2-4d43-9bd6-3d8d3a3c1f00", "short", "cfs_x"],
        ["auth", "add-profile", "token", "bad name", "0f5e0a59-86a2-4d43-9bd6-3d8d3a3c1f00", "nFYyVdtg8K1aDujwk3YFh1", "cfs_x"],
        ["auth", "add-profile", "token", "p", "0f5e0a59-86a2-4d43-9bd6-3d8d3a3c1f00", "nFYyVdtg8K1aDujwk3YFh1", "cfs_x", "--secret-stdin"],
        ["tokens", "list", "-o", "xml"],
        ["tokens", "describe"],
        ["tokens", "describe", "TOKEN_ID"],
        ["tokens", "delete", "cfs_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"],
    ])
    func invalidLinesAreUsageErrors(_ arguments: [String]) {
        #expect(throws: (any Error).self) { try CloudfleetCommand.parseAsRoot(arguments) }
    }

    @Test func flagsOverrideShorthandWhichOverridesTheFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cf-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("token.yaml").path
        try Data("name: from file\nrole: User\n".utf8).write(to: URL(fileURLWithPath: file))
        #expect(try TokenInput.read(shorthand: [], file: file, name: nil, role: nil) { Data() } == TokenInput(name: "from file", role: "User"))
        #expect(
            try TokenInput.read(shorthand: [".name:", "from shorthand"], file: file, name: nil, role: nil) { Data() }
                == TokenInput(name: "from shorthand", role: "User"))
        #expect(
            try TokenInput.read(shorthand: [".name:", "from shorthand"], file: file, name: "from flag", role: "administrator") { Data() }
                == TokenInput(name: "from flag", role: "Administrator"))
        #expect(
            try TokenInput.read(shorthand: [], file: "-", name: nil, role: nil) { Data(#"{"name": "stdin", "role": "User"}"#.utf8) }
                == TokenInput(name: "stdin", role: "User"))
    }

    @Test(arguments: ["[1, 2]", "name: [x]", "colour: red", "{not yaml: [", "plain text"])
    func badDocumentsAreRefused(_ document: String) {
        #expect(throws: TokenInput.Failure.self) {
            try TokenInput.read(shorthand: [], file: "-", name: nil, role: nil) { Data(document.utf8) }
        }
    }

    /// ArgumentParser appends `(default: …)` to an option with a default value, so help text that names the default
    /// itself shows it twice. Every command's help is checked, so a new option cannot bring it back.
    @Test func helpStatesEachDefaultOnce() {
        func commands(_ command: any ParsableCommand.Type) -> [any ParsableCommand.Type] {
            [command] + command.configuration.subcommands.flatMap(commands)
        }
        let all = commands(CloudfleetCommand.self)
        #expect(all.count > 20)
        for command in all {
            let help = CloudfleetCommand.helpMessage(for: command, columns: 10_000)
            for line in help.split(separator: "\n") where line.components(separatedBy: "(default").count > 2 {
                Issue.record("\(command._commandName): the default is stated twice: \(line)")
            }
        }
    }
}
