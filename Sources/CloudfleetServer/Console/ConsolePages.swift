import CloudfleetCore
import CloudfleetStore
import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import NIOCore

/// The console's templates and assets, compiled into the binary, and the responses built from them: every
/// page carries the console's security headers and `Cache-Control: no-store`.
struct ConsolePages: Sendable {
    private let library: MustacheLibrary

    /// Loads the templates; a template that does not parse is a build mistake, reported at start-up.
    init() throws {
        var library = MustacheLibrary()
        let templates: [(String, [UInt8])] = [
            ("layout", PackageResources.layout_mustache), ("sign_in", PackageResources.sign_in_mustache),
            ("link", PackageResources.link_mustache), ("tokens", PackageResources.tokens_mustache),
            ("token_new", PackageResources.token_new_mustache), ("secret", PackageResources.secret_mustache),
            ("confirm", PackageResources.confirm_mustache), ("users", PackageResources.users_mustache),
            ("error", PackageResources.error_mustache),
        ]
        for (name, bytes) in templates {
            try library.register(String(decoding: bytes, as: UTF8.self), named: name)
        }
        self.library = library
    }

    /// The headers of every console response: a CSP without inline script, no framing, no sniffing, no referrer
    /// (a sign-in link must not leak to another site), and nothing kept in caches.
    static let securityHeaders: HTTPFields = [
        .contentSecurityPolicy:
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        .xFrameOptions: "DENY",
        .xContentTypeOptions: "nosniff",
        .referrerPolicy: "no-referrer",
        .cacheControl: "no-store",
    ]

    /// A rendered page.
    func page(_ template: String, _ model: Any, status: HTTPResponse.Status = .ok) -> Response {
        var headers = Self.securityHeaders
        headers[.contentType] = "text/html; charset=utf-8"
        let html = library.render(model, withTemplate: template) ?? ""
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// A 303 to `location` (always a path of this console).
    static func redirect(to location: String) -> Response {
        var headers = securityHeaders
        headers[.location] = location
        return Response(status: .seeOther, headers: headers)
    }

    /// The stylesheet or the script.
    static func asset(named name: String) -> Response? {
        let (bytes, type): ([UInt8], String)
        switch name {
        case "console.css": (bytes, type) = (PackageResources.console_css, "text/css; charset=utf-8")
        case "console.js": (bytes, type) = (PackageResources.console_js, "text/javascript; charset=utf-8")
        default: return nil
        }
        var headers = securityHeaders
        headers[.contentType] = type
        headers[.cacheControl] = "public, max-age=300"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

// MARK: View models (rendered by Mustache through reflection)

/// The signed-in person as the layout shows them.
struct SessionView {
    let email: String
    let role: String
    let isAdministrator: Bool
    let csrfToken: String
    var onTokens = false
    var onUsers = false
}

struct SignInPage {
    let ssoEnabled: Bool
    var error: String?
    var notice: String?
}

struct LinkPage {
    var email: String?
    var token: String?
    var csrfToken: String?
    var error: String?
}

struct TokensPage {
    struct Row {
        let id: String
        let name: String
        let role: String
        let created: String
        let createdISO: String
        let lastUsed: String
        let expires: String
    }
    let session: SessionView
    let csrfToken: String
    let canChange: Bool
    let tokens: [Row]
    var notice: String?
    var nextPage: String?
}

struct NewTokenPage {
    let session: SessionView
    let csrfToken: String
    var name = ""
    var roleIsUser = false
    var error: String?
}

struct SecretPage {
    let session: SessionView
    let heading: String
    let id: String
    let name: String
    let role: String
    let secret: String
    let organizationID: String
}

struct ConfirmPage {
    let session: SessionView
    let csrfToken: String
    let heading: String
    let message: String
    let formID: String
    let action: String
    let confirmLabel: String
    let danger: Bool
    let cancel: String
}

struct UsersPage {
    struct Row {
        let id: String
        let email: String
        let role: String
        let isAdministrator: Bool
        let isSelf: Bool
        let lastSignIn: String
    }
    let session: SessionView
    let csrfToken: String
    let users: [Row]
    var notice: String?
    var error: String?
}

struct ErrorPage {
    let session: SessionView?
    let heading: String
    let message: String
    let back: String
    let backLabel: String
}

/// How the console writes instants: minutes in UTC, readable on a narrow screen.
enum ConsoleDate {
    static func text(_ date: Date?, none: String = "never") -> String {
        guard let date else { return none }
        return date.formatted(
            Date.VerbatimFormatStyle(
                format:
                    "\(year: .defaultDigits)-\(month: .twoDigits)-\(day: .twoDigits) \(hour: .twoDigits(clock: .twentyFourHour, hourCycle: .zeroBased)):\(minute: .twoDigits) UTC",
                timeZone: .gmt, calendar: Calendar(identifier: .gregorian)))
    }
}
