import CloudfleetCore
import CloudfleetStore
import Foundation
import Hummingbird
import NIOCore

/// An error answered to the client as `{"error": {"code": …, "message": …, "field": …}}`.
///
/// The mapping of every domain, store and framework error to HTTP happens in ``APIError/init(translating:)``.
public struct APIError: Error, Sendable, Equatable {
    public var status: HTTPResponse.Status
    /// A stable, machine-readable code such as `not_found`.
    public var code: String
    /// One sentence for the person reading it.
    public var message: String
    /// The request field at fault, for invalid input.
    public var field: String?
    /// Extra response headers, such as `WWW-Authenticate`.
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, code: String, message: String, field: String? = nil, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers
    }

    static let unauthorized = APIError(
        .unauthorized, code: "unauthorized", message: "Unauthorized: supply a valid token ID and secret, or an access token.",
        headers: [.wwwAuthenticate: "Basic realm=\"cloudfleet\", Bearer realm=\"cloudfleet\""])
    static let forbidden = APIError(.forbidden, code: "forbidden", message: "The token's role does not allow this action.")
    static func notFound(_ what: String) -> APIError { APIError(.notFound, code: "not_found", message: "\(what) not found.") }
    static func invalidField(_ error: ValidationError) -> APIError {
        APIError(.unprocessableContent, code: "invalid_field", message: "Invalid \(error.field): \(error.reason).", field: error.field)
    }
    static func badRequest(_ message: String, field: String? = nil, code: String = "bad_request") -> APIError {
        APIError(.badRequest, code: code, message: message, field: field)
    }
    /// A change that contradicts the current state, with a message for the person who asked.
    static func conflict(_ message: String) -> APIError { APIError(.conflict, code: "conflict", message: message) }
    static let unavailable = APIError(.serviceUnavailable, code: "unavailable", message: "The database is unavailable; retry shortly.")
    static let internalError = APIError(.internalServerError, code: "internal", message: "Internal server error.")

    /// The API form of any error thrown while handling a request; `nil` for unexpected errors (a bare 500).
    init?(translating error: any Error) {
        switch error {
        case let error as APIError:
            self = error
        case let error as ValidationError:
            self = .invalidField(error)
        case StoreError.notFound:
            self = .notFound("Resource")
        case StoreError.alreadyExists:
            self = APIError(.conflict, code: "conflict", message: "The resource exists already.")
        case StoreError.unavailable:
            self = .unavailable
        case let error as HTTPError:
            self = APIError(httpError: error)
        case is NIOTooManyBytesError:
            self = APIError(.contentTooLarge, code: "payload_too_large", message: "The request body is too large.")
        default:
            return nil
        }
    }

    private init(httpError: HTTPError) {
        switch httpError.status {
        case .contentTooLarge:
            self.init(.contentTooLarge, code: "payload_too_large", message: "The request body is too large.")
        case .notFound:
            self.init(.notFound, code: "not_found", message: "No such resource.")
        case .methodNotAllowed:
            self.init(.methodNotAllowed, code: "method_not_allowed", message: "Method not allowed on this resource.")
        case let status where status.code >= 400 && status.code < 500:
            self.init(status, code: "bad_request", message: httpError.body ?? status.reasonPhrase)
        default:
            self.init(.internalServerError, code: "internal", message: "Internal server error.")
        }
        self.headers.append(contentsOf: httpError.headers)
    }
}

extension APIError: HTTPResponseError {
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.cacheControl] = "no-store"
        let data = try JSONEncoder().encode(ErrorBody(error: .init(code: code, message: message, field: field)))
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// The JSON form of an ``APIError``.
private struct ErrorBody: Encodable {
    struct Detail: Encodable {
        let code: String
        let message: String
        let field: String?
    }
    let error: Detail
}
