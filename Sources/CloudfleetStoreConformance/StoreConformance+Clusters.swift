import CloudfleetCore
import CloudfleetStore
import Foundation

// MARK: Clusters

extension StoreConformance {
    static func clusterRoundTrip(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        let pem = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ0Y=\n-----END CERTIFICATE-----\n"
        let digest = Fixtures.hasher.digest(WebhookCredential.generate())
        // Whole microseconds that a store rounding to milliseconds or seconds would lose.
        let createdAt = Date(timeIntervalSince1970: 1_700_000_000.123_457)
        let updatedAt = Date(timeIntervalSince1970: 1_700_000_100.654_321)
        let full = try Fixtures.cluster(
            organization.id, name: "prod-eu-1", apiEndpoint: "https://10.0.0.1:6443/prefix", caBundle: pem,
            webhookCredentialDigest: digest, createdAt: createdAt, updatedAt: updatedAt)
        try await store.createCluster(full, audit: Fixtures.clusterAudit(organization.id, .clusterCreate, full.id))
        let bare = try Fixtures.cluster(organization.id, name: "dev", createdAt: Fixtures.now())
        try await store.createCluster(bare, audit: Fixtures.clusterAudit(organization.id, .clusterCreate, bare.id))

        guard let fetched = try await store.cluster(id: full.id) else { throw ConformanceFailure("cluster not found") }
        try check(fetched.id == full.id && fetched.organizationID == organization.id, "identity round-trips")
        try check(fetched.name.rawValue == "prod-eu-1", "name round-trips: \(fetched.name)")
        try check(fetched.apiEndpoint == "https://10.0.0.1:6443/prefix", "api endpoint round-trips: \(fetched.apiEndpoint)")
        try check(fetched.caBundle == pem, "the CA bundle round-trips byte for byte")
        try check(fetched.webhookCredentialDigest == digest, "the webhook credential digest round-trips")
        try check(sameInstant(fetched.createdAt, createdAt), "created_at round-trips to the microsecond: \(fetched.createdAt)")
        try check(sameInstant(fetched.updatedAt, updatedAt), "updated_at round-trips to the microsecond: \(fetched.updatedAt)")
        try check(fetched.createdBy == "conformance", "created_by round-trips")
        try check(sameCluster(fetched, full), "the whole cluster round-trips")

        guard let fetchedBare = try await store.cluster(id: bare.id) else { throw ConformanceFailure("second cluster not found") }
        try check(fetchedBare.caBundle == nil, "a missing CA bundle stays nil")
        try check(fetchedBare.webhookCredentialDigest == nil, "no webhook credential until one is issued")
        try check(sameInstant(fetchedBare.updatedAt, bare.createdAt), "updated_at starts at created_at")
        try check(sameCluster(fetchedBare, bare), "the bare cluster round-trips")

        try check(try await store.cluster(id: .generate()) == nil, "a missing cluster is nil")
        let events = try await store.listAuditEvents(organization: organization.id, after: nil, limit: 100).items
        let created = events.filter { $0.action == .clusterCreate }
        try check(
            Set(created.map(\.targetID)) == [full.id.description, bare.id.description] && created.count == 2,
            "one audit event per created cluster")
        try check(created.allSatisfy { $0.targetType == "cluster" }, "audit events keep their target type")
    }

    static func clusterDuplicateName(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        let other = try await Fixtures.makeOrganization(in: store, "Other")
        let first = try await Fixtures.makeCluster(in: store, organization.id, name: "prod")

        let clash = try Fixtures.cluster(organization.id, name: "prod")
        try await checkThrows(StoreError.alreadyExists) {
            try await store.createCluster(clash, audit: Fixtures.clusterAudit(organization.id, .clusterCreate, clash.id))
        }
        try check(try await store.cluster(id: clash.id) == nil, "the clashing cluster was not stored")

        let sameID = try Fixtures.cluster(organization.id, id: first.id, name: "staging")
        try await checkThrows(StoreError.alreadyExists) {
            try await store.createCluster(sameID, audit: Fixtures.clusterAudit(organization.id, .clusterCreate, sameID.id))
        }
        let sameIDElsewhere = try Fixtures.cluster(other.id, id: first.id, name: "elsewhere")
        try await checkThrows(StoreError.alreadyExists) {
            try await store.createCluster(sameIDElsewhere, audit: Fixtures.clusterAudit(other.id, .clusterCreate, first.id))
        }
        try check(sameCluster(try await store.cluster(id: first.id), first), "the first cluster is unchanged")
        let listed = try await store.listClusters(organization: organization.id, after: nil, limit: 100).items
        try check(listed.map(\.id) == [first.id], "only the first cluster is listed: \(listed.map(\.id))")
        let events = try await store.listAuditEvents(organization: organization.id, after: nil, limit: 100).items
        try check(events.filter { $0.action == .clusterCreate }.count == 1, "no audit event for a failed create")
        try check(
            try await store.listAuditEvents(organization: other.id, after: nil, limit: 100).items.allSatisfy { $0.action != .clusterCreate },
            "no audit event for the failed create in the other organization")

        let theirs = try await Fixtures.makeCluster(in: store, other.id, name: "prod")
        try check(sameCluster(try await store.cluster(id: theirs.id), theirs), "the same name in another organization is stored")
        try check(
            try await store.listClusters(organization: other.id, after: nil, limit: 100).items.map(\.id) == [theirs.id],
            "the other organization lists its own cluster")
        try check(sameCluster(try await store.cluster(id: first.id), first), "the first cluster is still unchanged")
    }

    static func clusterDelete(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        let other = try await Fixtures.makeOrganization(in: store, "Other")
        let doomed = try await Fixtures.makeCluster(in: store, organization.id, name: "doomed")
        let kept = try await Fixtures.makeCluster(in: store, organization.id, name: "kept")
        let theirs = try await Fixtures.makeCluster(in: store, other.id, name: "theirs")

        try await store.deleteCluster(
            id: doomed.id, organization: organization.id, audit: Fixtures.clusterAudit(organization.id, .clusterDelete, doomed.id))
        try check(try await store.cluster(id: doomed.id) == nil, "the deleted cluster is gone")
        let listed = try await store.listClusters(organization: organization.id, after: nil, limit: 100).items.map(\.id)
        try check(listed == [kept.id], "only the remaining cluster is listed: \(listed)")
        try check(sameCluster(try await store.cluster(id: kept.id), kept), "other clusters stay")

        for (id, scope) in [(doomed.id, organization.id), (ClusterID.generate(), organization.id), (theirs.id, organization.id), (kept.id, other.id)]
        {
            try await checkThrows(StoreError.notFound) {
                try await store.deleteCluster(id: id, organization: scope, audit: Fixtures.clusterAudit(scope, .clusterDelete, id))
            }
        }
        try check(sameCluster(try await store.cluster(id: theirs.id), theirs), "another organization's cluster is untouched")
        try check(sameCluster(try await store.cluster(id: kept.id), kept), "a cluster is untouched by another organization's delete")

        let events = try await store.listAuditEvents(organization: organization.id, after: nil, limit: 100).items
        let deletions = events.filter { $0.action == .clusterDelete }
        try check(
            deletions.count == 1 && deletions.first?.targetID == doomed.id.description,
            "one audit event, for the successful delete: \(deletions.map(\.targetID))")
        let otherEvents = try await store.listAuditEvents(organization: other.id, after: nil, limit: 100).items
        try check(!otherEvents.contains { $0.action == .clusterDelete }, "a failed delete writes no audit event")

        // The name of a deleted cluster is free again.
        let again = try await Fixtures.makeCluster(in: store, organization.id, name: "doomed")
        try check(sameCluster(try await store.cluster(id: again.id), again), "a deleted cluster's name can be reused")
    }

    static func clusterWebhookCredential(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        let other = try await Fixtures.makeOrganization(in: store, "Other")
        let cluster = try await Fixtures.makeCluster(in: store, organization.id, name: "prod", createdAt: Fixtures.now(offset: -120))

        let digest = Fixtures.hasher.digest(WebhookCredential.generate())
        let later = Fixtures.now(offset: 60)
        let issued = try await store.replaceWebhookCredential(
            id: cluster.id, organization: organization.id, digest: digest, at: later,
            audit: Fixtures.clusterAudit(organization.id, .clusterWebhookCredentialIssue, cluster.id))
        try check(issued.webhookCredentialDigest == digest, "the returned cluster has the new digest")
        try check(sameInstant(issued.updatedAt, later), "updated_at moved: \(issued.updatedAt)")
        try check(sameInstant(issued.createdAt, cluster.createdAt), "created_at kept")
        var expected = cluster
        expected.webhookCredentialDigest = digest
        expected.updatedAt = later
        try check(sameCluster(issued, expected), "nothing else changed")
        try check(sameCluster(try await store.cluster(id: cluster.id), issued), "the returned cluster is the stored one")

        let replacement = Fixtures.hasher.digest(WebhookCredential.generate())
        let latest = Fixtures.now(offset: 90)
        let reissued = try await store.replaceWebhookCredential(
            id: cluster.id, organization: organization.id, digest: replacement, at: latest,
            audit: Fixtures.clusterAudit(organization.id, .clusterWebhookCredentialIssue, cluster.id))
        try check(reissued.webhookCredentialDigest == replacement && replacement != digest, "a new credential replaces the old one")
        try check(sameInstant(reissued.updatedAt, latest), "updated_at moved again")

        for (id, scope) in [(cluster.id, other.id), (ClusterID.generate(), organization.id)] {
            try await checkThrows(StoreError.notFound) {
                _ = try await store.replaceWebhookCredential(
                    id: id, organization: scope, digest: Fixtures.hasher.digest(WebhookCredential.generate()), at: Fixtures.now(offset: 300),
                    audit: Fixtures.clusterAudit(scope, .clusterWebhookCredentialIssue, id))
            }
        }
        try check(sameCluster(try await store.cluster(id: cluster.id), reissued), "failed replacements change nothing")

        let events = try await store.listAuditEvents(organization: organization.id, after: nil, limit: 100).items
        let issues = events.filter { $0.action == .clusterWebhookCredentialIssue }
        try check(
            issues.count == 2 && issues.allSatisfy { $0.targetID == cluster.id.description },
            "one audit event per successful issue: \(issues.count)")
        let otherEvents = try await store.listAuditEvents(organization: other.id, after: nil, limit: 100).items
        try check(!otherEvents.contains { $0.action == .clusterWebhookCredentialIssue }, "a failed replacement writes no audit event")
    }

    static func clusterPagination(_ store: some Store) async throws {
        let organization = try await Fixtures.makeOrganization(in: store)
        let other = try await Fixtures.makeOrganization(in: store, "Other")
        let empty = try await store.listClusters(organization: organization.id, after: nil, limit: 10)
        try check(empty.items.isEmpty && empty.next == nil, "an empty list has no next page")

        let base = Fixtures.now()
        var created: [ClusterID] = []
        // Two clusters share each creation time, so the ID must break ties; the other organization's clusters
        // interleave with them.
        for index in 0..<7 {
            let at = base.addingTimeInterval(Double(index / 2))
            created.append(try await Fixtures.makeCluster(in: store, organization.id, createdAt: at).id)
            if index.isMultiple(of: 3) { try await Fixtures.makeCluster(in: store, other.id, createdAt: at) }
        }

        var seen: [ClusterID] = []
        var pages = 0
        var cursor: ClusterCursor?
        repeat {
            let page = try await store.listClusters(organization: organization.id, after: cursor, limit: 2)
            pages += 1
            try check(page.items.count == (pages < 4 ? 2 : 1), "page \(pages) holds \(page.items.count) clusters")
            if let next = page.next {
                try check(next.id == page.items.last?.id, "the cursor points at the last cluster of the page")
                try check(sameInstant(next.createdAt, page.items.last?.createdAt), "the cursor carries its creation time")
            }
            seen += page.items.map(\.id)
            cursor = page.next
        } while cursor != nil && pages < 10
        try check(pages == 4, "seven clusters in pages of two make four pages, got \(pages)")
        try check(Set(seen) == Set(created) && seen.count == created.count, "every cluster exactly once across pages")

        let ordered = try await store.listClusters(organization: organization.id, after: nil, limit: 100)
        try check(ordered.next == nil && ordered.items.map(\.id) == seen, "pages follow the list order")
        try check(
            zip(ordered.items, ordered.items.dropFirst()).allSatisfy { ($0.createdAt, $0.id.description) < ($1.createdAt, $1.id.description) },
            "ordered by creation time, then ID")
        let exact = try await store.listClusters(organization: organization.id, after: nil, limit: 7)
        try check(exact.items.count == 7 && exact.next == nil, "a full last page has no next page")
        let one = try await store.listClusters(organization: organization.id, after: nil, limit: 1)
        try check(one.items.map(\.id) == [seen[0]] && one.next != nil, "the limit holds")

        let theirs = try await store.listClusters(organization: other.id, after: nil, limit: 100).items
        try check(theirs.count == 3 && theirs.allSatisfy { $0.organizationID == other.id }, "organizations are isolated")
        try check(Set(theirs.map(\.id)).isDisjoint(with: created), "no cluster of one organization in another's list")

        // A cluster inserted before the cursor does not shift the next page.
        let first = try await store.listClusters(organization: organization.id, after: nil, limit: 2)
        let early = try await Fixtures.makeCluster(in: store, organization.id, createdAt: base.addingTimeInterval(-10))
        let rest = try await store.listClusters(organization: organization.id, after: first.next, limit: 100)
        try check(rest.items.map(\.id) == Array(seen.dropFirst(2)), "the next page is unchanged by an earlier insert")
        try check(!rest.items.contains { $0.id == early.id }, "the earlier cluster is not on a later page")
    }
}
