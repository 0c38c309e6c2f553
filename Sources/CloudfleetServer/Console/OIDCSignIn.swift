import AsyncHTTPClient
import CloudfleetCore
import Crypto
import Foundation
import JWTKit
import NIOCore
import NIOHTTP1

/// How the console signs people in through an OpenID Connect provider: `--oidc-issuer`, `--oidc-client-id` and
/// the client secret from `--oidc-client-secret-file` or `CLOUDFLEET_OIDC_CLIENT_SECRET`.
public struct OIDCClientConfiguration: Sendable, CustomStringConvertible {
    /// The provider's issuer URL, exactly as its ID tokens write `iss`.
    public var issuer: String
    public var clientID: String
    /// The client secret; redacted in every description.
    public var clientSecret: String

    public init(issuer: String, clientID: String, clientSecret: String) {
        self.issuer = issuer
        self.clientID = clientID
        self.clientSecret = clientSecret
    }

    public var description: String { "OIDC(issuer: \(issuer), client: \(clientID), secret: [REDACTED])" }
}

/// The authorization-code flow with PKCE against the configured provider: builds the authorization request,
/// then exchanges the code and verifies the ID token (signature against the provider's JWKS, `iss`, `aud`,
/// `exp`, `nonce`) and returns who signed in. The provider's metadata and keys are fetched on first use and
/// the keys again when a token names an unknown key.
actor OIDCSignIn {
    /// What one sign-in attempt must remember between the redirect to the provider and the return: kept in a
    /// sealed, short-lived cookie, so every node can finish an attempt another node started.
    struct Attempt: Codable, Sendable, Equatable {
        var state: String
        var nonce: String
        var verifier: String
        var expiresAt: Date
    }

    /// The person the provider vouches for.
    struct Identity: Sendable, Equatable {
        /// `<issuer>#<sub>`, bound to the user on the first sign-in.
        var subject: String
        var email: String
        var emailVerified: Bool
    }

    /// A sign-in that failed for a reason to show to the person (never a secret or a token).
    struct Failure: Error, Sendable, Equatable {
        let message: String
    }

    private struct ProviderMetadata: Decodable {
        let issuer: String
        let authorizationEndpoint: String
        let tokenEndpoint: String
        let jwksURI: String
        let tokenEndpointAuthMethodsSupported: [String]?

        enum CodingKeys: String, CodingKey {
            case issuer
            case authorizationEndpoint = "authorization_endpoint"
            case tokenEndpoint = "token_endpoint"
            case jwksURI = "jwks_uri"
            case tokenEndpointAuthMethodsSupported = "token_endpoint_auth_methods_supported"
        }
    }

    private struct TokenResponse: Decodable {
        let idToken: String?
        enum CodingKeys: String, CodingKey { case idToken = "id_token" }
    }

    /// The claims of an ID token the console reads.
    struct IDToken: JWTIdentityToken {
        var issuer: IssuerClaim
        var subject: SubjectClaim
        var audience: AudienceClaim
        var expiration: ExpirationClaim
        var nonce: String?
        var email: String?
        var emailVerified: Bool?

        enum CodingKeys: String, CodingKey {
            case issuer = "iss", subject = "sub", audience = "aud", expiration = "exp", nonce, email
            case emailVerified = "email_verified"
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            issuer = try container.decode(IssuerClaim.self, forKey: .issuer)
            subject = try container.decode(SubjectClaim.self, forKey: .subject)
            audience = try container.decode(AudienceClaim.self, forKey: .audience)
            expiration = try container.decode(ExpirationClaim.self, forKey: .expiration)
            nonce = try container.decodeIfPresent(String.self, forKey: .nonce)
            email = try container.decodeIfPresent(String.self, forKey: .email)
            // Some providers write the boolean as a string.
            if let flag = try? container.decodeIfPresent(Bool.self, forKey: .emailVerified) {
                emailVerified = flag
            } else {
                emailVerified = (try? container.decodeIfPresent(String.self, forKey: .emailVerified)) == "true"
            }
        }

        func verify(using algorithm: some JWTAlgorithm) async throws {
            try expiration.verifyNotExpired()
        }
    }

    /// How long a person has to finish signing in at the provider.
    static let attemptLifetime: TimeInterval = 600
    private static let maximumResponseBytes = 1 << 20

    let configuration: OIDCClientConfiguration
    /// `<public URL>/console/sign-in/callback`, registered with the provider.
    let redirectURI: String
    private let httpClient: HTTPClient
    private let clock: @Sendable () -> Date
    private var metadata: ProviderMetadata?
    private var keys: JWTKeyCollection?
    private var keysFetchedAt: Date?

    init(configuration: OIDCClientConfiguration, redirectURI: String, httpClient: HTTPClient = .shared, clock: @escaping @Sendable () -> Date) {
        self.configuration = configuration
        self.redirectURI = redirectURI
        self.httpClient = httpClient
        self.clock = clock
    }

    /// Starts an attempt: a fresh state, nonce and PKCE verifier, and the provider URL to send the browser to.
    func begin() async throws -> (url: String, attempt: Attempt) {
        let metadata = try await providerMetadata()
        let attempt = Attempt(
            state: Self.randomToken(), nonce: Self.randomToken(), verifier: Self.randomToken(),
            expiresAt: clock().addingTimeInterval(Self.attemptLifetime))
        guard var components = URLComponents(string: metadata.authorizationEndpoint) else {
            throw Failure(message: "The identity provider's authorization endpoint is not a URL.")
        }
        components.queryItems =
            (components.queryItems ?? []) + [
                URLQueryItem(name: "response_type", value: "code"),
                URLQueryItem(name: "client_id", value: configuration.clientID),
                URLQueryItem(name: "redirect_uri", value: redirectURI),
                URLQueryItem(name: "scope", value: "openid email profile"),
                URLQueryItem(name: "state", value: attempt.state),
                URLQueryItem(name: "nonce", value: attempt.nonce),
                URLQueryItem(name: "code_challenge", value: Self.codeChallenge(for: attempt.verifier)),
                URLQueryItem(name: "code_challenge_method", value: "S256"),
            ]
        // `+` is legal in a query but means a space to form decoders; spell it out.
        components.percentEncodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        guard let url = components.url?.absoluteString else {
            throw Failure(message: "The identity provider's authorization endpoint is not a URL.")
        }
        return (url, attempt)
    }

    /// Finishes an attempt: exchanges `code` with the PKCE verifier and verifies the ID token it returns.
    func complete(code: String, attempt: Attempt) async throws -> Identity {
        let metadata = try await providerMetadata()
        let idToken = try await exchange(code: code, verifier: attempt.verifier, metadata: metadata)
        let claims = try await verify(idToken)
        guard claims.issuer.value == configuration.issuer else {
            throw Failure(message: "The identity provider's token names another issuer.")
        }
        guard let nonce = claims.nonce, ConstantTime.equals(Array(nonce.utf8), Array(attempt.nonce.utf8)) else {
            throw Failure(message: "The identity provider's token does not belong to this sign-in attempt.")
        }
        guard let email = claims.email, !email.isEmpty else {
            throw Failure(message: "The identity provider did not share an email address; allow the email scope.")
        }
        return Identity(subject: configuration.issuer + "#" + claims.subject.value, email: email, emailVerified: claims.emailVerified ?? false)
    }

    /// The S256 code challenge of a PKCE verifier (RFC 7636 §4.2).
    static func codeChallenge(for verifier: String) -> String {
        Base64URL.encode(Array(SHA256.hash(data: Array(verifier.utf8))))
    }

    /// 32 bytes from the system CSPRNG, base64url: a state, nonce or PKCE verifier (43 characters).
    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return Base64URL.encode((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    // MARK: Provider

    private func providerMetadata() async throws -> ProviderMetadata {
        if let metadata { return metadata }
        let base = configuration.issuer.hasSuffix("/") ? String(configuration.issuer.dropLast()) : configuration.issuer
        let fetched = try JSONDecoder().decode(
            ProviderMetadata.self, from: try await get(base + "/.well-known/openid-configuration", what: "discovery document"))
        guard fetched.issuer == configuration.issuer else {
            throw Failure(message: "The identity provider's discovery document names another issuer (\(fetched.issuer)).")
        }
        metadata = fetched
        return fetched
    }

    private func verify(_ idToken: String) async throws -> IDToken {
        let keys = try await signingKeys(refresh: false)
        do {
            return try await keys.verify(idToken, as: IDToken.self, expectedAudience: configuration.clientID)
        } catch let error as JWTError where error.errorType == .unknownKID && (keysFetchedAt.map { clock().timeIntervalSince($0) > 60 } ?? true) {
            // The provider may have rotated its keys: fetch them again, at most once a minute.
            return try await signingKeys(refresh: true).verify(idToken, as: IDToken.self, expectedAudience: configuration.clientID)
        } catch {
            throw Failure(message: "The identity provider's token could not be verified.")
        }
    }

    private func signingKeys(refresh: Bool) async throws -> JWTKeyCollection {
        if let keys, !refresh { return keys }
        let metadata = try await providerMetadata()
        let jwks = try JSONDecoder().decode(JWKS.self, from: try await get(metadata.jwksURI, what: "key set"))
        let collection = JWTKeyCollection()
        for key in jwks.keys {
            // Keys of kinds this build cannot use (say, encryption keys) are skipped, not fatal.
            _ = try? await collection.add(jwk: key)
        }
        keys = collection
        keysFetchedAt = clock()
        return collection
    }

    private func exchange(code: String, verifier: String, metadata: ProviderMetadata) async throws -> String {
        var form = [
            ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectURI),
            ("code_verifier", verifier), ("client_id", configuration.clientID),
        ]
        var request = HTTPClientRequest(url: metadata.tokenEndpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        let methods = metadata.tokenEndpointAuthMethodsSupported ?? ["client_secret_basic"]
        if methods.contains("client_secret_basic") || !methods.contains("client_secret_post") {
            let credentials = Self.formEncode(configuration.clientID) + ":" + Self.formEncode(configuration.clientSecret)
            request.headers.add(name: "Authorization", value: "Basic " + Data(credentials.utf8).base64EncodedString())
        } else {
            form.append(("client_secret", configuration.clientSecret))
        }
        request.body = .bytes(ByteBuffer(string: form.map { Self.formEncode($0) + "=" + Self.formEncode($1) }.joined(separator: "&")))
        let response: HTTPClientResponse
        do {
            response = try await httpClient.execute(request, timeout: .seconds(10))
        } catch {
            throw Failure(message: "The identity provider could not be reached to finish signing in.")
        }
        let body = try await response.body.collect(upTo: Self.maximumResponseBytes)
        guard response.status == .ok else {
            throw Failure(message: "The identity provider refused the sign-in (HTTP \(response.status.code)). Try again.")
        }
        guard let idToken = try? JSONDecoder().decode(TokenResponse.self, from: Data(body.readableBytesView)).idToken else {
            throw Failure(message: "The identity provider returned no ID token.")
        }
        return idToken
    }

    private func get(_ url: String, what: String) async throws -> Data {
        do {
            let response = try await httpClient.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
            let body = try await response.body.collect(upTo: Self.maximumResponseBytes)
            guard response.status == .ok else { throw Failure(message: "HTTP \(response.status.code)") }
            return Data(body.readableBytesView)
        } catch {
            throw Failure(message: "The identity provider's \(what) could not be fetched; try again later.")
        }
    }

    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// `application/x-www-form-urlencoded` escaping of one name or value.
    static func formEncode(_ string: String) -> String {
        string.addingPercentEncoding(withAllowedCharacters: unreserved) ?? string
    }
}
