import CloudfleetAPI
import CloudfleetCore
import CloudfleetTestSupport
import Foundation
import Testing

@testable import CloudfleetCLI
@testable import CloudfleetClient

/// The exec plugin's cache-hit path taken before the command-line parser starts: it answers exactly what the full
/// command prints on a hit, for exactly the arguments kubeconfig entries hold, and leaves everything else to the
/// full command.
@Suite struct ExecCredentialFastPathTests {
    static let clusterID = "56b474bb-5ba1-4261-938a-f23d1b724866"
    static let tokenID = "nFYyVdtg8K1aDujwk3YFh1"
    static let organizationID = "3f0c1c3e-0000-4000-8000-000000000001"

    /// A configuration directory with profiles `ci` (the default) and `other`, and a cached cluster token of `ci`.
    struct Fixture {
        let directory: String
        let secret = TokenSecret.generate().reveal
        let issuedAt = Date(timeIntervalSince1970: 2_000_000_000)
        var environment: [String: String] { ["CLOUDFLEET_CONFIG_DIR": directory, "HOME": directory] }

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("fast-path-\(UUID())").path
            let profile = Profile(organizationID: organizationID, tokenID: tokenID, tokenSecret: secret, apiURL: "https://api.example")
            let other = Profile(
                organizationID: organizationID, tokenID: tokenID, tokenSecret: TokenSecret.generate().reveal, apiURL: "https://api.example")
            try ConfigurationStore(environment: environment).save(
                CLIConfiguration(defaultProfile: "ci", profiles: ["ci": profile, "other": other]))
            ClusterTokenFileCache(directory: directory + "/cache").store(
                "cached.cluster.token", issuedAt: issuedAt, expiresAt: issuedAt.addingTimeInterval(600), apiURL: "https://api.example",
                tokenID: tokenID, secret: secret, clusterID: clusterID)
        }

        func remove() { try? FileManager.default.removeItem(atPath: directory) }
    }

    @Test func aHitIsWhatTheFullCommandPrints() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        let now = fixture.issuedAt.addingTimeInterval(30)
        let expected = try ExecCredentialOutput.render(
            token: "cached.cluster.token", expiresAt: fixture.issuedAt.addingTimeInterval(600), apiVersion: "client.authentication.k8s.io/v1")
        for arguments in [
            ["clusters", "exec-credential", Self.clusterID, "--profile", "ci"],
            ["clusters", "exec-credential", Self.clusterID.uppercased(), "--profile=ci"],
            ["clusters", "exec-credential", Self.clusterID, "--profile", "ci", "--api-url", "https://api.example"],
            ["clusters", "exec-credential", Self.clusterID, "--api-url=https://api.example", "--profile", "ci"],
            ["clusters", "exec-credential", Self.clusterID],  // the default profile
        ] {
            #expect(ExecCredentialFastPath.answer(arguments: arguments, environment: fixture.environment, now: now) == expected, "\(arguments)")
        }
        // The version kubectl asks for is answered, as by the full command.
        let beta = #"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{"interactive":false}}"#
        var environment = fixture.environment
        environment["KUBERNETES_EXEC_INFO"] = beta
        let answer = ExecCredentialFastPath.answer(
            arguments: ["clusters", "exec-credential", Self.clusterID, "--profile", "ci"], environment: environment, now: now)
        #expect(answer?.contains(#""apiVersion":"client.authentication.k8s.io/v1beta1""#) == true)
    }

    @Test func everythingButAFreshHitGoesToTheFullCommand() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        let now = fixture.issuedAt.addingTimeInterval(30)
        let misses: [[String]] = [
            ["clusters", "exec-credential", Self.clusterID, "--profile", "other"],  // another secret: another entry
            ["clusters", "exec-credential", Self.clusterID, "--profile", "nobody"],  // the full command names the error
            ["clusters", "exec-credential", "56b474bb-5ba1-4261-938a-000000000000", "--profile", "ci"],
            ["clusters", "exec-credential", "not-a-cluster-id", "--profile", "ci"],
            ["clusters", "exec-credential", Self.clusterID, "--profile", "ci", "--api-url", "https://elsewhere.example"],
        ]
        for arguments in misses {
            #expect(ExecCredentialFastPath.answer(arguments: arguments, environment: fixture.environment, now: now) == nil, "\(arguments)")
        }
        let arguments = ["clusters", "exec-credential", Self.clusterID, "--profile", "ci"]
        // Close to expiry (a minute before it), the full command exchanges a new token.
        #expect(
            ExecCredentialFastPath.answer(arguments: arguments, environment: fixture.environment, now: fixture.issuedAt.addingTimeInterval(541))
                == nil)
        // Environment credentials select another token.
        var environment = fixture.environment
        environment["CLOUDFLEET_PROFILE"] = "other"
        #expect(ExecCredentialFastPath.answer(arguments: ["clusters", "exec-credential", Self.clusterID], environment: environment, now: now) == nil)
        // No configuration at all.
        #expect(
            ExecCredentialFastPath.answer(arguments: arguments, environment: ["CLOUDFLEET_CONFIG_DIR": fixture.directory + "/none"], now: now) == nil)
    }

    @Test(arguments: [
        [], ["clusters"], ["clusters", "exec-credential"], ["clusters", "list"], ["tokens", "list"],
        ["clusters", "--profile", "ci", "exec-credential", "56b474bb-5ba1-4261-938a-f23d1b724866"], ["clusters", "exec-credential", "--help"],
        ["clusters", "exec-credential", "56b474bb-5ba1-4261-938a-f23d1b724866", "--help"],
        ["clusters", "exec-credential", "56b474bb-5ba1-4261-938a-f23d1b724866", "-o", "json"],
        ["clusters", "exec-credential", "56b474bb-5ba1-4261-938a-f23d1b724866", "--profile"],
        ["clusters", "exec-credential", "56b474bb-5ba1-4261-938a-f23d1b724866", "--profile", "--api-url"],
        ["clusters", "exec-credential", "56b474bb-5ba1-4261-938a-f23d1b724866", "--profile", "ci", "--profile", "ci"],
        ["clusters", "exec-credential", "56b474bb-5ba1-4261-938a-f23d1b724866", "--profile="],
        ["clusters", "exec-credential", "56b474bb-5ba1-4261-938a-f23d1b724866", "extra"],
        ["clusters", "exec-credential", "56b474bb-5ba1-4261-938a-f23d1b724866", "--", "--profile", "ci"],
        ["clusters", "exec-credential", "56b474bb-5ba1-4261-938a-f23d1b724866", "--version"], ["--version"], ["--help"],
    ])
    func otherArgumentsAreLeftToTheParser(_ arguments: [String]) {
        #expect(ExecCredentialFastPath.Request(arguments) == nil)
    }

    @Test func theArgumentsKubeconfigWritesAreRecognised() throws {
        let entries = KubeconfigEntries(
            clusterID: Self.clusterID, clusterName: "prod", server: "https://203.0.113.10:6443", caBundle: nil, profile: "ci",
            command: "cloudfleet", apiURL: "https://api.example")
        let request = try #require(ExecCredentialFastPath.Request(entries.user.user.exec.args))
        #expect(request.clusterID == Self.clusterID && request.profile == "ci" && request.apiURL == "https://api.example")
    }

    /// The hand-written timestamp and ExecCredential are the text Foundation and JSONEncoder give, for seeded random
    /// expiries (fractions of a second included) and tokens of JWT characters; other tokens go to the full path.
    @Test func plainRenderingIsTheFullCommandsText() throws {
        var generator = SplitMix64(seed: 0xE8EC)
        let jwtCharacters = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
        for _ in 0..<2_000 {
            let date = Date(timeIntervalSince1970: Double.random(in: 0..<253_402_300_800, using: &generator))
            let text = try #require(UTCTimestamp.format(date))
            #expect(text == date.formatted(.iso8601), "\(date.timeIntervalSince1970)")
            #expect(UTCTimestamp.parse(text) == Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down)))
            #expect(UTCTimestamp.parse(text) == (try? Date(text, strategy: .iso8601)))
            let token = String((0..<Int.random(in: 1...900, using: &generator)).map { _ in jwtCharacters.randomElement(using: &generator) ?? "a" })
            for version in ExecCredentialOutput.supportedVersions {
                #expect(
                    ExecCredentialOutput.renderPlain(token: token, expiresAt: date, apiVersion: version)
                        == (try ExecCredentialOutput.render(token: token, expiresAt: date, apiVersion: version)))
            }
        }
        for token in ["a\"b", "a\\b", "a/b", "ü", "a b", "a\nb", ""] where !token.isEmpty {
            #expect(ExecCredentialOutput.renderPlain(token: token, expiresAt: Date(), apiVersion: ExecCredentialOutput.supportedVersions[0]) == nil)
        }
        for text in [
            "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:00:00+01:00", "1969-12-31T23:59:59Z",
            "2026-01-01 00:00:00Z",
        ] {
            #expect(UTCTimestamp.parse(text) == nil, "\(text)")
        }
        #expect(UTCTimestamp.parse("2024-02-29T12:34:56Z") == (try? Date("2024-02-29T12:34:56Z", strategy: .iso8601)))
    }

    /// Cache files keep their names (a lower-case hex SHA-256 prefix), so entries written by earlier versions are
    /// still found.
    @Test func cacheFileNamesAreUnchanged() {
        let cluster = ClusterTokenFileCache(directory: "/c")
        #expect(
            cluster.path(apiURL: "https://a", tokenID: "t", secret: "s1", clusterID: Self.clusterID.uppercased())
                == "/c/cluster-token-6a7aa5ac26a81c0344a7adf4516dd947.json")
        #expect(
            AccessTokenFileCache(directory: "/c").path(apiURL: "https://a", tokenID: "t", secret: "s1")
                == "/c/access-token-2837ce152a809fdca121900783bb8312.json")
        #expect(Hex.lowercase([0x00, 0x0F, 0xA0, 0xFF]) == "000fa0ff")
    }
}
