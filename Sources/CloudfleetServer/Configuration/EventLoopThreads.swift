import Foundation
import NIOCore

/// How many event loop threads the server runs: one per CPU the process may actually use.
///
/// NIO counts the machine's CPUs, less any cgroup quota or cpuset, but not the process's CPU affinity, which
/// `taskset`, `numactl` and CPU pinning set. A server pinned to one CPU of two ran two event loops on it, and each
/// authenticated request then cost 1.4 context switches instead of 0.4, and the server lost about a tenth of its
/// throughput (bench/history.md). `NIO_SINGLETON_GROUP_LOOP_COUNT` still overrides the choice.
public enum EventLoopThreads {
    /// The loop count for `coreCount` CPUs (NIO's count) and an affinity of `affinity` CPUs; `nil` to leave NIO's
    /// choice, when the environment sets the count or the affinity allows every CPU.
    public static func count(coreCount: Int, affinity: Int?, environment: [String: String]) -> Int? {
        guard environment["NIO_SINGLETON_GROUP_LOOP_COUNT"] == nil, let affinity, affinity > 0, affinity < coreCount else {
            return nil
        }
        return affinity
    }

    /// The number of CPUs in this process's affinity mask, from `/proc/self/status`, if the system says.
    public static func affinityCPUCount() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        return allowedCPUCount(status: status)
    }

    /// The number of CPUs in the `Cpus_allowed` mask (hexadecimal, in comma-separated groups) of a
    /// `/proc/PID/status` text.
    public static func allowedCPUCount(status: String) -> Int? {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") }) else { return nil }
        var count = 0
        for character in line.dropFirst("Cpus_allowed:".count) where character != "," && !character.isWhitespace {
            guard let digit = character.hexDigitValue else { return nil }
            count += digit.nonzeroBitCount
        }
        return count > 0 ? count : nil
    }

    /// Sizes NIO's shared event loop group, which Hummingbird and the PostgreSQL pool use. Call once, first thing,
    /// before anything touches that group (NIO traps on a second call).
    public static func configure(environment: [String: String]) {
        if let count = count(coreCount: System.coreCount, affinity: affinityCPUCount(), environment: environment) {
            NIOSingletons.groupLoopCountSuggestion = count
        }
    }
}
