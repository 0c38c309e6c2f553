import CloudfleetTestSupport
import Foundation
import Testing

@testable import CloudfleetCLI
@testable import CloudfleetClient

@Suite struct PrettyJSONTests {
    struct Sample: Encodable {
        let allowedCIDRs: [String]
        let labels: [String: String]
        let nested: [[Int]]
        let name: String
        let roles: [String]
    }

    @Test func writesEmptyArraysAndObjectsOnOneLine() throws {
        let sample = Sample(allowedCIDRs: [], labels: [:], nested: [[], [1]], name: "[\n\n] {\n}", roles: ["User"])
        let text = String(decoding: try PrettyJSON.encode(sample), as: UTF8.self)
        #expect(
            text == """
                {
                  "allowedCIDRs" : [],
                  "labels" : {},
                  "name" : "[\\n\\n] {\\n}",
                  "nested" : [
                    [],
                    [
                      1
                    ]
                  ],
                  "roles" : [
                    "User"
                  ]
                }
                """)
    }

    @Test func writesAnEmptyListAsABracketPair() throws {
        #expect(String(decoding: try PrettyJSON.encode([String]()), as: UTF8.self) == "[]")
        #expect(String(decoding: try PrettyJSON.encode([String: Int]()), as: UTF8.self) == "{}")
    }

    /// Seeded random documents, with strings full of brackets, braces, spaces and line breaks: the compacted text
    /// holds the same value as `JSONEncoder`'s, and no empty container spread over lines is left.
    @Test func keepsEveryValueOfRandomDocuments() throws {
        var random = SplitMix64(seed: FuzzSettings.seed)
        let decoder = JSONDecoder()
        for iteration in 0..<500 {
            let value = Self.randomValue(depth: 0, using: &random)
            let plain = try JSONEncoder().encode(value)
            let text = String(decoding: try PrettyJSON.encode(value), as: UTF8.self)
            let context = FuzzContext(seed: FuzzSettings.seed, iteration: iteration, input: text)
            #expect(try decoder.decode(JSONValue.self, from: Data(text.utf8)) == decoder.decode(JSONValue.self, from: plain), "\(context)")
            #expect(!text.contains("[\n\n") && !text.contains("{\n\n"), "\(context)")
        }
    }

    private static func randomValue(depth: Int, using random: inout SplitMix64) -> JSONValue {
        switch random.index(below: depth > 3 ? 4 : 7) {
        case 0: return .null
        case 1: return .bool(random.next() % 2 == 0)
        case 2: return .integer(Int.random(in: -1_000...1_000, using: &random))
        case 3: return .string(randomText(using: &random))
        case 4: return .array((0..<random.index(below: 4)).map { _ in randomValue(depth: depth + 1, using: &random) })
        default:
            var members: [String: JSONValue] = [:]
            for _ in 0..<random.index(below: 4) {
                members[randomText(using: &random)] = randomValue(depth: depth + 1, using: &random)
            }
            return .object(members)
        }
    }

    private static func randomText(using random: inout SplitMix64) -> String {
        let pieces = ["[", "]", "{", "}", " ", "\n", "\\", "\"", ",", ":", "a"]
        return (0..<random.index(below: 8)).map { _ in pieces[random.index(below: pieces.count)] }.joined()
            + FuzzAlphabet.randomText(maximumLength: 3, using: &random)
    }
}
