import CloudfleetCore
import Testing

@Suite struct TokenIDTests {
    @Test func generatedIDsAre22Base62Characters() {
        for _ in 0..<1000 {
            let id = TokenID.generate()
            #expect(id.rawValue.count == 22)
            #expect(id.rawValue.allSatisfy(Base62.contains))
            #expect(TokenID(id.rawValue) == id)
        }
    }

    @Test func generatedIDsDoNotRepeatEvenLowerCased() {
        let ids = (0..<10_000).map { _ in TokenID.generate().lowercased }
        #expect(Set(ids).count == ids.count)
    }

    @Test(arguments: ["", "short", "nFYyVdtg8K1aDujwk3YFh1x", "nFYyVdtg8K1aDujwk3YFh-", "nFYyVdtg8K1aDujwk3YFh ", "ñFYyVdtg8K1aDujwk3YFh1"])
    func rejectsMalformedIDs(_ input: String) {
        #expect(TokenID(input) == nil)
    }

    @Test func lowerCasingMatchesTheStandardLibrary() {
        for _ in 0..<1000 {
            let id = TokenID.generate()
            #expect(id.lowercased == id.rawValue.lowercased())
        }
    }

    @Test func digitBytesAreTheAlphabet() {
        #expect((0..<62).map { Base62.digit($0) } == Base62.alphabet.map { $0.asciiValue ?? 0 })
    }

    @Test func kubernetesUsernameIsTheSeedsExample() throws {
        let id = try #require(TokenID("nFYyVdtg8K1aDujwk3YFh1"))
        #expect(id.kubernetesUsername == "service-account-nfyyvdtg8k1adujwk3yfh1")
    }

    @Test func charactersAreSpreadOverTheWholeAlphabet() {
        var counts: [Character: Int] = [:]
        for _ in 0..<2000 {
            for character in TokenID.generate().rawValue { counts[character, default: 0] += 1 }
        }
        // 44,000 draws over 62 characters: about 710 each; a biased or truncated alphabet falls far outside.
        #expect(counts.count == 62)
        #expect(counts.values.allSatisfy { (500...950).contains($0) })
    }
}
