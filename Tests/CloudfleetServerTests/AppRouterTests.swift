import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Synchronization
import Testing

@testable import CloudfleetServer

/// ``AppRouter`` answers a constant route from its table of whole paths and leaves the rest to Hummingbird's
/// router: for any request, the answer is the router's own.
@Suite struct AppRouterTests {
    /// Notes each request's endpoint path (the metrics' route label) and how often the middleware ran.
    struct Recording: RouterMiddleware {
        typealias Context = AppRequestContext
        let seen: Seen

        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            seen.paths.withLock { $0.append(context.endpointPath ?? "none") }
            return try await next(request, context)
        }
    }

    final class Seen: Sendable {
        let paths = Mutex<[String]>([])
    }

    /// Adds a header, as a group's middleware (the console's error pages) does.
    struct Stamp: RouterMiddleware {
        typealias Context = AppRequestContext

        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            var response = try await next(request, context)
            response.headers[.cacheControl] = "stamped"
            return response
        }
    }

    struct Routes {
        let router = AppRouter()
        let seen = Seen()

        init() {
            router.add(middleware: Recording(seen: seen))
            // A parameter beside a constant segment, added before it: the trie still tries the constant first.
            router.get("items/{id}") { _, context in "item \(context.parameters.get("id") ?? "?")" }
            router.delete("items/{id}") { _, context in "deleted \(context.parameters.get("id") ?? "?")" }
            router.get("items/special") { _, _ in "special" }
            router.post("items") { _, _ in "created" }
            router.get("healthz") { _, _ in "ok" }
            router.get("refused") { _, _ -> String in throw HTTPError(.forbidden, message: "no") }
            let group = router.group("console").add(middleware: Stamp())
            group.get("tokens") { _, _ in "console tokens" }
            group.get("tokens/{id}") { _, context in "console token \(context.parameters.get("id") ?? "?")" }
        }
    }

    /// What a client sees of an answer, and the endpoint path the middleware saw.
    struct Answer: Equatable, CustomStringConvertible {
        let status: HTTPResponse.Status
        let body: String
        let stamp: String?
        let endpoint: String

        var description: String { "\(status.code) \(body) stamp=\(stamp ?? "-") endpoint=\(endpoint)" }
    }

    static let requests: [(HTTPRequest.Method, String)] = [
        (.get, "/healthz"), (.get, "/healthz/"), (.get, "//healthz"), (.get, "/HEALTHZ"), (.head, "/healthz"), (.post, "/healthz"),
        (.get, "/healthz?verbose=1"), (.get, "/items/special"), (.delete, "/items/special"), (.get, "/items/special/"), (.get, "/items/42"),
        (.delete, "/items/42"), (.post, "/items"), (.get, "/items"), (.get, "/refused"), (.get, "/console/tokens"),
        (.get, "/console/tokens/7"), (.get, "/console//tokens"), (.get, "/nothing"), (.get, "/"),
    ]

    func answers(_ seen: Seen, _ responder: some HTTPResponder<AppRequestContext>) async throws -> [Answer] {
        try await Application(responder: responder).test(.router) { client in
            var answers: [Answer] = []
            for (method, path) in Self.requests {
                let response = try await client.execute(uri: path, method: method)
                // The middleware ran once, and saw the endpoint path.
                let endpoints = seen.paths.withLock { paths in
                    defer { paths.removeAll() }
                    return paths
                }
                answers.append(
                    Answer(
                        status: response.status, body: String(buffer: response.body), stamp: response.headers[.cacheControl],
                        endpoint: endpoints.joined(separator: ", ")))
            }
            return answers
        }
    }

    @Test func everyRequestGetsTheRoutersAnswer() async throws {
        let routes = Routes()
        let viaTable = try await answers(routes.seen, routes.router.buildResponder())
        let viaRouter = try await answers(routes.seen, routes.router.router.buildResponder())
        for (index, (table, router)) in zip(viaTable, viaRouter).enumerated() {
            #expect(table == router, "\(Self.requests[index]): \(table) against the router's \(router)")
        }
        // What the router answers, for the record: the constant segment wins over `{id}`, for every method.
        let answer = Dictionary(uniqueKeysWithValues: zip(Self.requests.map { "\($0.0) \($0.1)" }, viaTable))
        #expect(answer["GET /healthz"] == Answer(status: .ok, body: "ok", stamp: nil, endpoint: "/healthz"))
        #expect(answer["GET /items/special"] == Answer(status: .ok, body: "special", stamp: nil, endpoint: "/items/special"))
        #expect(answer["DELETE /items/special"]?.status == .notFound)
        #expect(answer["GET /items/42"] == Answer(status: .ok, body: "item 42", stamp: nil, endpoint: "/items/{id}"))
        #expect(answer["GET /console/tokens"] == Answer(status: .ok, body: "console tokens", stamp: "stamped", endpoint: "/console/tokens"))
        #expect(answer["GET /refused"]?.status == .forbidden)
        #expect(answer["POST /healthz"]?.status == .notFound)
    }

    @Test func onlyPathsWithoutParametersAreInTheTable() {
        let routes = Routes()
        #expect(
            routes.router.constantPaths == ["/console/tokens", "/healthz", "/items", "/items/special", "/refused"])
    }
}
