import HTTPTypes
import Hummingbird

/// The `/v1` API's routes: each one authenticates the request (``AuthenticationMiddleware``) before its handler
/// runs, so a handler added here is never reached without a principal. The controllers of the API are handed
/// only this type, which has no way to add a route that skips authentication.
///
/// The authentication runs inside each route's own closure rather than as the middleware of a router group, whose
/// layer Hummingbird calls through an existential chain of responders: that layer cost about 1,600 instructions of
/// each authenticated request (0.6 %) and, measured side by side, up to 2 % of its CPU time (bench/history.md, tenth
/// round). What runs, and in which order, is the same; a middleware added to the wrapped group would run before
/// authentication, with no principal yet.
struct AuthenticatedRoutes {
    private let group: RouterGroup<AppRequestContext>
    private let authentication: AuthenticationMiddleware

    /// The routes under `group`, authenticated through `gate`.
    init(_ group: RouterGroup<AppRequestContext>, gate: AuthenticationGate) {
        self.group = group
        self.authentication = AuthenticationMiddleware(gate: gate)
    }

    /// A route's handler, as Hummingbird's router takes it.
    typealias Handler<Output: ResponseGenerator> = @Sendable (Request, AppRequestContext) async throws -> Output

    @discardableResult func get(_ path: RouterPath, use handler: @escaping Handler<some ResponseGenerator>) -> Self {
        on(path, method: .get, use: handler)
    }

    @discardableResult func post(_ path: RouterPath, use handler: @escaping Handler<some ResponseGenerator>) -> Self {
        on(path, method: .post, use: handler)
    }

    @discardableResult func patch(_ path: RouterPath, use handler: @escaping Handler<some ResponseGenerator>) -> Self {
        on(path, method: .patch, use: handler)
    }

    @discardableResult func delete(_ path: RouterPath, use handler: @escaping Handler<some ResponseGenerator>) -> Self {
        on(path, method: .delete, use: handler)
    }

    private func on(_ path: RouterPath, method: HTTPRequest.Method, use handler: @escaping Handler<some ResponseGenerator>) -> Self {
        let authentication = authentication
        group.on(path, method: method) { request, context -> Response in
            try await authentication.handle(request, context: context) { request, context in
                try await handler(request, context).response(from: request, context: context)
            }
        }
        return self
    }
}
