import CloudfleetCore
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
        Self.record(
            method: request.method, path: request.uri.path, route: context.endpointPath ?? "unmatched", status: response.status,
            elapsed: ContinuousClock.now - start, tokenID: context.requestLog.tokenID, logger: context.logger, metrics: metrics)
        response.headers[.requestID] = context.id
        return response
    }

    /// The request's log line and duration metric; also written by `TokenReviewFastPath` for the reviews it answers.
    static func record(
        method: HTTPRequest.Method, path: String, route: String, status: HTTPResponse.Status, elapsed: Duration, tokenID: TokenID?,
        logger: Logger, metrics: ServerMetrics
    ) {
        // Any token is a valid HTTP method: those the API does not use are counted together, so that clients cannot
        // make the server keep ever more series.
        let label: String
        switch method {
        case .get, .head, .post, .put, .patch, .delete, .options: label = method.rawValue
        default: label = "other"
        }
        metrics.request(route: route, method: label, status: Int(status.code), duration: elapsed)
        var metadata: Logger.Metadata = [
            "method": "\(method)", "path": "\(path)", "status": "\(status.code)", "duration_ms": "\(elapsed.milliseconds)",
        ]
        // The ID's own string (a reference), not an interpolated copy of it.
        if let tokenID { metadata["token_id"] = .string(tokenID.rawValue) }
        logger.info("request", metadata: metadata)
    }
}

extension Duration {
    /// The duration in (fractional) milliseconds.
    var milliseconds: Double {
        Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15
    }
}
