import Hummingbird
import Logging

/// Turns every error of a console route into a page (never JSON, never a stack trace): a request without a
/// session goes to the sign-in page, anything else gets an error page with the status the API would answer.
struct ConsoleErrorMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let pages: ConsolePages

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch is ConsoleSignInRequired {
            return ConsolePages.redirect(to: "/console/sign-in")
        } catch {
            guard let apiError = APIError(translating: error) else {
                context.logger.error("unhandled console error", metadata: ["error": "\(String(reflecting: error))"])
                return page(.internalServerError, "Something went wrong", "The server could not finish this request. Try again.")
            }
            switch apiError.status {
            case .unauthorized:
                return ConsolePages.redirect(to: "/console/sign-in")
            case .forbidden where apiError.code == "forbidden":
                return page(.forbidden, "Not allowed", "Your role does not allow this. Ask an Administrator of your organization.")
            case .notFound:
                return page(.notFound, "Not found", apiError.message)
            case .serviceUnavailable:
                return page(.serviceUnavailable, "Try again shortly", "The database is unavailable; try again in a moment.")
            default:
                return page(apiError.status, "This request was refused", apiError.message)
            }
        }
    }

    private func page(_ status: HTTPResponse.Status, _ heading: String, _ message: String) -> Response {
        pages.page(
            "error", ErrorPage(session: nil, heading: heading, message: message, back: "/console/tokens", backLabel: "Back to the console"),
            status: status)
    }
}
