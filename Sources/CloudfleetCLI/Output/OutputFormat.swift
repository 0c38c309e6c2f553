import ArgumentParser
import Foundation

/// How results are printed: a table for people, JSON or YAML for programs. The default is a table on a terminal
/// and JSON when standard output is piped.
public enum OutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case table, json, yaml

    static func resolve(_ requested: OutputFormat?) -> OutputFormat {
        requested ?? (isatty(STDOUT_FILENO) == 1 ? .table : .json)
    }
}
