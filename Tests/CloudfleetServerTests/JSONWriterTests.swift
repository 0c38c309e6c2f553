import CloudfleetAPI
import CloudfleetTestSupport
import Foundation
import Testing

@testable import CloudfleetServer

/// The hand-written JSON of the hot responses must be byte for byte what the server's `JSONEncoder` writes for the
/// same value: random values from a seeded generator (`CLOUDFLEET_FUZZ_SEED`), with every control character,
/// quotes, backslashes, slashes and non-ASCII text, and dates across the whole range the writer handles itself.
@Suite struct JSONWriterTests {
    static let seed = FuzzSettings.seed
    static let iterations = max(200, FuzzSettings.iterations / 5)
    let encoder = AppRequestContext.makeResponseEncoder()

    /// Text from the fuzz alphabet, every C0 control character and the characters JSON escapes.
    static func text(_ random: inout SplitMix64) -> String {
        var text = ""
        for _ in 0..<random.index(below: 24) {
            switch random.index(below: 4) {
            case 0: text.unicodeScalars.append(Unicode.Scalar(UInt8(random.index(below: 0x20))))
            case 1: text.append(["\"", "\\", "/", "\u{7F}", "\u{2028}", "\u{2029}"][random.index(below: 6)])
            default: text.append(FuzzAlphabet.any(using: &random))
            }
        }
        return text
    }

    static func date(_ random: inout SplitMix64) -> Date {
        switch random.index(below: 4) {
        // 0001-01-01 … 9999-12-31 (Foundation's own range before 1970), with fractions of a second.
        case 0: Date(timeIntervalSince1970: Double(Int64.random(in: -62_135_596_800...253_402_300_799, using: &random)) + 0.999)
        case 1: Date(timeIntervalSince1970: Double(Int64.random(in: -86_400 * 800...86_400 * 800, using: &random)) + 0.5)
        // Leap days and the turns of centuries.
        case 2: Date(timeIntervalSince1970: [951_782_400, 951_868_799, 4_107_542_400, -2_203_891_200, 1_709_164_800][random.index(below: 5)])
        default: Date(timeIntervalSince1970: Double(Int32.random(in: 0...Int32.max, using: &random)))
        }
    }

    static func optional<T>(_ random: inout SplitMix64, _ make: (inout SplitMix64) -> T) -> T? {
        random.index(below: 3) == 0 ? nil : make(&random)
    }

    static func token(_ random: inout SplitMix64) -> Token {
        Token(
            id: text(&random), name: text(&random), role: text(&random), organizationID: text(&random), kubernetesUsername: text(&random),
            secretGeneration: Int.random(in: Int.min...Int.max, using: &random), createdAt: date(&random), updatedAt: date(&random),
            secretRotatedAt: date(&random), lastUsedAt: optional(&random, date), lastUsedIP: optional(&random, text),
            lastUsedUserAgent: optional(&random, text), secretLastUsedAt: optional(&random, date), expiresAt: optional(&random, date),
            allowedCIDRs: (0..<random.index(below: 4)).map { _ in text(&random) }, previousSecretValidUntil: optional(&random, date),
            previousSecretLastUsedAt: optional(&random, date), createdBy: text(&random))
    }

    private func expectSameBytes(_ value: some JSONWritable & Encodable, _ iteration: Int) throws {
        let expected = try encoder.encode(value)
        let written = value.jsonBytes
        // Bytes, not Strings: String equality would forgive differences in Unicode normalization.
        let same = written == Array(expected)
        #expect(
            same,
            "seed 0x\(String(Self.seed, radix: 16)) iteration \(iteration):\n\(String(decoding: written, as: UTF8.self))\n\(String(decoding: expected, as: UTF8.self))"
        )
    }

    @Test func tokensAndTokensWithSecretsMatchJSONEncoder() throws {
        var random = SplitMix64(seed: Self.seed ^ 0x4A53_4F4E)
        for iteration in 0..<Self.iterations {
            let token = Self.token(&random)
            try expectSameBytes(token, iteration)
            try expectSameBytes(TokenWithSecret(token: token, secret: Self.text(&random)), iteration)
        }
    }

    @Test func currentTokensMatchJSONEncoder() throws {
        var random = SplitMix64(seed: Self.seed ^ 0x5345_4C46)
        for iteration in 0..<Self.iterations {
            try expectSameBytes(
                CurrentToken(
                    id: Self.text(&random), name: Self.text(&random), role: Self.text(&random), organizationID: Self.text(&random),
                    kubernetesUsername: Self.text(&random), expiresAt: Self.optional(&random, Self.date), credential: Self.text(&random),
                    secretInUse: Self.text(&random)), iteration)
        }
    }

    @Test func tokenReviewsMatchJSONEncoder() throws {
        typealias Review = TokenReviewController.TokenReviewResponse
        var random = SplitMix64(seed: Self.seed ^ 0x5245_5649)
        for iteration in 0..<Self.iterations {
            var extra: [String: [String]] = [:]
            for _ in 0..<random.index(below: 4) { extra[Self.text(&random)] = (0..<random.index(below: 3)).map { _ in Self.text(&random) } }
            let user = Review.User(
                username: Self.text(&random), uid: Self.text(&random), groups: (0..<random.index(below: 3)).map { _ in Self.text(&random) },
                extra: extra)
            let authenticated = random.index(below: 2) == 0
            try expectSameBytes(
                Review(apiVersion: Self.text(&random), status: .init(authenticated: authenticated, user: authenticated ? user : nil)), iteration)
        }
    }

    /// The writer passes over eight bytes at a time: each byte JSON escapes, and its neighbours just outside the
    /// escaped set, at every position of strings that span up to three words, after ASCII and after multi-byte text.
    @Test func everyEscapedByteAtEveryPositionMatchesJSONEncoder() throws {
        let specials = (0..<0x20).map { UInt8($0) } + [UInt8(ascii: "\""), UInt8(ascii: "\\"), 0x20, 0x21, 0x23, 0x5B, 0x5D, 0x7F]
        for filler in ["a", "é"] {
            for length in 1...24 {
                for position in 0..<length {
                    for special in specials {
                        var text = String(repeating: filler, count: length - 1)
                        text.insert(Character(Unicode.Scalar(special)), at: text.index(text.startIndex, offsetBy: position))
                        var writer = JSONWriter()
                        writer.string(text)
                        let expected = Array(try encoder.encode(text))
                        #expect(writer.bytes == expected, "byte 0x\(String(special, radix: 16)) at \(position) of \(length) after \(filler)")
                    }
                }
            }
        }
    }

    @Test func datesOutsideTheCalendarFastPathStillFormat() {
        // Dates before 1970 and after 9999 go through Foundation; the writer must not trap on them.
        for seconds in [-62_135_596_801.0, 253_402_300_800.0, -1e12, 1e12] {
            var writer = JSONWriter()
            writer.date(Date(timeIntervalSince1970: seconds))
            #expect(writer.bytes.count > 2)
        }
    }
}
