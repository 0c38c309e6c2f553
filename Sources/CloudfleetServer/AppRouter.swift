import HTTPTypes
import Hummingbird

/// The server's routes. Each is added to Hummingbird's router; a route whose path has no parameter (`/healthz`,
/// `/v1/tokens`, `/v1/tokens/self`, `/.well-known/jwks.json` …) is also kept in a table of whole paths, which the
/// responder built here consults first (``ConstantRoutesResponder``).
///
/// Hummingbird's trie splits a path by `Character` and compares each segment with the routes beside it: about 6,000
/// instructions for `/healthz` and 12,000 for `/v1/tokens/self` (bench/history.md). The table finds a constant route
/// with one dictionary lookup of the path and then runs what the router would: the same handler behind the same
/// middleware (the router's and its group's, as they were when the route was added), with the same endpoint path
/// (the metrics' route label). The trie tries a constant segment before a parameter, so a path found in the table is
/// the route the router would have chosen; anything else (another method, a parameter, a trailing slash, `//`) is
/// left to the router, which answers it as it always has.
final class AppRouter: RouterMethods {
    typealias Context = AppRequestContext

    /// Every route, the constant ones too.
    let router = Router(context: AppRequestContext.self)
    private var constantRoutes: [String: ConstantRoute] = [:]

    @discardableResult func on<Responder: HTTPResponder>(_ path: RouterPath, method: HTTPRequest.Method, responder: Responder) -> Self
    where Responder.Context == Context {
        router.on(path, method: method, responder: responder)
        // `==` with text holds only for a constant segment equal to it: never for `{id}`, `:id`, `*` or `**`.
        if path.components.allSatisfy({ $0 == $0.description }) {
            let endpoint = router.middlewares.constructResponder(finalResponder: responder)
            constantRoutes[path.description, default: ConstantRoute(path: path.description)].methods.append((method, endpoint))
        }
        return self
    }

    /// Middleware for the routes added after it, as Hummingbird's `Router.add(middleware:)`.
    @discardableResult func add(middleware: any MiddlewareProtocol<Request, Response, Context>) -> Self {
        router.add(middleware: middleware)
        return self
    }

    /// The router's middleware, for responders that answer a route before the router (`TokenReviewRouteResponder`).
    var middlewares: MiddlewareGroup<Context> { router.middlewares }

    /// The paths of the table, in order.
    var constantPaths: [String] { constantRoutes.keys.sorted() }

    /// The constant routes before the router.
    func buildResponder() -> ConstantRoutesResponder<RouterResponder<Context>> {
        ConstantRoutesResponder(routes: constantRoutes, router: router.buildResponder())
    }
}

/// A path without parameters and its handlers, each behind the middleware it was added with.
struct ConstantRoute: Sendable {
    /// The path as the router names it in `endpointPath`.
    let path: String
    var methods: [(method: HTTPRequest.Method, responder: any HTTPResponder<AppRequestContext>)] = []

    func responder(for method: HTTPRequest.Method) -> (any HTTPResponder<AppRequestContext>)? {
        methods.first { $0.method == method }?.responder
    }
}

/// Answers a request for a constant route from ``AppRouter``'s table, and every other request with the router.
struct ConstantRoutesResponder<Routes: HTTPResponder>: HTTPResponder where Routes.Context == AppRequestContext {
    let routes: [String: ConstantRoute]
    let router: Routes

    func respond(to request: Request, context: AppRequestContext) async throws -> Response {
        guard let route = routes[request.uri.path], let responder = route.responder(for: request.method) else {
            return try await router.respond(to: request, context: context)
        }
        // The parameters stay empty, as the router leaves them for a constant path.
        return try await responder.respond(asRoute: route.path, to: request, context: context)
    }
}

extension HTTPResponder where Context == AppRequestContext {
    /// Runs this route's responder as Hummingbird's router runs the one it resolved: with the route's path in
    /// `endpointPath` (a reference that the middleware around reads too, for the metrics' route label), and with an
    /// HTTP error it throws turned into the answer.
    func respond(asRoute path: String, to request: Request, context: AppRequestContext) async throws -> Response {
        context.coreContext.endpointPath.value = path
        do {
            return try await respond(to: request, context: context)
        } catch let error as any HTTPResponseError {
            return try error.response(from: request, context: context)
        }
    }
}
