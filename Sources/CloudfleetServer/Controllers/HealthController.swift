import CloudfleetAPI
import CloudfleetStore
import Hummingbird
import Logging

/// Unauthenticated routes: liveness, readiness and the OpenAPI document.
struct HealthController {
    let store: any Store

    func addRoutes(to router: AppRouter) {
        router.get("healthz", use: health)
        router.get("readyz", use: ready)
        router.get("v1/openapi.yaml", use: openAPI)
    }

    /// The process is up.
    @Sendable func health(_ request: Request, context: AppRequestContext) -> Response {
        Self.text("ok\n")
    }

    /// The process can serve: the store answers.
    @Sendable func ready(_ request: Request, context: AppRequestContext) async -> Response {
        do {
            try await store.ping()
            return Self.text("ready\n")
        } catch {
            context.logger.warning("readiness check failed", metadata: ["error": "\(error)"])
            return Self.text("store unavailable\n", status: .serviceUnavailable)
        }
    }

    @Sendable func openAPI(_ request: Request, context: AppRequestContext) -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/yaml; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: OpenAPIDocument.yaml)))
    }

    private static func text(_ body: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
