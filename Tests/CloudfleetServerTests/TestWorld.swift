import CloudfleetCore
import CloudfleetStore
import CloudfleetStoreSQLite
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore

@testable import CloudfleetServer

/// A token's credentials as a client holds them.
struct Credentials: Sendable {
    let id: String
    let secret: String

    var basic: HTTPFields {
        [.authorization: "Basic " + Data("\(id):\(secret)".utf8).base64EncodedString()]
    }

    static func bearerHeader(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)"] }
}

/// A fresh server on a temporary SQLite database with two organizations: `home` with an Administrator and a
/// User token, and `other` with an Administrator token.
struct TestWorld {
    let directory: URL
    let store: SQLiteStore
    let dependencies: AppDependencies
    /// The configuration of every application the world builds; tests may change it before ``test(_:)``.
    var configuration: ServerConfiguration
    let home: OrganizationID
    let other: OrganizationID
    let admin: Credentials
    let user: Credentials
    let otherAdmin: Credentials
    /// Whether ``run(_:)`` serves the application on a real socket (HummingbirdTesting's `.live`), so that
    /// requests have a peer address (`127.0.0.1` or `::1`), instead of calling the router directly.
    var live = false

    static func make(now: @escaping @Sendable () -> Date = { Date() }) async throws -> TestWorld {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cf-api-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try await SQLiteStore.open(path: directory.appendingPathComponent("db.sqlite").path)
        try await store.migrate()
        let dependencies = AppDependencies(store: store, serverKey: .generate(), clock: now)
        let services = AppServices(dependencies: dependencies)
        let setup = AuditContext(actor: "test")
        let home = try await services.organizations.create(name: "Home", context: setup).id
        let other = try await services.organizations.create(name: "Other", context: setup).id
        func token(_ role: Role, _ organization: OrganizationID) async throws -> Credentials {
            let issued = try await services.tokens.create(name: try TokenName("\(role)"), role: role, organization: organization, context: setup)
            return Credentials(id: issued.token.id.rawValue, secret: issued.secret.reveal)
        }
        return TestWorld(
            directory: directory, store: store, dependencies: dependencies,
            configuration: ServerConfiguration(port: 0, dataDirectory: directory.path, usageFlushInterval: 3600),
            home: home, other: other, admin: try await token(.administrator, home), user: try await token(.user, home),
            otherAdmin: try await token(.administrator, other))
    }

    /// The same world with its configuration changed by `change`.
    func configured(_ change: (inout ServerConfiguration) -> Void) -> TestWorld {
        var world = self
        change(&world.configuration)
        return world
    }

    /// Runs `body` against the application through the router test client, then removes the database.
    func test<T: Sendable>(_ body: @Sendable (any TestClientProtocol) async throws -> T) async throws -> T {
        try await closing { try await run(body) }
    }

    /// Like ``test(_:)``, against an application whose store counts its reads: for tests that prove a request did
    /// not reach the database.
    func testCountingReads<T: Sendable>(_ body: @Sendable (CountingStore, any TestClientProtocol) async throws -> T) async throws -> T {
        try await closing {
            let counting = CountingStore(store)
            var dependencies = self.dependencies
            dependencies.store = counting
            let app = try await buildApplication(configuration: configuration, dependencies: dependencies)
            return try await app.test(.router) { client in try await body(counting, client) }
        }
    }

    /// Runs `body`, then closes the world whether `body` returned or threw (a failed `#require` throws): for tests
    /// that build their own application or read the store around their requests.
    func closing<T>(_ body: () async throws -> T) async throws -> T {
        let result: Result<T, any Error>
        do {
            result = .success(try await body())
        } catch {
            result = .failure(error)
        }
        try await close()
        return try result.get()
    }

    /// Closes the database and removes its directory; for tests that use the world without ``test(_:)``.
    func close() async throws {
        try await store.close()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Runs `body` against a freshly built application and leaves the database open: calling it again is a
    /// restart of the server on the same database. End with ``test(_:)``, which cleans up.
    func run<T: Sendable>(_ body: @Sendable (any TestClientProtocol) async throws -> T) async throws -> T {
        let app = try await buildApplication(configuration: configuration, dependencies: dependencies)
        return try await app.test(live ? .live : .router) { client in try await body(client) }
    }

    /// The same world served on a real socket (see ``live``).
    func served() -> TestWorld {
        var world = self
        world.live = true
        return world
    }

    /// Stores a service credential of `kind`, as `cloudfleet-server admin create-service-credential` does, and
    /// returns its value.
    func serviceCredential(_ kind: ServiceCredential.Kind, name: String, at date: Date = Date()) async throws -> String {
        let credential = ServiceCredential.generate()
        try await store.createServiceCredential(
            ServiceCredentialRecord(
                kind: kind, name: name, digest: SecretHasher(serverKey: dependencies.serverKey).digest(credential), createdAt: date))
        return credential.reveal
    }
}

/// Waits until `condition` holds, for work the server does off the request path (refusal audit events are
/// written by a detached task). Polls every 10 ms for at most 5 s; this waits for a task, never for time to pass
/// on the server's clock.
func eventually(_ what: String, _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now.advanced(by: .seconds(5))
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    throw TestFailure("timed out waiting for \(what)")
}

extension Date {
    /// RFC 3339 in UTC without fractional seconds, as the API writes dates.
    var rfc3339: String { formatted(.iso8601) }
}

// MARK: Typed helpers

struct Reply: Sendable {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let body: ByteBuffer

    var json: [String: Any] {
        get throws {
            let object = try JSONSerialization.jsonObject(with: Data(body.readableBytesView))
            guard let dictionary = object as? [String: Any] else { throw TestFailure("not a JSON object: \(text)") }
            return dictionary
        }
    }

    var text: String { String(buffer: body) }

    func string(_ key: String) throws -> String {
        guard let value = try json[key] as? String else { throw TestFailure("no string \(key) in \(text)") }
        return value
    }

    /// `error.code` and `error.field` of an API error body.
    var error: (code: String?, field: String?) {
        let detail = (try? json)?["error"] as? [String: Any]
        return (detail?["code"] as? String, detail?["field"] as? String)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension TestClientProtocol {
    func send(
        _ method: HTTPRequest.Method, _ uri: String, auth: HTTPFields = [:], json: String? = nil,
        headers: HTTPFields = [:]
    ) async throws -> Reply {
        var all = auth
        all.append(contentsOf: headers)
        if json != nil, all[.contentType] == nil { all[.contentType] = "application/json" }
        return try await execute(uri: uri, method: method, headers: all, body: json.map { ByteBuffer(string: $0) }) { response in
            Reply(status: response.status, headers: response.headers, body: response.body)
        }
    }

    func createToken(_ auth: Credentials, name: String = "ci", role: String = "User") async throws -> Credentials {
        let reply = try await send(.post, "/v1/tokens", auth: auth.basic, json: #"{"name":"\#(name)","role":"\#(role)"}"#)
        guard reply.status == .created else { throw TestFailure("create failed: \(reply.status) \(reply.text)") }
        return Credentials(id: try reply.string("id"), secret: try reply.string("secret"))
    }

    /// Creates a token with the extra members of `fields` (such as `expires_at` or `allowed_cidrs`).
    func createToken(_ auth: Credentials, name: String = "ci", role: String = "User", with fields: [String: Any]) async throws
        -> Credentials
    {
        var body = fields
        body["name"] = name
        body["role"] = role
        let reply = try await send(.post, "/v1/tokens", auth: auth.basic, json: try Kube.json(body))
        guard reply.status == .created else { throw TestFailure("create failed: \(reply.status) \(reply.text)") }
        return Credentials(id: try reply.string("id"), secret: try reply.string("secret"))
    }

    /// A token as `GET /v1/tokens/{id}` describes it.
    func describe(_ id: String, auth: Credentials) async throws -> [String: Any] {
        let reply = try await send(.get, "/v1/tokens/\(id)", auth: auth.basic)
        guard reply.status == .ok else { throw TestFailure("describe failed: \(reply.status) \(reply.text)") }
        return try reply.json
    }

    /// `GET /v1/audit-events` with `query` (without the `?`), all pages' items, newest first.
    func audit(_ auth: Credentials, _ query: String = "") async throws -> [[String: Any]] {
        var items: [[String: Any]] = []
        var cursor: String?
        repeat {
            let parts = [query, "limit=200", cursor.map { "cursor=\($0)" }].compactMap { $0 }.filter { !$0.isEmpty }
            let reply = try await send(.get, "/v1/audit-events?" + parts.joined(separator: "&"), auth: auth.basic)
            guard reply.status == .ok, let page = try reply.json["items"] as? [[String: Any]] else {
                throw TestFailure("audit events failed: \(reply.status) \(reply.text)")
            }
            items += page
            cursor = try reply.json["next_cursor"] as? String
        } while cursor != nil
        return items
    }

    /// Exchanges credentials at `/v1/auth/token` and returns the whole answer.
    func exchange(_ credentials: Credentials, headers: HTTPFields = [:]) async throws -> Reply {
        try await execute(
            uri: "/v1/auth/token", method: .post,
            headers: credentials.basic + [.contentType: "application/x-www-form-urlencoded"] + headers,
            body: ByteBuffer(string: "grant_type=client_credentials")
        ) { Reply(status: $0.status, headers: $0.headers, body: $0.body) }
    }

    func accessToken(_ credentials: Credentials) async throws -> String {
        let exchanged = try await execute(
            uri: "/v1/auth/token", method: .post,
            headers: credentials.basic + [.contentType: "application/x-www-form-urlencoded"],
            body: ByteBuffer(string: "grant_type=client_credentials")
        ) { Reply(status: $0.status, headers: $0.headers, body: $0.body) }
        guard exchanged.status == .ok else { throw TestFailure("exchange failed: \(exchanged.status) \(exchanged.text)") }
        return try exchanged.string("access_token")
    }
}

extension HTTPFields {
    static func + (lhs: HTTPFields, rhs: HTTPFields) -> HTTPFields {
        var result = lhs
        result.append(contentsOf: rhs)
        return result
    }
}
