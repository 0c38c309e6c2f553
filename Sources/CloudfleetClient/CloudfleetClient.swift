import AsyncHTTPClient
import CloudfleetAPI
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOSSL

/// A client of the Cloudfleet `/v1` API, authenticated as one API token.
///
/// It exchanges the token's ID and secret for an access token at `/v1/auth/token` (OAuth 2.0 client
/// credentials), caches it until shortly before it expires, and retries a call once with a fresh access token
/// after a 401.
public struct CloudfleetClient: Sendable {
    public let apiURL: String
    let tokenID: String
    let secret: String
    let cache: AccessTokenFileCache?
    let http: HTTPClient
    let timeout: TimeAmount

    public init(apiURL: String, tokenID: String, secret: String, cache: AccessTokenFileCache?, timeout: TimeAmount = .seconds(30)) {
        self.apiURL = apiURL.hasSuffix("/") ? String(apiURL.dropLast()) : apiURL
        self.tokenID = tokenID
        self.secret = secret
        self.cache = cache
        self.http = Self.sharedHTTPClient
        self.timeout = timeout
    }

    /// One HTTP client for the process. A refused connection fails at once instead of being retried until the
    /// request times out, so "server unreachable" is reported immediately. It lives as long as the process.
    private static let sharedHTTPClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(10)
        // A private CA (a self-hosted server with its own certificate authority) is trusted besides the system roots.
        if let caFile = ProcessInfo.processInfo.environment["CLOUDFLEET_CA_FILE"], !caFile.isEmpty {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.additionalTrustRoots = [.file(caFile)]
            configuration.tlsConfiguration = tls
        }
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    // MARK: Tokens

    /// One page of the organization's tokens.
    public func listTokens(limit: Int? = nil, cursor: String? = nil) async throws -> ListPage<Token> {
        try await send(.GET, "/v1/tokens" + Self.pageQuery(limit: limit, cursor: cursor))
    }

    /// Every token of the organization, walking all pages.
    public func allTokens() async throws -> [Token] {
        try await allPages { try await listTokens(limit: 200, cursor: $0) }
    }

    public func token(id: String) async throws -> Token {
        try await send(.GET, "/v1/tokens/\(try pathSegment(id))")
    }

    public func createToken(name: String, role: String) async throws -> TokenWithSecret {
        try await send(.POST, "/v1/tokens", body: ["name": name, "role": role])
    }

    public func updateToken(id: String, name: String?, role: String?) async throws -> Token {
        var body: [String: String] = [:]
        if let name { body["name"] = name }
        if let role { body["role"] = role }
        return try await send(.PATCH, "/v1/tokens/\(try pathSegment(id))", body: body)
    }

    public func regenerateSecret(id: String) async throws -> TokenWithSecret {
        try await send(.POST, "/v1/tokens/\(try pathSegment(id))/secret")
    }

    public func deleteToken(id: String) async throws {
        let _: Empty = try await send(.DELETE, "/v1/tokens/\(try pathSegment(id))")
    }

    public func organization() async throws -> OrganizationInfo {
        try await send(.GET, "/v1/organization")
    }

    // MARK: Clusters

    /// One page of the organization's clusters.
    public func listClusters(limit: Int? = nil, cursor: String? = nil) async throws -> ListPage<ClusterInfo> {
        try await send(.GET, "/v1/clusters" + Self.pageQuery(limit: limit, cursor: cursor))
    }

    /// Every cluster of the organization, walking all pages.
    public func allClusters() async throws -> [ClusterInfo] {
        try await allPages { try await listClusters(limit: 200, cursor: $0) }
    }

    public func cluster(id: String) async throws -> ClusterInfo {
        try await send(.GET, "/v1/clusters/\(try clusterSegment(id))")
    }

    public func createCluster(name: String, apiEndpoint: String, caBundle: String?) async throws -> ClusterInfo {
        var body = ["name": name, "api_endpoint": apiEndpoint]
        if let caBundle { body["ca_bundle"] = caBundle }
        return try await send(.POST, "/v1/clusters", body: body)
    }

    public func deleteCluster(id: String) async throws {
        let _: Empty = try await send(.DELETE, "/v1/clusters/\(try clusterSegment(id))")
    }

    /// Issues a new webhook credential for a cluster; the previous one stops working.
    public func issueWebhookCredential(clusterID: String) async throws -> WebhookCredentialIssued {
        try await send(.POST, "/v1/clusters/\(try clusterSegment(clusterID))/webhook-credential")
    }

    /// Exchanges this client's token for a short-lived token of one cluster.
    public func clusterToken(clusterID: String) async throws -> ClusterToken {
        try await send(.POST, "/v1/clusters/\(try clusterSegment(clusterID))/token")
    }

    // MARK: Plumbing

    struct Empty: Decodable {}

    private static func pageQuery(limit: Int?, cursor: String?) -> String {
        var query: [String] = []
        if let limit { query.append("limit=\(limit)") }
        if let cursor { query.append("cursor=\(cursor.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? cursor)") }
        return query.isEmpty ? "" : "?" + query.joined(separator: "&")
    }

    private func allPages<Item>(_ page: (String?) async throws -> ListPage<Item>) async throws -> [Item] {
        var items: [Item] = []
        var cursor: String?
        repeat {
            let next = try await page(cursor)
            items += next.items
            cursor = next.nextCursor
        } while cursor != nil
        return items
    }

    private func clusterSegment(_ id: String) throws -> String {
        guard !id.isEmpty, id.count <= 64, id.allSatisfy({ $0.isASCII && ($0.isHexDigit || $0 == "-") }) else {
            throw ClientError.invalid("that is not a cluster ID (a UUID such as 6f1c2a0e-…).")
        }
        return id
    }

    private func pathSegment(_ id: String) throws -> String {
        // The rejected text is not repeated: it may be a secret pasted in the wrong place.
        guard !id.isEmpty, id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
            throw ClientError.invalid("that is not a token ID (22 letters and digits).")
        }
        return id
    }

    private func send<T: Decodable>(_ method: HTTPMethod, _ path: String, body: [String: String]? = nil) async throws -> T {
        var accessToken = try await currentAccessToken(forceRefresh: false)
        var response = try await execute(method, path, body: body, accessToken: accessToken)
        if response.status == .unauthorized {
            cache?.remove(apiURL: apiURL, tokenID: tokenID, secret: secret)
            accessToken = try await currentAccessToken(forceRefresh: true)
            response = try await execute(method, path, body: body, accessToken: accessToken)
        }
        try Self.check(response)
        if T.self == Empty.self, let empty = Empty() as? T { return empty }
        do {
            return try JSONDecoder.iso8601.decode(T.self, from: Data(response.body.readableBytesView))
        } catch {
            throw ClientError.server(status: Int(response.status.code), message: "The answer could not be read.")
        }
    }

    struct RawResponse {
        let status: HTTPResponseStatus
        let body: ByteBuffer
    }

    private func execute(_ method: HTTPMethod, _ path: String, body: [String: String]?, accessToken: String) async throws -> RawResponse {
        var request = HTTPClientRequest(url: apiURL + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(accessToken)")
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "cloudfleet-cli")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: try JSONEncoder().encode(body)))
        }
        return try await perform(request)
    }

    private func perform(_ request: HTTPClientRequest) async throws -> RawResponse {
        do {
            let response = try await http.execute(request, timeout: timeout)
            let body = try await response.body.collect(upTo: 16 * 1024 * 1024)
            return RawResponse(status: response.status, body: body)
        } catch let error as ClientError {
            throw error
        } catch {
            throw ClientError.unreachable(url: apiURL, reason: Self.describe(error))
        }
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case let error as HTTPClientError where error == .connectTimeout || error == .deadlineExceeded || error == .readTimeout:
            "timed out"
        case let error as HTTPClientError where error == .remoteConnectionClosed:
            "the server closed the connection"
        case is HTTPClientError:
            "\(error)"
        default:
            "connection refused or failed"
        }
    }

    /// Maps an error answer to a ``ClientError`` with the server's own message.
    static func check(_ response: RawResponse) throws {
        let code = Int(response.status.code)
        guard code >= 400 else { return }
        let message = Self.message(response.body) ?? response.status.reasonPhrase
        switch code {
        case 401: throw ClientError.unauthorized
        case 403: throw ClientError.forbidden(message)
        case 404: throw ClientError.notFound(message)
        case 409: throw ClientError.conflict(message)
        case 400..<500: throw ClientError.invalid(message)
        default: throw ClientError.server(status: code, message: message)
        }
    }

    private static func message(_ body: ByteBuffer) -> String? {
        struct ErrorBody: Decodable {
            struct Detail: Decodable { let message: String }
            let error: Detail
        }
        return (try? JSONDecoder().decode(ErrorBody.self, from: Data(body.readableBytesView)))?.error.message
    }

    // MARK: Access tokens

    /// An access token for this client's token: from the cache, or exchanged now.
    func currentAccessToken(forceRefresh: Bool) async throws -> String {
        if !forceRefresh, let cached = cache?.load(apiURL: apiURL, tokenID: tokenID, secret: secret) { return cached }
        var request = HTTPClientRequest(url: apiURL + "/v1/auth/token")
        request.method = .POST
        let basic = Data("\(tokenID):\(secret)".utf8).base64EncodedString()
        request.headers.add(name: "Authorization", value: "Basic \(basic)")
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "User-Agent", value: "cloudfleet-cli")
        request.body = .bytes(ByteBuffer(string: "grant_type=client_credentials"))
        let response = try await perform(request)
        if response.status == .unauthorized || response.status == .badRequest { throw ClientError.unauthorized }
        try Self.check(response)
        struct Grant: Decodable {
            let access_token: String
            let expires_in: Int
        }
        guard let grant = try? JSONDecoder().decode(Grant.self, from: Data(response.body.readableBytesView)) else {
            throw ClientError.server(status: Int(response.status.code), message: "The token endpoint's answer could not be read.")
        }
        cache?.store(
            grant.access_token, expiresAt: Date().addingTimeInterval(TimeInterval(grant.expires_in)), apiURL: apiURL, tokenID: tokenID,
            secret: secret)
        return grant.access_token
    }
}
