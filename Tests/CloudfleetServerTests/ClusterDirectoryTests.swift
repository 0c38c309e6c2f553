import CloudfleetCore
import CloudfleetStore
import CloudfleetStoreSQLite
import Foundation
import Testing

@testable import CloudfleetServer

/// The webhook's cluster look-ups: one store read serves every caller that asks while it runs, and a change made
/// during a read is never hidden behind that read's answer.
@Suite struct ClusterDirectoryTests {
    private struct Setup {
        let world: TestWorld
        let store: CountingStore
        let services: AppServices
        let cluster: Cluster

        var directory: ClusterDirectory { services.clusters.directory }

        static func make() async throws -> Setup {
            // A stopped clock: an entry's age must not depend on how long a loaded machine takes to gather the
            // callers (under the full suite the first test once took over the entries' 5 s and read twice).
            let now = Date()
            let world = try await TestWorld.make(now: { now })
            let store = CountingStore(world.store)
            var dependencies = world.dependencies
            dependencies.store = store
            let services = AppServices(dependencies: dependencies)
            let cluster = try await services.clusters.create(
                name: try ClusterName("prod"), apiEndpoint: "https://203.0.113.10:6443", caBundle: nil, organization: world.home,
                context: AuditContext(actor: "test"))
            return Setup(world: world, store: store, services: services, cluster: cluster)
        }

        func close() async throws { try await world.close() }
    }

    @Test func concurrentCallersShareOneStoreRead() async throws {
        let setup = try await Setup.make()
        let readers = 16
        setup.store.clusterGate.close()
        try await withThrowingTaskGroup(of: Cluster?.self) { group in
            for _ in 0..<readers {
                group.addTask { try await setup.directory.cluster(setup.cluster.id) }
            }
            // The first caller's read is held at the gate; every other caller must be waiting for it.
            let joined = await waitUntil { setup.directory.joinedReads == readers - 1 }
            setup.store.clusterGate.open()
            #expect(joined, "\(setup.directory.joinedReads) of \(readers - 1) callers joined the read in flight")
            for try await found in group {
                #expect(found?.id == setup.cluster.id)
            }
        }
        #expect(setup.store.clusterLookups == 1)
        // The answer is kept: the next call reads nothing.
        #expect(try await setup.directory.cluster(setup.cluster.id)?.id == setup.cluster.id)
        #expect(setup.store.clusterLookups == 1)
        try await setup.close()
    }

    @Test func aChangeDuringAReadIsNotHiddenByItsAnswer() async throws {
        let setup = try await Setup.make()
        setup.store.clusterGate.close()
        let inFlight = Task { try await setup.directory.cluster(setup.cluster.id) }
        #expect(await waitUntil { setup.store.clusterLookups == 1 })
        // The read has the cluster as it was; now its webhook credential is replaced, which invalidates the entry.
        let issued = try await setup.services.clusters.issueWebhookCredential(
            setup.cluster.id, organization: setup.world.home, context: AuditContext(actor: "test"))
        setup.store.clusterGate.open()
        #expect(try await inFlight.value?.webhookCredentialDigest == nil, "the read started before the change")

        let current = try await setup.directory.cluster(setup.cluster.id)
        #expect(current?.webhookCredentialDigest == setup.services.hasher.digest(issued.credential))
        #expect(setup.store.clusterLookups == 2, "the stale answer was not kept")
        try await setup.close()
    }

    @Test func aFailedReadIsNotKept() async throws {
        let setup = try await Setup.make()
        try await setup.world.store.close()
        await #expect(throws: (any Error).self) { try await setup.directory.cluster(setup.cluster.id) }
        await #expect(throws: (any Error).self) { try await setup.directory.cluster(setup.cluster.id) }
        #expect(setup.store.clusterLookups == 2, "each call after a failure reads again")
        try? FileManager.default.removeItem(at: setup.world.directory)
    }

    /// Yields until `condition` holds; false after 10 s, so that a broken directory fails the test, not hangs it.
    private func waitUntil(_ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            guard ContinuousClock.now < deadline else { return false }
            await Task.yield()
        }
        return true
    }
}
