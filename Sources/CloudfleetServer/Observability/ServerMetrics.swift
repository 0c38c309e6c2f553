import CloudfleetCore
import Foundation
import Prometheus
import Synchronization

/// The server's Prometheus metrics, kept in a registry of its own (no process-global state, so every
/// application instance, including each test's, counts alone). Served at `/metrics`.
final class ServerMetrics: Sendable {
    /// Where an authentication happened.
    enum Path: String, CaseIterable, Sendable {
        /// `/v1` with Basic credentials or an access token.
        case api
        /// `/v1/auth/token`.
        case tokenEndpoint = "token_endpoint"
        /// The Kubernetes TokenReview webhook.
        case webhook
    }

    /// How an authentication ended.
    enum Outcome: String, CaseIterable, Sendable {
        case success
        case failure
        case expired
        case ipRefused = "ip_refused"
        case rateLimited = "rate_limited"
    }

    let registry = PrometheusCollectorRegistry()
    // `allCases` builds a new array on each access; these are built once.
    private static let paths = Path.allCases
    private static let outcomes = Outcome.allCases
    /// By path, then outcome, in the order of their `allCases`.
    private let authentications: [Counter]
    private let cacheHits: Counter
    private let cacheMisses: Counter
    private let storeErrors: Counter
    private let reviewsFromCaches: Counter
    private let latency = Mutex<[String: DurationHistogram]>([:])
    private let tokensByRole: [Role: Gauge]

    static let latencyBuckets: [Duration] = [
        .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5),
    ]

    init() {
        var authentications: [Counter] = []
        for path in Self.paths {
            for outcome in Self.outcomes {
                authentications.append(
                    registry.makeCounter(
                        descriptor: Self.name("authentications", "total", "Authentications by where they happened and how they ended."),
                        labels: [("path", path.rawValue), ("outcome", outcome.rawValue)]))
            }
        }
        self.authentications = authentications
        let cache = Self.name("verification_cache_lookups", "total", "Token state look-ups by verification cache result.")
        cacheHits = registry.makeCounter(descriptor: cache, labels: [("result", "hit")])
        cacheMisses = registry.makeCounter(descriptor: cache, labels: [("result", "miss")])
        storeErrors = registry.makeCounter(descriptor: Self.name("store_errors", "total", "Requests that failed because the store did."))
        reviewsFromCaches = registry.makeCounter(
            descriptor: Self.name(
                "token_reviews_from_caches", "total",
                "TokenReviews answered on the event loop from this node's caches; the others went through the router."))
        var tokensByRole: [Role: Gauge] = [:]
        for role in Role.allCases {
            tokensByRole[role] = registry.makeGauge(
                descriptor: Self.name("tokens", "", "API tokens stored, over all organizations, by role."), labels: [("role", role.rawValue)])
        }
        self.tokensByRole = tokensByRole
    }

    private static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "cloudfleet", metricName: metric, unitName: unit, helpText: help)
    }

    func authentication(_ path: Path, _ outcome: Outcome) {
        // Found by position rather than by a key built per request: this runs on every authentication.
        guard let pathIndex = Self.paths.firstIndex(of: path), let outcomeIndex = Self.outcomes.firstIndex(of: outcome) else { return }
        authentications[pathIndex * Self.outcomes.count + outcomeIndex].increment()
    }

    /// A TokenReview answered by `TokenReviewFastPath` (also counted as an authentication and a request).
    func reviewAnsweredFromCaches() {
        reviewsFromCaches.increment()
    }

    func cacheLookup(hit: Bool) {
        (hit ? cacheHits : cacheMisses).increment()
    }

    func storeError() {
        storeErrors.increment()
    }

    /// Records how long a request to `route` (the matched pattern, never the raw path) took.
    func request(route: String, method: String, status: Int, duration: Duration) {
        let key = "\(method) \(route) \(status)"
        let histogram = latency.withLock { histograms in
            if let existing = histograms[key] { return existing }
            let made = registry.makeDurationHistogram(
                descriptor: Self.name("http_request_duration", "seconds", "Time to answer HTTP requests, by route pattern and status."),
                labels: [("method", method), ("route", route), ("status", String(status))], buckets: Self.latencyBuckets)
            histograms[key] = made
            return made
        }
        histogram.record(duration)
    }

    func setTokenCounts(_ counts: [Role: Int]) {
        for role in Role.allCases { tokensByRole[role]?.set(Double(counts[role] ?? 0)) }
    }

    /// The text exposition format.
    func render() -> [UInt8] {
        registry.emitToBuffer()
    }
}
