import CloudfleetCLI

await CloudfleetCommand.runMain()
