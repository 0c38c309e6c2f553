import HTTPTypes
import Hummingbird
import Logging

/// Logs one line per request: method, path, status, duration and, once authenticated, the token's ID
/// (`token_id`). Never headers, query strings or bodies, which may carry credentials.
/// Also records each request's duration in the metrics, by route pattern (never the raw path).
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        var response = try await next(request, context)
        let elapsed = ContinuousClock.now - start
        // Any token is a valid HTTP method: those the API does not use are counted together, so that clients cannot
        // make the server keep ever more series.
        let method: String
        switch request.method {
        case .get, .head, .post, .put, .patch, .delete, .options: method = request.method.rawValue
        default: method = "other"
        }
        metrics.request(route: context.endpointPath ?? "unmatched", method: method, status: Int(response.status.code), duration: elapsed)
        var metadata: Logger.Metadata = [
            "method": "\(request.method)", "path": "\(request.uri.path)", "status": "\(response.status.code)",
            "duration_ms": "\(elapsed.milliseconds)",
        ]
        if let tokenID = context.requestLog.tokenID { metadata["token_id"] = "\(tokenID)" }
        context.logger.info("request", metadata: metadata)
        response.headers[.requestID] = context.id
        return response
    }
}

extension Duration {
    /// The duration in (fractional) milliseconds.
    var milliseconds: Double {
        Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15
    }
}
