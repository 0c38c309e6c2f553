import ArgumentParser
import CloudfleetClient
import Foundation

/// Turns failures into one line on standard error and a documented exit code; never a stack trace or a secret.
enum CLIFailure {
    /// Prints `message` as an error and returns the exit code to throw.
    static func exit(_ message: String, code: Int32) -> ExitCode {
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
        return ExitCode(code)
    }

    /// Runs `body`, mapping client, configuration and input errors to their exit codes.
    static func wrap<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw map(error)
        }
    }

    static func wrap<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            throw map(error)
        }
    }

    private static func map(_ error: any Error) -> any Error {
        switch error {
        case let error as ClientError: exit(error.description, code: error.exitCode)
        case let error as CredentialResolver.Failure: exit(error.description, code: 1)
        case let error as SecureFile.Failure: exit(error.description, code: 1)
        case let error as TokenInput.Failure: exit(error.description, code: 64)
        default: error
        }
    }
}
