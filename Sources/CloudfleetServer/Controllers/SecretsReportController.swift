import CloudfleetCore
import CloudfleetStore
import Foundation
import Hummingbird
import Logging

/// `POST /v1/secrets/report`: secret scanners report leaked secrets, in the format of GitHub's secret scanning
/// partner programme: a JSON array of `{"token", "type", "url", "source"}`.
///
/// The caller authenticates with a `secret-scanner` service credential. Each reported value that is the
/// current or grace-period secret of a token is revoked at once and audited with the reporter and URL; the
/// answer is the same whether or not anything matched, so the endpoint tells nobody which secrets are real.
struct SecretsReportController {
    static let maximumEntries = 100

    let services: ServiceCredentials
    let tokens: TokenService

    func addRoutes(to router: AppRouter) {
        router.post("v1/secrets/report", use: report)
    }

    struct Entry: Decodable {
        let token: String
        let type: String?
        let url: String?
        let source: String?
    }

    struct Receipt: ResponseEncodable {
        let received: Int
    }

    @Sendable func report(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<Receipt> {
        let service = try await services.authenticate(request.headers, kind: .secretScanner)
        let entries = try await RequestBody.decode([Entry].self, from: request, context: context)
        guard entries.count <= Self.maximumEntries else {
            throw APIError.badRequest("Report at most \(Self.maximumEntries) secrets per request.", code: "too_many_entries")
        }
        let audit = AuditContext(actor: "service:\(service.name)", sourceIP: context.sourceIP, requestID: context.id)
        for entry in entries {
            // Anything that is not a well-formed secret cannot be one of ours; no lookup.
            guard let secret = try? TokenSecret(parsing: entry.token) else { continue }
            if let revoked = try await tokens.revokeLeaked(secret, reporter: service.name, url: entry.url, context: audit) {
                context.logger.notice(
                    "revoked a leaked token secret", metadata: ["token_id": "\(revoked.id)", "reporter": "\(service.name)"])
            }
        }
        return EditedResponse(status: .accepted, response: Receipt(received: entries.count))
    }
}
