import CloudfleetServer
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct EventLoopThreadsTests {
    @Test func aPinnedServerRunsOneLoopPerCPUItMayUse() {
        #expect(EventLoopThreads.count(coreCount: 2, affinity: 1, environment: [:]) == 1)
        #expect(EventLoopThreads.count(coreCount: 16, affinity: 4, environment: [:]) == 4)
    }

    @Test func nioKeepsItsChoiceWhenEveryCPUIsAllowedOrTheAffinityIsUnknown() {
        #expect(EventLoopThreads.count(coreCount: 2, affinity: 2, environment: [:]) == nil)
        // A cgroup quota NIO already counted is lower than the affinity: NIO's count stands.
        #expect(EventLoopThreads.count(coreCount: 2, affinity: 8, environment: [:]) == nil)
        #expect(EventLoopThreads.count(coreCount: 2, affinity: nil, environment: [:]) == nil)
        #expect(EventLoopThreads.count(coreCount: 2, affinity: 0, environment: [:]) == nil)
    }

    @Test func theOperatorsEnvironmentVariableWins() {
        #expect(EventLoopThreads.count(coreCount: 2, affinity: 1, environment: ["NIO_SINGLETON_GROUP_LOOP_COUNT": "4"]) == nil)
    }

    @Test func theAllowedCPUsAreCountedFromTheMask() {
        #expect(EventLoopThreads.allowedCPUCount(status: "Name:\tx\nCpus_allowed:\t2\nCpus_allowed_list:\t1\n") == 1)
        #expect(EventLoopThreads.allowedCPUCount(status: "Cpus_allowed:\tffffffff,ffffffff\n") == 64)
        #expect(EventLoopThreads.allowedCPUCount(status: "Cpus_allowed:\t0,00000005\n") == 2)
        #expect(EventLoopThreads.allowedCPUCount(status: "Cpus_allowed:\tzz\n") == nil)
        #expect(EventLoopThreads.allowedCPUCount(status: "Name:\tx\n") == nil)
    }

    @Test func theAffinityOfThisProcessIsRead() throws {
        #if os(Linux)
        let count = try #require(EventLoopThreads.affinityCPUCount())
        #expect(count >= 1)
        #expect(count <= sysconf(Int32(_SC_NPROCESSORS_CONF)))
        #endif
    }
}
