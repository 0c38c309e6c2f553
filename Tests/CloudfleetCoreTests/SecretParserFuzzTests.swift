import CloudfleetCore
import CloudfleetTestSupport
import Foundation
import Testing

/// Seeded random-input tests of the token ID parser and the three secret parsers (`cfs_`, `cfwh_`, `cfsvc_`).
///
/// Every input comes from a SplitMix64 generator with a fixed seed, so a run repeats exactly. Set
/// `CLOUDFLEET_FUZZ_SEED` (decimal or `0x…`) to explore other inputs and `CLOUDFLEET_FUZZ_ITERATIONS` to run more
/// of them; a failure names the seed and the input, so that it can be replayed.
///
/// Each parser is checked against a reference written here from the documented format alone (bytes, a bitwise
/// CRC-32 and base62), so the two must agree on every input: accepted, malformed or a bad checksum.
@Suite struct SecretParserFuzzTests {
    static let seed: UInt64 = FuzzSettings.seed
    static let iterations: Int = FuzzSettings.iterations

    static let kinds: [SecretKind] = [.tokenSecret, .webhookCredential, .serviceCredential]

    // MARK: Secrets

    /// Well-formed secrets parse, reveal exactly the input, and equal themselves parsed again.
    @Test(arguments: kinds) func validSecretsRoundTrip(_ kind: SecretKind) throws {
        var random = SplitMix64(seed: Self.seed ^ kind.salt)
        for iteration in 0..<Self.iterations {
            let text = kind.wellFormed(using: &random)
            let context = FuzzContext(seed: Self.seed, iteration: iteration, input: text)
            #expect(Reference.classify(text, prefix: kind.prefix) == .valid, "\(context)")
            #expect(try kind.parse(text) == text, "\(context)")
        }
        // The service's own generator makes what the reference accepts.
        for _ in 0..<200 {
            let generated = kind.generate()
            #expect(Reference.classify(generated, prefix: kind.prefix) == .valid, "generated \(kind.name) refused by the reference")
            #expect(try kind.parse(generated) == generated)
        }
    }

    /// Changing any one character of a valid secret is always caught: by the checksum when the new character is
    /// base62 and lies after the prefix, as malformed otherwise. Every position is tried with every base62
    /// character on some secrets, and with random other characters (ASCII, control, Unicode) on many more.
    @Test(arguments: kinds) func everySingleCharacterChangeIsRejected(_ kind: SecretKind) throws {
        var random = SplitMix64(seed: Self.seed ^ kind.salt ^ 0x5151)
        let prefixLength = kind.prefix.count
        for round in 0..<max(4, Self.iterations / 500) {
            let valid = Array(kind.wellFormed(using: &random))
            for position in valid.indices {
                for replacement in Base62.alphabet where replacement != valid[position] {
                    var mutated = valid
                    mutated[position] = replacement
                    let text = String(mutated)
                    let expected: Reference.Verdict = position < prefixLength ? .malformed : .badChecksum
                    let context = FuzzContext(seed: Self.seed, iteration: round, input: text)
                    #expect(kind.verdict(text) == expected, "\(context)")
                }
            }
        }
        for iteration in 0..<Self.iterations {
            var characters = Array(kind.wellFormed(using: &random))
            let position = random.index(below: characters.count)
            var replacement = FuzzAlphabet.any(using: &random)
            while replacement == characters[position] { replacement = FuzzAlphabet.any(using: &random) }
            characters[position] = replacement
            let text = String(characters)
            let context = FuzzContext(seed: Self.seed, iteration: iteration, input: text)
            let verdict = kind.verdict(text)
            #expect(verdict != .valid, "\(context)")
            #expect(verdict == Reference.classify(text, prefix: kind.prefix), "\(context)")
        }
    }

    /// Truncations, extensions, padding and other prefixes are malformed, including a well-formed secret of
    /// another kind and a correct checksum computed over a wrong prefix.
    @Test(arguments: kinds) func truncationsAndPrefixVariantsAreRejected(_ kind: SecretKind) throws {
        var random = SplitMix64(seed: Self.seed ^ kind.salt ^ 0x7A7A)
        for iteration in 0..<max(20, Self.iterations / 50) {
            let valid = kind.wellFormed(using: &random)
            let body = valid.dropFirst(kind.prefix.count)
            var variants: [String] = (0..<valid.count).map { String(valid.prefix($0)) }
            variants += [
                valid + "0", valid + "\n", " " + valid, valid + " ", "\t" + valid, valid + valid, valid.uppercased(),
                String(valid.dropFirst()), String(valid.dropLast()) + "\u{0}", valid.replacingOccurrences(of: "_", with: "-"),
                kind.prefix.uppercased() + body, String(kind.prefix.dropLast()) + body, "x" + valid,
            ]
            for other in Self.kinds where other.prefix != kind.prefix {
                variants.append(other.wellFormed(using: &random))
                // The right length and a checksum that matches, over a prefix of another kind.
                variants.append(Reference.checksummed(other.prefix + Reference.randomBase62(count: 40, using: &random)))
            }
            for prefix in ["cfs", "cfs__", "cfx_", "CFS_", "cfsvc", "cfwh", "ghp_", "", "cfs_cfs_"] where prefix != kind.prefix {
                variants.append(Reference.checksummed(prefix + Reference.randomBase62(count: 40, using: &random)))
                variants.append(prefix + body)
            }
            for text in variants {
                let context = FuzzContext(seed: Self.seed, iteration: iteration, input: text)
                #expect(kind.verdict(text) == .malformed, "\(context)")
                #expect(Reference.classify(text, prefix: kind.prefix) == .malformed, "\(context)")
            }
        }
    }

    /// Random text and mutated secrets (bit flips in the UTF-8 bytes, truncations, duplications, insertions,
    /// swaps, Unicode) never crash a parser, and each parser agrees with the reference on every one.
    @Test(arguments: kinds) func randomAndMutatedInputsAgreeWithTheReference(_ kind: SecretKind) throws {
        var random = SplitMix64(seed: Self.seed ^ kind.salt ^ 0xF00D)
        var accepted = 0
        for iteration in 0..<Self.iterations {
            let text: String
            switch iteration % 3 {
            case 0: text = FuzzAlphabet.randomText(maximumLength: 120, using: &random)
            case 1: text = Mutator.mutate(kind.wellFormed(using: &random), using: &random)
            default: text = Mutator.mutate(kind.prefix + FuzzAlphabet.randomText(maximumLength: 60, using: &random), using: &random)
            }
            let context = FuzzContext(seed: Self.seed, iteration: iteration, input: text)
            let verdict = kind.verdict(text)
            #expect(verdict == Reference.classify(text, prefix: kind.prefix), "\(context)")
            if verdict == .valid {
                accepted += 1
                #expect(try kind.parse(text) == text, "\(context)")
            }
        }
        // Some mutations leave a secret intact (a swap of a byte with itself, a flip undone by a second one); more
        // than a small share of accepted inputs would mean the mutations or the parser do nothing.
        #expect(accepted < Self.iterations / 3, "seed \(Self.seed): \(accepted) of \(Self.iterations) mutated inputs accepted")
    }

    /// Huge inputs are refused without trouble.
    @Test(arguments: kinds) func hugeInputsAreRejected(_ kind: SecretKind) {
        for length in [1_000, 65_536, 1_000_000, 4_000_000] {
            let filler = String(repeating: "a", count: length)
            #expect(kind.verdict(kind.prefix + filler) == .malformed, "length \(length)")
            #expect(kind.verdict(String(repeating: "é", count: length)) == .malformed, "length \(length)")
        }
    }

    /// `description`, `debugDescription`, interpolation, collections of secrets and `dump` never show the secret.
    @Test(arguments: kinds) func descriptionsNeverRevealTheSecret(_ kind: SecretKind) throws {
        var random = SplitMix64(seed: Self.seed ^ kind.salt ^ 0xD15C)
        for iteration in 0..<max(50, Self.iterations / 20) {
            let text = kind.wellFormed(using: &random)
            let secretPart = String(text.dropFirst(kind.prefix.count))
            let context = FuzzContext(seed: Self.seed, iteration: iteration, input: text)
            for shown in try kind.renderings(text) {
                #expect(!shown.contains(secretPart), "\(context) shown as \(shown)")
                // Not even a recognisable piece of it: no 8 consecutive characters of the random part.
                let pieces = (0...(secretPart.count - 8)).map { secretPart.dropFirst($0).prefix(8) }
                #expect(!pieces.contains { shown.contains($0) }, "\(context) partly shown as \(shown)")
            }
        }
    }

    /// A seed given in the environment must be readable: a typo must not silently run the default seed.
    @Test func seedSettingIsReadable() {
        guard let raw = ProcessInfo.processInfo.environment["CLOUDFLEET_FUZZ_SEED"], !raw.isEmpty else { return }
        #expect(FuzzSettings.parse(raw) != nil, "CLOUDFLEET_FUZZ_SEED=\(raw) is not a decimal or 0x… hexadecimal 64-bit number")
    }

    // MARK: Token IDs

    /// Token IDs: random and mutated text agrees with the reference (exactly 22 base62 characters), every accepted
    /// ID keeps its text, lower-cases as ASCII and round-trips through JSON, and refused text does not decode.
    @Test func tokenIDParserAgreesWithTheReference() throws {
        var random = SplitMix64(seed: Self.seed ^ 0x1D1D)
        var accepted = 0
        for iteration in 0..<(Self.iterations * 2) {
            let text: String
            switch iteration % 4 {
            case 0: text = Reference.randomBase62(count: 22, using: &random)
            case 1: text = Mutator.mutate(Reference.randomBase62(count: 22, using: &random), using: &random)
            case 2: text = FuzzAlphabet.randomText(maximumLength: 30, using: &random)
            default: text = Reference.randomBase62(count: random.index(below: 45), using: &random)
            }
            let context = FuzzContext(seed: Self.seed, iteration: iteration, input: text)
            let expected = Reference.isTokenID(text)
            let parsed = TokenID(text)
            #expect((parsed != nil) == expected, "\(context)")
            let json = try JSONEncoder().encode([text])
            let decoded = try? JSONDecoder().decode([TokenID].self, from: json)
            #expect((decoded != nil) == expected, "\(context)")
            guard let parsed else { continue }
            accepted += 1
            #expect(parsed.rawValue == text && parsed.description == text, "\(context)")
            #expect(parsed.lowercased == String(decoding: text.utf8.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self), "\(context)")
            #expect(decoded == [parsed], "\(context)")
            #expect(try JSONDecoder().decode(TokenID.self, from: JSONEncoder().encode(parsed)) == parsed, "\(context)")
        }
        #expect(accepted >= Self.iterations / 2, "seed \(Self.seed): only \(accepted) token IDs accepted")
        for length in [23, 1_000, 1_000_000] {
            #expect(TokenID(String(repeating: "A", count: length)) == nil)
        }
    }
}

// MARK: - Digests

extension SecretParserFuzzTests {
    /// `Base64URL` (and so every stored digest, cursor and JWK field) reads and writes exactly what the former
    /// implementation, string replacement around Foundation's base64, did: random bytes round-trip, and random
    /// text (base64 and base64url characters, padding, white space, Unicode) decodes to the same bytes or fails
    /// alike. Stored digests parse back to themselves.
    @Test func base64URLAgreesWithTheFormerImplementation() throws {
        var random = SplitMix64(seed: Self.seed ^ 0xB64)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/= \n\t.é\u{85}\u{A0}")
        for iteration in 0..<Self.iterations {
            let bytes = (0..<random.index(below: 70)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            let encoded = Base64URL.encode(bytes)
            #expect(encoded == FormerBase64URL.encode(bytes), "seed \(Self.seed) iteration \(iteration)")
            #expect(Base64URL.decode(encoded) == bytes, "seed \(Self.seed) iteration \(iteration)")
            let text =
                iteration % 2 == 0
                ? String((0..<random.index(below: 50)).map { _ in alphabet[random.index(below: alphabet.count)] })
                : Mutator.mutate(encoded, using: &random)
            #expect(Base64URL.decode(text) == FormerBase64URL.decode(text), "\(FuzzContext(seed: Self.seed, iteration: iteration, input: text))")
            // Stored digests are never empty (an empty one has no text after `$`, and is refused).
            let digest = SecretDigest(scheme: .hmacSHA256V1, bytes: [0xA5] + bytes.prefix(31))
            #expect(SecretDigest(storageString: digest.storageString) == digest)
        }
    }
}

/// `Base64URL` as it was written before it swapped the alphabet byte by byte: the reference of the test above.
enum FormerBase64URL {
    static func encode(_ bytes: some Collection<UInt8>) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ string: String) -> [UInt8]? {
        var base64 = string.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        guard !base64.contains("="), !base64.contains(where: { $0.isWhitespace }) else { return nil }
        let remainder = base64.count % 4
        if remainder == 1 { return nil }
        if remainder > 0 { base64 += String(repeating: "=", count: 4 - remainder) }
        return Data(base64Encoded: base64).map { Array($0) }
    }
}

// MARK: - The three secret kinds, seen alike

/// One kind of checksummed secret, with its parser wrapped so that all three can be tested alike.
struct SecretKind: Sendable, CustomTestStringConvertible {
    let name: String
    let prefix: String
    /// Mixed into the seed, so that each kind sees its own inputs.
    let salt: UInt64
    /// Parses `text` and answers what the parsed value reveals.
    let parse: @Sendable (String) throws(SecretFormatError) -> String
    let generate: @Sendable () -> String
    /// Every way the value may be turned into text without asking for it.
    let renderings: @Sendable (String) throws(SecretFormatError) -> [String]

    var testDescription: String { name }

    func verdict(_ text: String) -> Reference.Verdict {
        do throws(SecretFormatError) {
            _ = try parse(text)
            return .valid
        } catch {
            switch error {
            case .malformed: return .malformed
            case .badChecksum: return .badChecksum
            }
        }
    }

    /// A well-formed secret of this kind from the seeded generator.
    func wellFormed(using random: inout SplitMix64) -> String {
        Reference.checksummed(prefix + Reference.randomBase62(count: 40, using: &random))
    }

    static let tokenSecret = SecretKind(
        name: "TokenSecret", prefix: TokenSecret.prefix, salt: 0x1,
        parse: { text throws(SecretFormatError) in try TokenSecret(parsing: text).reveal },
        generate: { TokenSecret.generate().reveal },
        renderings: { text throws(SecretFormatError) in renderings(of: try TokenSecret(parsing: text)) })

    static let webhookCredential = SecretKind(
        name: "WebhookCredential", prefix: WebhookCredential.prefix, salt: 0x2,
        parse: { text throws(SecretFormatError) in try WebhookCredential(parsing: text).reveal },
        generate: { WebhookCredential.generate().reveal },
        renderings: { text throws(SecretFormatError) in renderings(of: try WebhookCredential(parsing: text)) })

    static let serviceCredential = SecretKind(
        name: "ServiceCredential", prefix: ServiceCredential.prefix, salt: 0x3,
        parse: { text throws(SecretFormatError) in try ServiceCredential(parsing: text).reveal },
        generate: { ServiceCredential.generate().reveal },
        renderings: { text throws(SecretFormatError) in renderings(of: try ServiceCredential(parsing: text)) })

    private static func renderings(of value: some CustomStringConvertible & CustomDebugStringConvertible & Sendable) -> [String] {
        var dumped = ""
        dump(value, to: &dumped)
        var dumpedInArray = ""
        dump([value], to: &dumpedInArray)
        return [
            value.description, value.debugDescription, "\(value)", String(describing: value), String(reflecting: value),
            "\([value])", "\(["key": value])", String(describing: Optional(value)), dumped, dumpedInArray,
            String(describing: Mirror(reflecting: value).children.map { "\($0.label ?? ""): \($0.value)" }),
        ]
    }
}

// MARK: - The reference

/// The secret format as documented, written over bytes, independently of the service's code: a prefix, 40 base62
/// characters and a 6-character base62 CRC-32 (IEEE) of everything before it.
enum Reference {
    enum Verdict: Equatable, CustomStringConvertible {
        case valid, malformed, badChecksum

        var description: String {
            switch self {
            case .valid: "valid"
            case .malformed: "malformed"
            case .badChecksum: "badChecksum"
            }
        }
    }

    static let digits = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    static func isBase62(_ byte: UInt8) -> Bool {
        (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte)
    }

    static func classify(_ text: String, prefix: String) -> Verdict {
        let bytes = Array(text.utf8)
        let head = Array(prefix.utf8)
        guard bytes.count == head.count + 46, bytes.starts(with: head), bytes[head.count...].allSatisfy(isBase62) else { return .malformed }
        let body = bytes[..<(head.count + 40)]
        return Array(bytes[(head.count + 40)...]) == base62(crc32(body)) ? .valid : .badChecksum
    }

    static func isTokenID(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.count == 22 && bytes.allSatisfy(isBase62)
    }

    /// `body` followed by its checksum.
    static func checksummed(_ body: String) -> String {
        body + String(decoding: base62(crc32(Array(body.utf8))), as: UTF8.self)
    }

    /// CRC-32 (polynomial 0xEDB88320, reflected), bit by bit.
    static func crc32(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    /// Six base62 digits, most significant first.
    static func base62(_ value: UInt32) -> [UInt8] {
        var remaining = UInt64(value)
        var result = [UInt8](repeating: digits[0], count: 6)
        for index in (0..<6).reversed() {
            result[index] = digits[Int(remaining % 62)]
            remaining /= 62
        }
        return result
    }

    static func randomBase62(count: Int, using random: inout SplitMix64) -> String {
        String(decoding: (0..<count).map { _ in digits[random.index(below: 62)] }, as: UTF8.self)
    }
}

// MARK: - Inputs

/// Damages a string in one to four ways.
enum Mutator {
    static func mutate(_ text: String, using random: inout SplitMix64) -> String {
        var bytes = Array(text.utf8)
        for _ in 0..<(1 + random.index(below: 4)) {
            switch random.index(below: 8) {
            case 0 where !bytes.isEmpty:  // flip one bit
                bytes[random.index(below: bytes.count)] ^= UInt8(1) << UInt8(random.index(below: 8))
            case 1 where !bytes.isEmpty:  // truncate
                bytes.removeLast(1 + random.index(below: bytes.count))
            case 2:  // insert a character
                bytes.insert(contentsOf: Array(String(FuzzAlphabet.any(using: &random)).utf8), at: random.index(below: bytes.count + 1))
            case 3 where !bytes.isEmpty:  // delete a byte
                bytes.remove(at: random.index(below: bytes.count))
            case 4 where bytes.count > 1:  // swap two bytes
                bytes.swapAt(random.index(below: bytes.count), random.index(below: bytes.count))
            case 5 where !bytes.isEmpty:  // duplicate a run
                let start = random.index(below: bytes.count)
                let end = min(bytes.count, start + 1 + random.index(below: 8))
                bytes.insert(contentsOf: Array(bytes[start..<end]), at: end)
            case 6:  // replace a byte by any byte, even one that is not UTF-8
                if !bytes.isEmpty { bytes[random.index(below: bytes.count)] = UInt8(truncatingIfNeeded: random.next()) }
            default:  // grow to a large size
                if random.index(below: 16) == 0 { bytes += Array(repeating: UInt8(ascii: "a"), count: 10_000 + random.index(below: 100_000)) }
            }
        }
        // Invalid UTF-8 becomes U+FFFD, as when a header or a file is decoded.
        return String(decoding: bytes, as: UTF8.self)
    }
}
