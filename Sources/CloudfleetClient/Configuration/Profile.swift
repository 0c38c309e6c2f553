import Foundation

/// A named set of credentials in the CLI configuration.
public struct Profile: Codable, Sendable, Equatable {
    /// The kind of credential; `token` is the only kind so far (humans will sign in with SSO).
    public var type: String
    public var organizationID: String
    public var tokenID: String
    public var tokenSecret: String
    public var apiURL: String

    public init(organizationID: String, tokenID: String, tokenSecret: String, apiURL: String) {
        self.type = "token"
        self.organizationID = organizationID
        self.tokenID = tokenID
        self.tokenSecret = tokenSecret
        self.apiURL = apiURL
    }

    enum CodingKeys: String, CodingKey {
        case type
        case organizationID = "organization_id"
        case tokenID = "token_id"
        case tokenSecret = "token_secret"
        case apiURL = "api_url"
    }
}

/// `config.json` in the configuration directory: the profiles and which one is the default.
public struct CLIConfiguration: Codable, Sendable, Equatable {
    public var defaultProfile: String?
    public var profiles: [String: Profile]

    public init(defaultProfile: String? = nil, profiles: [String: Profile] = [:]) {
        self.defaultProfile = defaultProfile
        self.profiles = profiles
    }

    enum CodingKeys: String, CodingKey {
        case defaultProfile = "default_profile"
        case profiles
    }
}
