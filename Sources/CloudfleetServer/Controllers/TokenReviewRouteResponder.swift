import Hummingbird

/// Answers `POST /v1/clusters/{id}/tokenreview` without the router's trie, and every other request with the router.
///
/// The webhook answers each kubectl request its API server has not cached. Hummingbird's trie walks the path one
/// `Character` at a time: 35,000 instructions for this 48-byte path against 6,000 for `/healthz`, 9 % of a review
/// (bench/history.md). This responder matches the route on the path's UTF-8 bytes instead, then runs the same
/// middleware chain and handler the router would, with the same `id` parameter and endpoint path (the metrics'
/// route label). Only the exact form is taken here; anything else (another method, a trailing slash, `//`) goes to
/// the router, which keeps the route and answers those as it always has (another method: its 404).
struct TokenReviewRouteResponder<Routes: HTTPResponder>: HTTPResponder where Routes.Context == AppRequestContext {
    /// The review handler behind the router's middleware (request log, metrics, errors).
    let review: any HTTPResponder<AppRequestContext>
    /// Every route, the webhook's too.
    let routes: Routes

    func respond(to request: Request, context: AppRequestContext) async throws -> Response {
        guard request.method == .post, let clusterID = TokenReviewController.clusterID(inPath: request.uri.path) else {
            return try await routes.respond(to: request, context: context)
        }
        var context = context
        context.coreContext.parameters = ["id": clusterID]
        return try await review.respond(asRoute: TokenReviewController.path, to: request, context: context)
    }
}
