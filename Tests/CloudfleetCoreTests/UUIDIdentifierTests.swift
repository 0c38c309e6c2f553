import CloudfleetCore
import CloudfleetTestSupport
import Foundation
import Testing

/// The UUID text of organization, cluster and user IDs is written and read by hand (for speed); these seeded
/// tests hold it to Foundation's `uuidString` and `UUID(uuidString:)` on random UUIDs, and to the canonical form
/// on random near-misses.
@Suite struct UUIDIdentifierTests {
    static let seed: UInt64 = FuzzSettings.seed
    static let iterations: Int = FuzzSettings.iterations

    private static func randomUUID(using random: inout SplitMix64) -> UUID {
        let a = random.next()
        let b = random.next()
        return withUnsafeBytes(of: (a, b)) { bytes in
            UUID(
                uuid: (
                    bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9], bytes[10],
                    bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
                ))
        }
    }

    /// Text as Foundation writes it, lower-cased; parsed back from lower, upper and mixed case alike.
    @Test func textMatchesFoundationAndRoundTrips() throws {
        var random = SplitMix64(seed: Self.seed ^ 0x0055_1D00)
        for iteration in 0..<Self.iterations {
            let uuid = Self.randomUUID(using: &random)
            let id = OrganizationID(uuid)
            let context = FuzzContext(seed: Self.seed, iteration: iteration, input: uuid.uuidString)
            #expect(id.description == uuid.uuidString.lowercased(), "\(context)")
            #expect(ClusterID(uuid.uuidString)?.uuid == uuid, "\(context)")
            #expect(OrganizationID(id.description) == id, "\(context)")
            let mixed = String(uuid.uuidString.map { random.next() & 1 == 0 ? Character($0.lowercased()) : $0 })
            #expect(OrganizationID(mixed) == id, "\(context)")
        }
        #expect(OrganizationID(UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))).description == "00000000-0000-0000-0000-000000000000")
        let ones = UUID(uuid: (255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255))
        #expect(ClusterID(ones).description == "ffffffff-ffff-ffff-ffff-ffffffffffff")
    }

    /// Near-misses (one character changed, removed or added; dashes moved; spaces, braces, Unicode digits) and
    /// random text are accepted exactly when they are canonical UUID text, and then as the UUID Foundation reads.
    @Test func parsingAcceptsCanonicalTextOnly() {
        // `8-4-4-4-12` hexadecimal digits of either case, nothing else.
        let canonical = #/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}/#
        var random = SplitMix64(seed: Self.seed ^ 0x0055_1D01)
        for iteration in 0..<Self.iterations {
            var characters = Array(Self.randomUUID(using: &random).uuidString)
            switch random.index(below: 5) {
            case 0: characters[random.index(below: characters.count)] = FuzzAlphabet.any(using: &random)
            case 1: characters.remove(at: random.index(below: characters.count))
            case 2: characters.insert(FuzzAlphabet.any(using: &random), at: random.index(below: characters.count + 1))
            case 3: characters.swapAt(random.index(below: characters.count), random.index(below: characters.count))
            default: characters = Array(FuzzAlphabet.randomText(maximumLength: 40, using: &random))
            }
            let text = String(characters)
            let context = FuzzContext(seed: Self.seed, iteration: iteration, input: text)
            let parsed = ClusterID(text)
            #expect((parsed != nil) == (text.wholeMatch(of: canonical) != nil), "\(context)")
            if let parsed { #expect(UUID(uuidString: text) == parsed.uuid, "\(context)") }
        }
        // Foundation's parser on Linux (sscanf) also takes signs, spaces and `0x` inside the groups; IDs do not.
        for text in ["DA7523F2-7A4A-0B7F-0x51-28D2502C54BB", "C4CB331C-6946-2633- D6B-EF2AB8CCD01C", "FFF17B97-+FC4-8E85-69BD-0FF63A8D7024"] {
            #expect(ClusterID(text) == nil, "\(text)")
        }
        for text in ["", "{00000000-0000-0000-0000-000000000000}", " 00000000-0000-0000-0000-000000000000", "000000000000000000000000000000000000"] {
            #expect(ClusterID(text) == nil, "\(text)")
        }
    }
}
