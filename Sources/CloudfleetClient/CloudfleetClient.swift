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
    /// The response header that carries the expiry of the authenticating token (ISO 8601), on every response to
    /// a token that expires.
    public static let tokenExpiresAtHeader = "Cloudfleet-Token-Expires-At"

    public let apiURL: String
    let tokenID: String
    let secret: String
    let cache: AccessTokenFileCache?
    let http: HTTPClient
    let timeout: TimeAmount
    /// Called with the value of ``tokenExpiresAtHeader`` whenever a response carries it.
    let tokenExpiryObserver: (@Sendable (String) -> Void)?

    public init(
        apiURL: String, tokenID: String, secret: String, cache: AccessTokenFileCache?, timeout: TimeAmount = .seconds(30),
        tokenExpiryObserver: (@Sendable (String) -> Void)? = nil
    ) {
        self.apiURL = apiURL.hasSuffix("/") ? String(apiURL.dropLast()) : apiURL
        self.tokenID = tokenID
        self.secret = secret
        self.cache = cache
        self.http = Self.sharedHTTPClient
        self.timeout = timeout
        self.tokenExpiryObserver = tokenExpiryObserver
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

    /// One page of the organization's tokens, optionally filtered.
    public func listTokens(filter: TokenListFilter = TokenListFilter(), limit: Int? = nil, cursor: String? = nil) async throws -> ListPage<Token> {
        try await send(.GET, "/v1/tokens" + Self.query(filter.query + Self.pageParameters(limit: limit, cursor: cursor)))
    }

    /// Every token of the organization (matching `filter`), walking all pages.
    public func allTokens(filter: TokenListFilter = TokenListFilter()) async throws -> [Token] {
        try await allPages { try await listTokens(filter: filter, limit: 200, cursor: $0) }
    }

    /// The token these credentials authenticate as (`GET /v1/tokens/self`).
    public func currentToken() async throws -> CurrentToken {
        try await send(.GET, "/v1/tokens/self")
    }

    public func token(id: String) async throws -> Token {
        try await send(.GET, "/v1/tokens/\(try pathSegment(id))")
    }

    public func createToken(_ creation: TokenCreation) async throws -> TokenWithSecret {
        try await send(.POST, "/v1/tokens", body: creation)
    }

    public func createToken(name: String, role: String) async throws -> TokenWithSecret {
        try await createToken(TokenCreation(name: name, role: role))
    }

    public func updateToken(id: String, changes: TokenChanges) async throws -> Token {
        try await send(.PATCH, "/v1/tokens/\(try pathSegment(id))", body: changes)
    }

    public func updateToken(id: String, name: String?, role: String?) async throws -> Token {
        try await updateToken(id: id, changes: TokenChanges(name: name, role: role))
    }

    /// Replaces a token's secret. Without a grace period (and then without a body) the previous secret stops
    /// working at once; with one (such as `1h`) it keeps working until the grace period ends or it is retired early.
    public func regenerateSecret(id: String, gracePeriod: String? = nil) async throws -> TokenWithSecret {
        let path = "/v1/tokens/\(try pathSegment(id))/secret"
        if let gracePeriod { return try await send(.POST, path, body: ["grace_period": gracePeriod]) }
        return try await send(.POST, path)
    }

    public func deleteToken(id: String) async throws {
        let _: Empty = try await send(.DELETE, "/v1/tokens/\(try pathSegment(id))")
    }

    public func organization() async throws -> OrganizationInfo {
        try await send(.GET, "/v1/organization")
    }

    /// Changes the organization's token policy (Administrator).
    public func updatePolicy(_ changes: PolicyChanges) async throws -> OrganizationInfo {
        try await send(.PATCH, "/v1/organization", body: changes)
    }

    // MARK: Audit

    /// One page of the organization's audit trail, newest first (Administrator).
    public func listAuditEvents(filter: AuditEventFilter = AuditEventFilter(), limit: Int? = nil, cursor: String? = nil) async throws
        -> ListPage<AuditEventInfo>
    {
        try await send(.GET, "/v1/audit-events" + Self.query(filter.query + Self.pageParameters(limit: limit, cursor: cursor)))
    }

    /// At most `limit` audit events matching `filter`, newest first, walking pages; also whether more remain.
    public func auditEvents(filter: AuditEventFilter, limit: Int) async throws -> (events: [AuditEventInfo], more: Bool) {
        var events: [AuditEventInfo] = []
        var cursor: String?
        repeat {
            let page = try await listAuditEvents(filter: filter, limit: min(200, limit - events.count), cursor: cursor)
            events += page.items.prefix(limit - events.count)
            cursor = page.nextCursor
        } while cursor != nil && events.count < limit
        return (events, cursor != nil)
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
        query(pageParameters(limit: limit, cursor: cursor))
    }

    private static func pageParameters(limit: Int?, cursor: String?) -> [(String, String)] {
        var parameters: [(String, String)] = []
        if let limit { parameters.append(("limit", String(limit))) }
        if let cursor { parameters.append(("cursor", cursor)) }
        return parameters
    }

    /// Characters left as they are in a query value (RFC 3986 unreserved); everything else is percent-encoded.
    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// `?name=value&…` with every value percent-encoded, or nothing.
    static func query(_ parameters: [(String, String)]) -> String {
        guard !parameters.isEmpty else { return "" }
        return "?"
            + parameters.map { name, value in
                "\(name)=\(value.addingPercentEncoding(withAllowedCharacters: unreserved) ?? "")"
            }.joined(separator: "&")
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

    /// The JSON of a request body: sorted keys, RFC 3339 dates, slashes as they are (`10.0.0.0/8`).
    public static func encodeBody(_ body: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(body)
    }

    private func send<T: Decodable>(_ method: HTTPMethod, _ path: String, body: (any Encodable & Sendable)? = nil) async throws -> T {
        let data = try body.map { try Self.encodeBody($0) }
        var accessToken = try await currentAccessToken(forceRefresh: false)
        var response = try await execute(method, path, body: data, accessToken: accessToken)
        // A new access token cannot help an expired token: the token endpoint would only say so again.
        if response.status == .unauthorized, Self.errorBody(response.body)?.code != "token_expired" {
            cache?.remove(apiURL: apiURL, tokenID: tokenID, secret: secret)
            accessToken = try await currentAccessToken(forceRefresh: true)
            response = try await execute(method, path, body: data, accessToken: accessToken)
        }
        if let observer = tokenExpiryObserver, let expiry = response.headers.first(name: Self.tokenExpiresAtHeader) {
            observer(expiry)
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
        var headers: HTTPHeaders = [:]
        let body: ByteBuffer
    }

    private func execute(_ method: HTTPMethod, _ path: String, body: Data?, accessToken: String) async throws -> RawResponse {
        var request = HTTPClientRequest(url: apiURL + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(accessToken)")
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "cloudfleet-cli")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: body))
        }
        return try await perform(request)
    }

    private func perform(_ request: HTTPClientRequest) async throws -> RawResponse {
        do {
            let response = try await http.execute(request, timeout: timeout)
            let body = try await response.body.collect(upTo: 16 * 1024 * 1024)
            return RawResponse(status: response.status, headers: response.headers, body: body)
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
        let error = Self.errorBody(response.body)
        let message = error?.message ?? response.status.reasonPhrase
        switch code {
        case 401 where error?.code == "token_expired": throw ClientError.tokenExpired(at: Self.expiryInstant(in: message))
        case 401: throw ClientError.unauthorized
        case 403 where error?.code == "address_not_allowed": throw ClientError.addressNotAllowed
        case 403: throw ClientError.forbidden(message)
        case 404: throw ClientError.notFound(message)
        case 409: throw ClientError.conflict(message)
        case 429: throw ClientError.rateLimited(retryAfter: Self.retryAfter(response.headers.first(name: "Retry-After")))
        case 400..<500: throw ClientError.invalid(message)
        default: throw ClientError.server(status: code, message: message)
        }
    }

    /// Maps a refusal of the token endpoint (RFC 6749 §5.2 errors) to a ``ClientError``.
    static func checkTokenEndpoint(_ response: RawResponse) throws {
        struct OAuthError: Decodable {
            let error: String
            let error_description: String?
        }
        let oauth = try? JSONDecoder().decode(OAuthError.self, from: Data(response.body.readableBytesView))
        let description = oauth?.error_description ?? ""
        switch response.status {
        case .unauthorized, .badRequest:
            if description.lowercased().contains("expired") { throw ClientError.tokenExpired(at: Self.expiryInstant(in: description)) }
            throw ClientError.unauthorized
        case .forbidden where oauth?.error == "invalid_client":
            throw ClientError.addressNotAllowed
        case .tooManyRequests:
            throw ClientError.rateLimited(retryAfter: Self.retryAfter(response.headers.first(name: "Retry-After")))
        default:
            try check(response)
        }
    }

    /// The ``ClientError`` an answer maps to, or `nil` for a success; `tokenEndpoint` for the answers of
    /// `/v1/auth/token`. The mapping of ``check(_:)`` and ``checkTokenEndpoint(_:)``, without a connection.
    static func error(status: Int, headers: [(String, String)] = [], body: String, tokenEndpoint: Bool = false) -> ClientError? {
        let response = RawResponse(status: HTTPResponseStatus(statusCode: status), headers: HTTPHeaders(headers), body: ByteBuffer(string: body))
        do {
            if tokenEndpoint { try checkTokenEndpoint(response) } else { try check(response) }
            return nil
        } catch {
            return error as? ClientError
        }
    }

    struct ErrorBody: Decodable {
        struct Detail: Decodable {
            let code: String?
            let message: String
        }
        let error: Detail
    }

    static func errorBody(_ body: ByteBuffer) -> ErrorBody.Detail? {
        (try? JSONDecoder().decode(ErrorBody.self, from: Data(body.readableBytesView)))?.error
    }

    /// The seconds of a `Retry-After` header (RFC 9110: delay-seconds or an HTTP date).
    static func retryAfter(_ header: String?, now: Date = Date()) -> Int? {
        guard let value = header?.trimmingCharacters(in: .whitespaces) else { return nil }
        if let seconds = Int(value), seconds >= 0 { return seconds }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return max(0, Int(date.timeIntervalSince(now).rounded(.up)))
    }

    /// The instant in a message such as "The token expired at 2026-05-01T12:00:00Z; …".
    static func expiryInstant(in message: String) -> Date? {
        guard let range = message.range(of: "expired at ") else { return nil }
        let candidate = message[range.upperBound...].prefix { $0.isASCII && ($0.isNumber || $0.isLetter || "-:+.".contains($0)) }
        var text = String(candidate)
        while text.hasSuffix(".") { text.removeLast() }
        return RFC3339.date(text)
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
        if response.status.code >= 400 { try Self.checkTokenEndpoint(response) }
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
