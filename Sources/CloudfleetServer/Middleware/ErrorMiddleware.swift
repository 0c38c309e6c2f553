import Hummingbird
import Logging

/// Turns every error into the API's JSON error form, in one place. Unexpected errors become a bare 500 whose
/// detail is logged, never shown.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            if let apiError = APIError(translating: error) {
                if apiError.status == .serviceUnavailable {
                    metrics.storeError()
                    context.logger.warning("store unavailable", metadata: ["error": "\(error)"])
                }
                return try apiError.response(from: request, context: context)
            }
            context.logger.error("unhandled error", metadata: ["error": "\(String(reflecting: error))"])
            return try APIError.internalError.response(from: request, context: context)
        }
    }
}
