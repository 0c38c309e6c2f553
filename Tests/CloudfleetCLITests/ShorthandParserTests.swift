import CloudfleetTestSupport
import Testing

@testable import CloudfleetCLI

@Suite struct ShorthandParserTests {
    let allowed: Set<String> = ["name", "role"]

    /// Words as the shell hands them over for the seed's line.
    @Test func parsesTheSeedsCommandAsTheShellSplitsIt() throws {
        let fields = try ShorthandParser.parse([".name:", "HUMAN_FRIENDLY_NAME,", ".role:", "ROLE"], allowed: allowed)
        #expect(fields == ["name": "HUMAN_FRIENDLY_NAME", "role": "ROLE"])
    }

    @Test(arguments: [
        ([".name:", "deploy", "bot,", ".role:", "User"], ["name": "deploy bot", "role": "User"]),
        ([".name: deploy, prod, .role: User"], ["name": "deploy, prod", "role": "User"]),
        ([".role:", "User,", ".name:", "x"], ["name": "x", "role": "User"]),
        ([".name:", "\"  padded, quoted  \",", ".role:", "User"], ["name": "  padded, quoted  ", "role": "User"]),
        ([".name: 'it\\'s', .role: User"], ["name": "it's", "role": "User"]),
        ([".name:x,.role:User"], ["name": "x", "role": "User"]),
        ([".name: a.b: c"], ["name": "a.b: c"]),
        ([".name:", "Ünïcödé ✓"], ["name": "Ünïcödé ✓"]),
    ])
    func parsesValues(_ words: [String], _ expected: [String: String]) throws {
        #expect(try ShorthandParser.parse(words, allowed: allowed) == expected)
    }

    @Test(arguments: [
        ([], "no fields given"),
        (["name:", "x"], "expected a field"),
        ([".name", "x"], "expected a colon"),
        ([".colour:", "red"], "unknown field .colour"),
        ([".name:", "a,", ".name:", "b"], "given twice"),
        ([".name:", "\"open"], "not closed"),
        ([".name:", "\"a\"", "b"], "expected a comma"),
        ([".name:", ",", ".role:", "User"], "has no value"),
        ([".name:", "x,"], "must follow the last comma"),
    ])
    func refusesMalformedInput(_ words: [String], _ message: String) {
        #expect {
            try ShorthandParser.parse(words, allowed: allowed)
        } throws: { error in
            (error as? ShorthandParser.Failure)?.message.contains(message) == true
        }
    }

    /// Seeded random input never crashes the parser; it either parses or says why not.
    @Test func randomInputNeverCrashes() {
        var generator = SplitMix64(seed: 0x5EED)
        let alphabet = Array(".:, \"'\\namerol Uséx\t")
        for _ in 0..<5000 {
            let length = Int.random(in: 0...30, using: &generator)
            let text = String((0..<length).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
            let words = text.split(separator: " ").map(String.init)
            if let fields = try? ShorthandParser.parse(words, allowed: allowed) {
                #expect(Set(fields.keys).isSubset(of: allowed))
            }
        }
    }
}
