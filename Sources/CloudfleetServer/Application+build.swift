import CloudfleetCore
import CloudfleetStore
import Foundation
import Hummingbird
import Logging

/// What the application is built from. Tests build it with their own store, key and clock.
public struct AppDependencies: Sendable {
    public var store: any Store
    public var serverKey: ServerKey
    public var clock: @Sendable () -> Date

    public init(store: any Store, serverKey: ServerKey, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.serverKey = serverKey
        self.clock = clock
    }
}

/// The services built from the dependencies, shared by the HTTP API and the `admin` commands.
public struct AppServices: Sendable {
    public let tokens: TokenService
    public let organizations: OrganizationService
    public let clusters: ClusterService
    public let users: UserService
    let cache: VerificationCache
    let hasher: SecretHasher

    public init(dependencies: AppDependencies) {
        // With several nodes the cache is trusted only while the change feed is subscribed.
        let cache = VerificationCache(trusted: !(dependencies.store is any ChangeFeed))
        let hasher = SecretHasher(serverKey: dependencies.serverKey)
        let tokens = TokenService(store: dependencies.store, hasher: hasher, cache: cache, clock: dependencies.clock)
        self.tokens = tokens
        self.organizations = OrganizationService(store: dependencies.store, tokens: tokens, clock: dependencies.clock)
        self.clusters = ClusterService(
            store: dependencies.store, hasher: hasher, directory: ClusterDirectory(store: dependencies.store, clock: dependencies.clock),
            clock: dependencies.clock)
        self.users = UserService(store: dependencies.store, hasher: hasher, clock: dependencies.clock)
        self.cache = cache
        self.hasher = hasher
    }
}

/// The composition root: the whole server, configured. `cloudfleet-server serve` and the tests both call it.
public func buildApplication(configuration: ServerConfiguration, dependencies: AppDependencies, logger: Logger? = nil)
    async throws -> some ApplicationProtocol
{
    var logger = logger ?? Logger(label: "cloudfleet-server")
    logger.logLevel = configuration.logLevel
    let services = AppServices(dependencies: dependencies)
    let keyring = try await SigningKeyring.load(store: dependencies.store, serverKey: dependencies.serverKey, now: dependencies.clock())
    let signingKeys = SigningKeys(
        keyring, store: dependencies.store, serverKey: dependencies.serverKey, logger: logger, clock: dependencies.clock)
    let usage = UsageRecorder(store: dependencies.store, flushInterval: configuration.usageFlushInterval, logger: logger)
    let rotation = SecretRotation(idleRetirement: configuration.previousSecretIdleRetirement)
    let metrics = ServerMetrics()
    let authenticator = Authenticator(
        store: dependencies.store, cache: services.cache, hasher: services.hasher, signingKeys: signingKeys, issuer: configuration.issuer,
        audience: "cloudfleet-api", accessTokenLifetime: configuration.accessTokenLifetime, verifiedAccessTokens: AccessTokenCache(),
        usage: usage, rotation: rotation, metrics: metrics, clock: dependencies.clock)
    let gate = AuthenticationGate(
        authenticator: authenticator, limiter: FailureLimiter(), auditor: FailureAuditor(store: dependencies.store, logger: logger),
        usage: usage, metrics: metrics, clock: dependencies.clock)
    let serviceCredentials = ServiceCredentials(store: dependencies.store, hasher: services.hasher, clock: dependencies.clock)

    let router = AppRouter()
    router.add(middleware: RequestLogMiddleware(metrics: metrics))
    router.add(middleware: ErrorMiddleware(metrics: metrics))
    // A route without parameters is found by its whole path (`AppRouter`). The API's routes first: for the others,
    // Hummingbird's trie tries a path segment against the routes beside it in the order they were added, so the
    // `/v1` calls, the traffic, are matched without first being compared with `healthz`, `readyz`, `openapi.yaml`
    // and the rest (docs/decisions.md).
    let v1 = AuthenticatedRoutes(router.group("v1"), gate: gate)
    TokensController(tokens: services.tokens, rotation: rotation, clock: dependencies.clock).addRoutes(to: v1)
    OrganizationController(store: dependencies.store, clock: dependencies.clock).addRoutes(to: v1)
    let endpoints = KubernetesEndpoints(
        issuer: configuration.issuer, issuerCABundle: try configuration.tlsCABundlePath.map { try TLSFiles.readCABundle($0) })
    ClustersController(
        clusters: services.clusters, authenticator: authenticator, endpoints: endpoints,
        clusterTokenLifetime: configuration.clusterTokenLifetime
    ).addRoutes(to: v1)
    HealthController(store: dependencies.store).addRoutes(to: router)
    MetricsController(services: serviceCredentials, metrics: metrics, store: dependencies.store).addRoutes(to: router)
    SecretsReportController(services: serviceCredentials, tokens: services.tokens).addRoutes(to: router)
    OAuthTokenController(authenticator: authenticator, gate: gate).addRoutes(to: router)
    // The webhook's caller is a kube-apiserver with its cluster's credential, not a token: outside the /v1 group.
    let tokenReview = TokenReviewController(
        directory: services.clusters.directory, hasher: services.hasher, authenticator: authenticator, usage: usage, metrics: metrics)
    tokenReview.addRoutes(to: router)
    OIDCController(issuer: configuration.issuer, signingKeys: signingKeys).addRoutes(to: router)
    ConsoleController(
        pages: try ConsolePages(),
        sessions: ConsoleSessions(
            store: dependencies.store, hasher: services.hasher, serverKey: dependencies.serverKey,
            lifetime: configuration.consoleSessionLifetime, clock: dependencies.clock),
        tokens: services.tokens, users: services.users,
        sso: configuration.consoleSSO.map {
            OIDCSignIn(configuration: $0, redirectURI: configuration.issuer + "/console/sign-in/callback", clock: dependencies.clock)
        },
        secureCookies: configuration.servesTLS, clock: dependencies.clock
    ).addRoutes(to: router)

    let serverName = "cloudfleet"
    // Reviews answered from the caches on the event loop, with what the router's middleware and Hummingbird add.
    let reviewFastPath = TokenReviewFastPath.Dependencies(
        controller: tokenReview, logger: logger, metrics: metrics, serverName: serverName, maxBodySize: AppRequestContext.uploadLimit)
    var app = Application(
        responder: tokenReview.responder(over: router.buildResponder(), middlewares: router.middlewares),
        server: try TLSFiles.serverBuilder(configuration) { [TokenReviewFastPath(reviewFastPath)] },
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: serverName),
        logger: logger)
    app.addServices(usage)
    if let feed = dependencies.store as? any ChangeFeed {
        app.addServices(InvalidationListener(feed: feed, cache: services.cache, signingKeys: signingKeys, logger: logger))
    }
    return app
}
