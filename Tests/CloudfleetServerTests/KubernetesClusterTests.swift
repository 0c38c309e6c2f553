import CloudfleetCore
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import CloudfleetServer

/// `/v1/clusters`: registering, describing, listing and deleting clusters, and their webhook credentials.
@Suite struct KubernetesClusterTests {
    @Test func registerDescribeListAndDelete() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let body = try Kube.json(["name": "  prod-eu-1 ", "api_endpoint": "https://k8s.example.com:6443/prefix", "ca_bundle": Kube.caBundle])
            let created = try await client.send(.post, "/v1/clusters", auth: world.admin.basic, json: body)
            #expect(created.status == .created, "\(created.text)")
            let id = try created.string("id")
            #expect(ClusterID(id)?.description == id, "a lower-case UUID: \(id)")
            #expect(created.headers[.location] == "/v1/clusters/\(id)")
            let cluster = try created.json
            #expect(Set(cluster.keys) == Kube.clusterFields)
            #expect(cluster["name"] as? String == "prod-eu-1")
            #expect(cluster["organization_id"] as? String == world.home.description)
            #expect(cluster["api_endpoint"] as? String == "https://k8s.example.com:6443/prefix")
            #expect(cluster["ca_bundle"] as? String == Kube.caBundle)
            #expect(cluster["issuer"] as? String == world.configuration.issuer)
            #expect(cluster["audience"] as? String == "cloudfleet:cluster:\(id)")
            #expect(cluster["token_review_url"] as? String == "\(world.configuration.issuer)/v1/clusters/\(id)/tokenreview")
            #expect(cluster["issuer_ca_bundle"] is NSNull)
            #expect(cluster["webhook_configured"] as? Bool == false)
            #expect(cluster["created_by"] as? String == "token:\(world.admin.id)")
            #expect(cluster["created_at"] as? String == cluster["updated_at"] as? String)

            // Any role may read, and reads give back exactly what was registered.
            for auth in [world.admin.basic, world.user.basic, Credentials.bearerHeader(try await client.accessToken(world.user))] {
                let described = try await client.send(.get, "/v1/clusters/\(id)", auth: auth)
                #expect(described.status == .ok)
                // Keys are sorted, so the same cluster is the same text.
                #expect(described.text == created.text)
                let listed = try await client.send(.get, "/v1/clusters", auth: auth)
                #expect(listed.status == .ok)
                #expect(listed.text == #"{"items":[\#(created.text)],"next_cursor":null}"#)
            }
            // The path ID is accepted in any case.
            #expect(try await client.send(.get, "/v1/clusters/\(id.uppercased())", auth: world.admin.basic).status == .ok)

            let deleted = try await client.send(.delete, "/v1/clusters/\(id)", auth: world.admin.basic)
            #expect(deleted.status == .noContent)
            #expect(try await client.send(.get, "/v1/clusters/\(id)", auth: world.admin.basic).status == .notFound)
            #expect(try await client.send(.delete, "/v1/clusters/\(id)", auth: world.admin.basic).status == .notFound)
            #expect(try await client.send(.post, "/v1/clusters/\(id)/token", auth: world.admin.basic).status == .notFound)
            let emptied = try await client.send(.get, "/v1/clusters", auth: world.admin.basic)
            #expect((try emptied.json["items"] as? [Any])?.isEmpty == true)
            // A deleted cluster's name can be used again.
            _ = try await client.createCluster(world.admin.basic, name: "prod-eu-1")
        }
    }

    @Test func aClusterWithoutCABundleHasNull() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            for body in [#"{"name":"a","api_endpoint":"https://a.example"}"#, #"{"name":"b","api_endpoint":"https://b.example","ca_bundle":null}"#] {
                let reply = try await client.send(.post, "/v1/clusters", auth: world.admin.basic, json: body)
                #expect(reply.status == .created, "\(reply.text)")
                #expect(try reply.json["ca_bundle"] is NSNull)
                let described = try await client.send(.get, "/v1/clusters/\(try reply.string("id"))", auth: world.admin.basic)
                #expect(try described.json["ca_bundle"] is NSNull)
            }
        }
    }

    static let invalidCreates: [(body: String, status: Int, code: String, field: String?)] = [
        (#"{"name":"Prod","api_endpoint":"https://a.example"}"#, 422, "invalid_field", "name"),
        (#"{"name":"-prod","api_endpoint":"https://a.example"}"#, 422, "invalid_field", "name"),
        (#"{"name":"prod-","api_endpoint":"https://a.example"}"#, 422, "invalid_field", "name"),
        (#"{"name":"1prod","api_endpoint":"https://a.example"}"#, 422, "invalid_field", "name"),
        (#"{"name":"prod_eu","api_endpoint":"https://a.example"}"#, 422, "invalid_field", "name"),
        (#"{"name":"prod.eu","api_endpoint":"https://a.example"}"#, 422, "invalid_field", "name"),
        (#"{"name":"   ","api_endpoint":"https://a.example"}"#, 422, "invalid_field", "name"),
        (#"{"name":"\#(String(repeating: "a", count: 64))","api_endpoint":"https://a.example"}"#, 422, "invalid_field", "name"),
        (#"{"name":"prod","api_endpoint":"http://203.0.113.10:6443"}"#, 422, "invalid_field", "api_endpoint"),
        (#"{"name":"prod","api_endpoint":"https://admin:hunter2@203.0.113.10:6443"}"#, 422, "invalid_field", "api_endpoint"),
        (#"{"name":"prod","api_endpoint":"https://token@203.0.113.10:6443"}"#, 422, "invalid_field", "api_endpoint"),
        (#"{"name":"prod","api_endpoint":"https://203.0.113.10:6443?token=x"}"#, 422, "invalid_field", "api_endpoint"),
        (#"{"name":"prod","api_endpoint":"https://203.0.113.10:6443#x"}"#, 422, "invalid_field", "api_endpoint"),
        (#"{"name":"prod","api_endpoint":"https://"}"#, 422, "invalid_field", "api_endpoint"),
        (#"{"name":"prod","api_endpoint":"ftp://203.0.113.10"}"#, 422, "invalid_field", "api_endpoint"),
        (#"{"name":"prod","api_endpoint":"203.0.113.10:6443"}"#, 422, "invalid_field", "api_endpoint"),
        (#"{"name":"prod","api_endpoint":""}"#, 422, "invalid_field", "api_endpoint"),
        (#"{"name":"prod","api_endpoint":"https://a.example","ca_bundle":"not a certificate"}"#, 422, "invalid_field", "ca_bundle"),
        (#"{"name":"prod","api_endpoint":"https://a.example","ca_bundle":""}"#, 422, "invalid_field", "ca_bundle"),
        (
            #"{"name":"prod","api_endpoint":"https://a.example","ca_bundle":"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"}"#,
            422, "invalid_field", "ca_bundle"
        ),
        (#"{"name":"prod","api_endpoint":"https://a.example","colour":"blue"}"#, 400, "invalid_field", "colour"),
        (#"{"name":"prod","api_endpoint":"https://a.example","webhook_configured":true}"#, 400, "invalid_field", "webhook_configured"),
        (#"{"name":"prod"}"#, 400, "missing_field", "api_endpoint"),
        (#"{"api_endpoint":"https://a.example"}"#, 400, "missing_field", "name"),
        (#"{"name":7,"api_endpoint":"https://a.example"}"#, 400, "invalid_type", "name"),
        (#"{"name":"prod","api_endpoint":"https://a.example","ca_bundle":7}"#, 400, "invalid_type", "ca_bundle"),
        (#"["prod"]"#, 400, "invalid_json", nil),
        (#"{"name":"prod","#, 400, "invalid_json", nil),
    ]

    @Test(arguments: invalidCreates)
    func invalidClustersAreRefusedAndChangeNothing(_ body: String, _ status: Int, _ code: String, _ field: String?) async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let reply = try await client.send(.post, "/v1/clusters", auth: world.admin.basic, json: body)
            #expect(Int(reply.status.code) == status, "\(body): \(reply.text)")
            #expect(reply.error.code == code, "\(body): \(reply.text)")
            #expect(reply.error.field == field, "\(body): \(reply.text)")
            try await Self.expectNoClusters(client, world)
        }
    }

    /// A private key pasted along with the CA would be shown to every token and written into kubeconfigs.
    @Test(
        arguments: [
            ("endpoint port out of range", "https://a.example:99999", nil),
            ("endpoint with white space", "https://a.example/ path", nil),
            (
                "certificate and private key", Kube.endpoint,
                Kube.caBundle + "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"
            ),
            ("stray text before the certificate", Kube.endpoint, "hello\n" + Kube.caBundle),
            ("unterminated certificate", Kube.endpoint, "-----BEGIN CERTIFICATE-----\nAAAA\n"),
        ] as [(String, String, String?)])
    func endpointsAndBundlesWithAnythingExtraAreRefused(_ label: String, _ endpoint: String, _ bundle: String?) async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            var fields = ["name": "prod", "api_endpoint": endpoint]
            if let bundle { fields["ca_bundle"] = bundle }
            let reply = try await client.send(.post, "/v1/clusters", auth: world.admin.basic, json: try Kube.json(fields))
            #expect(reply.status == .unprocessableContent, "\(label): \(reply.text)")
            #expect(reply.error.field == (bundle == nil ? "api_endpoint" : "ca_bundle"), "\(label)")
            try await Self.expectNoClusters(client, world)
        }
    }

    @Test func wrongContentTypeAndOversizedBodiesAreRefused() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let body = #"{"name":"prod","api_endpoint":"https://a.example"}"#
            let text = try await client.send(.post, "/v1/clusters", auth: world.admin.basic, json: body, headers: [.contentType: "text/plain"])
            #expect(text.status == .unsupportedMediaType)
            #expect(text.error.code == "unsupported_media_type")
            let huge = try Kube.json(["name": "prod", "api_endpoint": "https://a.example", "ca_bundle": String(repeating: "A", count: 70_000)])
            let large = try await client.send(.post, "/v1/clusters", auth: world.admin.basic, json: huge)
            #expect(large.status == .contentTooLarge)
            #expect(large.error.code == "payload_too_large")
            try await Self.expectNoClusters(client, world)
        }
    }

    @Test func namesAreUniqueWithinAnOrganization() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let first = try await client.createCluster(world.admin.basic, name: "prod")
            for name in ["prod", " prod "] {
                let clash = try await client.send(
                    .post, "/v1/clusters", auth: world.admin.basic, json: try Kube.json(["name": name, "api_endpoint": "https://other.example"]))
                #expect(clash.status == .conflict, "\(clash.text)")
                #expect(clash.error.code == "conflict")
                #expect(clash.error.field == "name")
            }
            let listed = try await client.send(.get, "/v1/clusters", auth: world.admin.basic)
            let items = try #require(try listed.json["items"] as? [[String: Any]])
            #expect(items.compactMap { $0["id"] as? String } == [first])
            #expect(items.first?["api_endpoint"] as? String == Kube.endpoint, "the first cluster is unchanged")
            let created = try await client.auditEvents(world.admin.basic, target: first)
            #expect(created.events.count == 1)
            #expect(!created.text.contains("other.example"), "a refused create writes no audit event")
            // Another organization may use the same name.
            _ = try await client.createCluster(world.otherAdmin.basic, name: "prod")
        }
    }

    @Test func anotherOrganizationsClustersAreInvisible() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let ours = try await client.createCluster(world.admin.basic, name: "ours")
            let theirs = try await client.createCluster(world.otherAdmin.basic, name: "theirs")
            for auth in [world.otherAdmin.basic, Credentials.bearerHeader(try await client.accessToken(world.otherAdmin))] {
                for (method, path) in [
                    (HTTPRequest.Method.get, "/v1/clusters/\(ours)"), (.delete, "/v1/clusters/\(ours)"),
                    (.post, "/v1/clusters/\(ours)/webhook-credential"), (.post, "/v1/clusters/\(ours)/token"),
                ] {
                    let reply = try await client.send(method, path, auth: auth)
                    #expect(reply.status == .notFound, "\(method) \(path): \(reply.text)")
                    #expect(reply.error.code == "not_found")
                }
                let listed = try await client.send(.get, "/v1/clusters", auth: auth)
                #expect((try listed.json["items"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [theirs])
            }
            let ourList = try await client.send(.get, "/v1/clusters", auth: world.admin.basic)
            #expect((try ourList.json["items"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [ours])
            let intact = try await client.send(.get, "/v1/clusters/\(ours)", auth: world.admin.basic)
            #expect(intact.status == .ok, "another organization's delete removed the cluster")
            #expect(try intact.json["webhook_configured"] as? Bool == false, "another organization issued a credential")
            #expect(try await client.auditEvents(world.admin.basic, target: ours).events.count == 1)
        }
    }

    @Test func usersMayReadAndExchangeButNotChange() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let id = try await client.createCluster(world.admin.basic, name: "prod")
            let bearer = Credentials.bearerHeader(try await client.accessToken(world.user))
            for auth in [world.user.basic, bearer] {
                let create = try await client.send(
                    .post, "/v1/clusters", auth: auth, json: #"{"name":"mine","api_endpoint":"https://a.example"}"#)
                #expect(create.status == .forbidden)
                #expect(create.error.code == "forbidden")
                #expect(try await client.send(.delete, "/v1/clusters/\(id)", auth: auth).status == .forbidden)
                #expect(try await client.send(.post, "/v1/clusters/\(id)/webhook-credential", auth: auth).status == .forbidden)
                // A User's change is refused before any look-up, so it tells nothing about which clusters exist.
                #expect(try await client.send(.delete, "/v1/clusters/\(ClusterID.generate())", auth: auth).status == .forbidden)
                #expect(try await client.send(.get, "/v1/clusters/\(id)", auth: auth).status == .ok)
                #expect(try await client.send(.get, "/v1/clusters", auth: auth).status == .ok)
                #expect(try await client.send(.post, "/v1/clusters/\(id)/token", auth: auth).status == .ok)
            }
            let listed = try await client.send(.get, "/v1/clusters", auth: world.admin.basic)
            let items = try #require(try listed.json["items"] as? [[String: Any]])
            #expect(items.compactMap { $0["id"] as? String } == [id])
            #expect(items.first?["webhook_configured"] as? Bool == false)
            let audit = try await client.send(.get, "/v1/audit-events", auth: world.admin.basic)
            let actions = (try audit.json["items"] as? [[String: Any]])?.compactMap { $0["action"] as? String } ?? []
            #expect(actions.filter { $0.hasPrefix("cluster.") } == ["cluster.create"])
        }
    }

    @Test func theWebhookCredentialIsShownOnceAndReplacesTheOldOne() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let id = try await client.createCluster(world.admin.basic, name: "prod")
            let token = try await client.clusterToken(world.admin.basic, cluster: id)
            // No credential yet: nothing may call the webhook.
            #expect(try await client.review(cluster: id, credential: nil, token: token).status == .unauthorized)

            let issued = try await client.send(.post, "/v1/clusters/\(id)/webhook-credential", auth: world.admin.basic)
            #expect(issued.status == .ok)
            #expect(issued.headers[.cacheControl] == "no-store")
            #expect(issued.headers[.pragma] == "no-cache")
            #expect(Set(try issued.json.keys) == ["cluster_id", "credential"])
            #expect(try issued.string("cluster_id") == id)
            let first = try issued.string("credential")
            #expect(first.hasPrefix("cfwh_"))
            _ = try WebhookCredential(parsing: first)

            let described = try await client.send(.get, "/v1/clusters/\(id)", auth: world.admin.basic)
            #expect(try described.json["webhook_configured"] as? Bool == true)
            let listed = try await client.send(.get, "/v1/clusters", auth: world.admin.basic)
            for body in [described.text, listed.text] {
                #expect(!body.contains(first))
                #expect(!body.contains("cfwh_"))
                #expect(!body.contains("digest"))
            }
            #expect(try await client.verdict(cluster: id, credential: first, token: token).authenticated == true)

            let second = try await client.issueWebhookCredential(world.admin.basic, cluster: id)
            #expect(second != first)
            let stale = try await client.review(cluster: id, credential: first, token: token)
            #expect(stale.status == .unauthorized, "the replaced credential still works: \(stale.text)")
            #expect(try await client.verdict(cluster: id, credential: second, token: token).authenticated == true)
        }
    }

    @Test func changesAreAuditedWithoutTheCredential() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            let created = try await client.send(
                .post, "/v1/clusters", auth: world.admin.basic, json: try Kube.json(["name": "audited", "api_endpoint": Kube.endpoint]))
            let id = try created.string("id")
            let first = try await client.send(.post, "/v1/clusters/\(id)/webhook-credential", auth: world.admin.basic)
            let second = try await client.send(.post, "/v1/clusters/\(id)/webhook-credential", auth: world.admin.basic)
            let deleted = try await client.send(.delete, "/v1/clusters/\(id)", auth: world.admin.basic)
            #expect(deleted.status == .noContent)

            let (events, text) = try await client.auditEvents(world.admin.basic, target: id)
            #expect(
                events.compactMap { $0["action"] as? String }
                    == ["cluster.delete", "cluster.webhook_credential.issue", "cluster.webhook_credential.issue", "cluster.create"])
            for event in events {
                #expect(event["target_type"] as? String == "cluster")
                #expect(event["actor"] as? String == "token:\(world.admin.id)")
                #expect(event["outcome"] as? String == "success")
            }
            let requestIDs = events.compactMap { $0["request_id"] as? String }
            #expect(requestIDs == [deleted, second, first, created].compactMap { $0.headers[.requestID] })
            let details = try #require(events.last?["details"] as? [String: String])
            #expect(details["name"] == "audited")
            #expect(details["api_endpoint"] == Kube.endpoint)
            for credential in [try first.string("credential"), try second.string("credential")] {
                #expect(!text.contains(credential))
            }
            #expect(!text.contains("cfwh_"))
        }
    }

    @Test func listsArePaginatedWithOpaqueCursors() async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            var created: [String] = []
            for index in 0..<5 { created.append(try await client.createCluster(world.admin.basic, name: "c\(index)")) }
            _ = try await client.createCluster(world.otherAdmin.basic, name: "theirs")
            var seen: [String] = []
            var cursor: String?
            var pages = 0
            repeat {
                pages += 1
                let query = cursor.map { "&cursor=\($0)" } ?? ""
                let page = try await client.send(.get, "/v1/clusters?limit=2\(query)", auth: world.user.basic)
                #expect(page.status == .ok)
                let items = try #require(try page.json["items"] as? [[String: Any]])
                #expect(items.count <= 2)
                seen += items.compactMap { $0["id"] as? String }
                cursor = try page.json["next_cursor"] as? String
            } while cursor != nil && pages < 10
            #expect(pages == 3, "5 clusters in pages of 2")
            #expect(seen.count == created.count, "every cluster once: \(seen)")
            #expect(Set(seen) == Set(created))

            for query in ["limit=0", "limit=201", "cursor=%%%", "cursor=bm9wZQ"] {
                let reply = try await client.send(.get, "/v1/clusters?\(query)", auth: world.admin.basic)
                #expect(reply.status == .badRequest, "\(query): \(reply.text)")
                #expect(reply.error.code == "invalid_field")
            }
        }
    }

    @Test(arguments: ["not-a-cluster", "1234", "..%2F..%2Fetc"])
    func malformedIDsAreNotFound(_ id: String) async throws {
        let world = try await TestWorld.make()
        try await world.test { client in
            for (method, path) in [
                (HTTPRequest.Method.get, "/v1/clusters/\(id)"), (.delete, "/v1/clusters/\(id)"),
                (.post, "/v1/clusters/\(id)/webhook-credential"), (.post, "/v1/clusters/\(id)/token"),
            ] {
                let reply = try await client.send(method, path, auth: world.admin.basic)
                #expect(reply.status == .notFound, "\(method) \(path): \(reply.text)")
            }
        }
    }

    // MARK: Helpers

    private static func expectNoClusters(_ client: any TestClientProtocol, _ world: TestWorld) async throws {
        let listed = try await client.send(.get, "/v1/clusters", auth: world.admin.basic)
        #expect((try listed.json["items"] as? [Any])?.isEmpty == true, "a refused create stored something: \(listed.text)")
        let audit = try await client.send(.get, "/v1/audit-events", auth: world.admin.basic)
        #expect(!audit.text.contains("cluster."), "a refused create was audited: \(audit.text)")
    }
}
