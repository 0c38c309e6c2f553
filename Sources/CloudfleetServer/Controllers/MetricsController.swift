import CloudfleetCore
import CloudfleetStore
import Foundation
import Hummingbird

/// `GET /metrics`: Prometheus text format, for a scraper holding a `metrics` service credential.
struct MetricsController {
    let services: ServiceCredentials
    let metrics: ServerMetrics
    let store: any Store

    func addRoutes(to router: AppRouter) {
        router.get("metrics", use: scrape)
    }

    @Sendable func scrape(_ request: Request, context: AppRequestContext) async throws -> Response {
        _ = try await services.authenticate(request.headers, kind: .metrics)
        do {
            metrics.setTokenCounts(try await store.tokenCountsByRole())
        } catch {
            // The scrape still answers; the store error is itself a metric.
            metrics.storeError()
        }
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: metrics.render())))
    }
}
