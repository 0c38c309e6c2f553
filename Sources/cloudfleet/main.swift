import CloudfleetCLI
import Foundation

// kubectl runs the credential plugin for every command: its usual run, a cache hit, is answered before the
// command-line parser and the concurrency runtime start (see ExecCredentialFastPath). Everything else, misses
// included, goes to the full command as before.
if let credential = ExecCredentialFastPath.answer(arguments: Array(CommandLine.arguments.dropFirst())) {
    print(credential)
    exit(0)
}
Task { await CloudfleetCommand.runMain() }
dispatchMain()
