import CloudfleetCore
import Testing

@Suite struct TokenSecretTests {
    @Test func generatedSecretsHaveTheDocumentedShape() throws {
        for _ in 0..<500 {
            let secret = TokenSecret.generate()
            let text = secret.reveal
            #expect(text.count == 50)
            #expect(text.hasPrefix("cfs_"))
            #expect(text.dropFirst(4).allSatisfy(Base62.contains))
            #expect(try TokenSecret(parsing: text) == secret)
        }
    }

    @Test func checksumIsBase62CRC32OfPrefixAndBody() throws {
        let secret = TokenSecret.generate().reveal
        let body = String(secret.prefix(44))
        let expected = Base62.encode(UInt64(CRC32.checksum(Array(body.utf8))), width: 6)
        #expect(secret.hasSuffix(expected))
    }

    @Test func crc32MatchesTheStandardCheckValue() {
        // The published check value of CRC-32/ISO-HDLC.
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
    }

    @Test func aSingleChangedCharacterFailsTheChecksum() throws {
        let secret = TokenSecret.generate().reveal
        var characters = Array(secret)
        characters[10] = characters[10] == "a" ? "b" : "a"
        #expect(throws: TokenSecret.FormatError.badChecksum) { try TokenSecret(parsing: String(characters)) }
    }

    @Test(arguments: ["", "cfs_", "ghp_0123456789012345678901234567890123456789abcdef", "cfs_!!!", String(repeating: "a", count: 50)])
    func malformedSecretsAreRefused(_ input: String) {
        #expect(throws: TokenSecret.FormatError.malformed) { try TokenSecret(parsing: input) }
    }

    @Test func descriptionNeverRevealsTheSecret() {
        let secret = TokenSecret.generate()
        #expect(!"\(secret)".contains(secret.reveal.dropFirst(4)))
        #expect(!String(reflecting: secret).contains(secret.reveal.dropFirst(4)))
    }
}
