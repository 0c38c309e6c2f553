import Foundation

/// Parses the CLI-shorthand body syntax of the documentation: `.field: value` pairs separated by commas, as in
/// `cloudfleet tokens create .name: HUMAN_FRIENDLY_NAME, .role: ROLE`.
///
/// The shell splits such a line into words; they are joined with single spaces and parsed as one text. A value
/// runs to the next comma that starts another `.field:` pair, with surrounding white space trimmed, so
/// `.name: Deploy, prod, .role: User` names the token "Deploy, prod". A value may be quoted with `"` or `'`
/// (backslash escapes `\"`, `\'` and `\\` inside), to keep leading or trailing spaces.
public enum ShorthandParser {
    /// Why a shorthand text could not be read.
    public struct Failure: Error, Equatable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// The fields of `words` in order of appearance; each field at most once, each one of `allowed`.
    public static func parse(_ words: [String], allowed: Set<String>) throws(Failure) -> [String: String] {
        let text = Array(words.joined(separator: " "))
        var fields: [String: String] = [:]
        var index = 0

        func skipSpaces() {
            while index < text.count, text[index].isWhitespace { index += 1 }
        }

        /// Whether a new `.field:` pair (or the end of the text) follows the comma before `position`.
        func pairStarts(at position: Int) -> Bool {
            var cursor = position
            while cursor < text.count, text[cursor].isWhitespace { cursor += 1 }
            if cursor == text.count { return true }
            guard text[cursor] == "." else { return false }
            cursor += 1
            let start = cursor
            while cursor < text.count, text[cursor].isLetter || text[cursor].isNumber || text[cursor] == "_" { cursor += 1 }
            return cursor > start && cursor < text.count && text[cursor] == ":"
        }

        skipSpaces()
        guard index < text.count else { throw Failure(message: "no fields given; write them as .name: VALUE, .role: VALUE") }
        while index < text.count {
            guard text[index] == "." else {
                throw Failure(message: "expected a field such as .name: at \"\(String(text[index...]).prefix(20))\"")
            }
            index += 1
            let keyStart = index
            while index < text.count, text[index].isLetter || text[index].isNumber || text[index] == "_" { index += 1 }
            let key = String(text[keyStart..<index])
            guard !key.isEmpty, index < text.count, text[index] == ":" else {
                throw Failure(message: "expected a colon after .\(key)")
            }
            index += 1
            guard allowed.contains(key) else {
                throw Failure(message: "unknown field .\(key); known fields: \(allowed.sorted().map { "." + $0 }.joined(separator: ", "))")
            }
            guard fields[key] == nil else { throw Failure(message: "field .\(key) is given twice") }
            skipSpaces()
            let value: String
            if index < text.count, text[index] == "\"" || text[index] == "'" {
                let quote = text[index]
                index += 1
                var unquoted = ""
                var closed = false
                while index < text.count {
                    let character = text[index]
                    if character == "\\", index + 1 < text.count, [quote, "\\"].contains(text[index + 1]) {
                        unquoted.append(text[index + 1])
                        index += 2
                    } else if character == quote {
                        index += 1
                        closed = true
                        break
                    } else {
                        unquoted.append(character)
                        index += 1
                    }
                }
                guard closed else { throw Failure(message: "the quoted value of .\(key) is not closed") }
                skipSpaces()
                guard index == text.count || text[index] == "," else {
                    throw Failure(message: "expected a comma after the quoted value of .\(key)")
                }
                value = unquoted
            } else {
                let start = index
                while index < text.count, !(text[index] == "," && pairStarts(at: index + 1)) { index += 1 }
                value = String(text[start..<index]).trimmingCharacters(in: .whitespaces)
                guard !value.isEmpty else { throw Failure(message: "field .\(key) has no value") }
            }
            fields[key] = value
            if index < text.count, text[index] == "," {
                index += 1
                skipSpaces()
                guard index < text.count else { throw Failure(message: "a field must follow the last comma") }
            }
        }
        return fields
    }
}
