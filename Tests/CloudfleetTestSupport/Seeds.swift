import Foundation

/// Seeded randomness shared by the test targets: the parser fuzz tests and the JSON writer's comparison with
/// `JSONEncoder`. `CLOUDFLEET_FUZZ_SEED` and `CLOUDFLEET_FUZZ_ITERATIONS` choose the inputs and how many.

// MARK: - Seeds

/// SplitMix64: small, fast and deterministic, so that every run with one seed sees the same inputs.
public struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    public init(seed: UInt64) { self.state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform index in `0..<bound` (`bound` > 0).
    public mutating func index(below bound: Int) -> Int {
        Int.random(in: 0..<bound, using: &self)
    }
}

/// The seed and the size of a run, from the environment or the defaults.
public enum FuzzSettings {
    public static let defaultSeed: UInt64 = 0xC10D_F1EE_7F00_2026
    public static let defaultIterations = 3_000

    public static var seed: UInt64 {
        guard let raw = ProcessInfo.processInfo.environment["CLOUDFLEET_FUZZ_SEED"]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty
        else { return defaultSeed }
        return parse(raw) ?? defaultSeed
    }

    /// A seed written in decimal or as `0x…` hexadecimal.
    public static func parse(_ raw: String) -> UInt64? {
        let lowered = raw.trimmingCharacters(in: .whitespaces).lowercased()
        return lowered.hasPrefix("0x") ? UInt64(lowered.dropFirst(2), radix: 16) : UInt64(lowered)
    }

    public static var iterations: Int {
        guard let raw = ProcessInfo.processInfo.environment["CLOUDFLEET_FUZZ_ITERATIONS"], let value = Int(raw), value > 0 else {
            return defaultIterations
        }
        return value
    }
}

/// What a failure prints: enough to replay it.
public struct FuzzContext: CustomStringConvertible {
    public let seed: UInt64
    public let iteration: Int
    public let input: String

    public init(seed: UInt64, iteration: Int, input: String) {
        self.seed = seed
        self.iteration = iteration
        self.input = input
    }

    public var description: String {
        let shown = input.utf8.count > 200 ? String(input.prefix(100)) + "… (\(input.utf8.count) bytes)" : input
        return "replay with CLOUDFLEET_FUZZ_SEED=0x\(String(seed, radix: 16)) (iteration \(iteration)); input \(String(reflecting: shown))"
    }
}

/// Characters the random inputs are drawn from: base62, punctuation and white space, control characters, and
/// Unicode that looks like ASCII, combines with it, or is wider than a byte.
public enum FuzzAlphabet {
    public static let characters: [Character] =
        Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
        + Array("_-.:$/+=%!~ ,;'\"\\{}[]()<>")
        + ["\u{0}", "\t", "\n", "\r\n", "\u{7F}", "\u{1B}"]
        + ["é", "e\u{301}", "\u{301}", "ß", "İ", "ﬀ", "０", "Ａ", "ａ", "\u{200B}", "\u{200D}", "\u{FEFF}", "\u{202E}", "\u{FFFD}"]
        + ["ç", "с", "ѕ", "ƒ", "👍", "👍🏽", "👨‍👩‍👧", "🇨🇭", "𝟘", "\u{10FFFF}"]

    public static func any(using random: inout SplitMix64) -> Character {
        characters[random.index(below: characters.count)]
    }

    public static func randomText(maximumLength: Int, using random: inout SplitMix64) -> String {
        String((0..<random.index(below: maximumLength + 1)).map { _ in any(using: &random) })
    }
}
