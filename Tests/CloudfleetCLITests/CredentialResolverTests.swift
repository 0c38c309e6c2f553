import CloudfleetClient
import Testing

@Suite struct CredentialResolverTests {
    static let profile = Profile(
        organizationID: "0f5e0a59-86a2-4d43-9bd6-3d8d3a3c1f00", tokenID: "nFYyVdtg8K1aDujwk3YFh1", tokenSecret: "cfs_profile",
        apiURL: "http://profile.example")
    static let configuration = CLIConfiguration(defaultProfile: "main", profiles: ["main": profile, "other": profile])
    static let environmentCredentials = [
        "CLOUDFLEET_ORGANIZATION_ID": "org-env", "CLOUDFLEET_TOKEN_ID": "id-env", "CLOUDFLEET_TOKEN_SECRET": "cfs_env",
    ]

    @Test func theDefaultProfileIsTheFallback() throws {
        let resolved = try CredentialResolver.resolve(profile: nil, apiURL: nil, configuration: Self.configuration, environment: [:])
        #expect(resolved.profileName == "main")
        #expect(resolved.apiURL == "http://profile.example")
    }

    @Test func environmentCredentialsBeatTheDefaultProfileAndNeedNoFile() throws {
        let resolved = try CredentialResolver.resolve(
            profile: nil, apiURL: nil, configuration: CLIConfiguration(), environment: Self.environmentCredentials)
        #expect(resolved.source == "environment")
        #expect(resolved.tokenSecret == "cfs_env")
        #expect(resolved.apiURL == CredentialResolver.defaultAPIURL)
        let overDefault = try CredentialResolver.resolve(
            profile: nil, apiURL: nil, configuration: Self.configuration, environment: Self.environmentCredentials)
        #expect(overDefault.source == "environment")
    }

    @Test func anExplicitProfileBeatsEverything() throws {
        var environment = Self.environmentCredentials
        environment["CLOUDFLEET_PROFILE"] = "main"
        let viaVariable = try CredentialResolver.resolve(profile: nil, apiURL: nil, configuration: Self.configuration, environment: environment)
        #expect(viaVariable.profileName == "main")
        let viaFlag = try CredentialResolver.resolve(profile: "other", apiURL: nil, configuration: Self.configuration, environment: environment)
        #expect(viaFlag.profileName == "other")
    }

    @Test func apiURLOverrides() throws {
        let environment = ["CLOUDFLEET_API_URL": "http://env.example"]
        let fromVariable = try CredentialResolver.resolve(profile: nil, apiURL: nil, configuration: Self.configuration, environment: environment)
        #expect(fromVariable.apiURL == "http://env.example")
        let fromFlag = try CredentialResolver.resolve(
            profile: nil, apiURL: "http://flag.example", configuration: Self.configuration, environment: environment)
        #expect(fromFlag.apiURL == "http://flag.example")
    }

    @Test func clearFailures() {
        #expect(throws: CredentialResolver.Failure.self) {
            try CredentialResolver.resolve(profile: "missing", apiURL: nil, configuration: Self.configuration, environment: [:])
        }
        #expect(throws: CredentialResolver.Failure.self) {
            try CredentialResolver.resolve(profile: nil, apiURL: nil, configuration: CLIConfiguration(), environment: [:])
        }
        #expect(throws: CredentialResolver.Failure.self) {
            try CredentialResolver.resolve(
                profile: nil, apiURL: nil, configuration: CLIConfiguration(), environment: ["CLOUDFLEET_TOKEN_ID": "only-this"])
        }
    }
}
