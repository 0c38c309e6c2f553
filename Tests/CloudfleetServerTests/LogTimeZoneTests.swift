import CloudfleetServer
import Foundation
import Testing

@Suite struct LogTimeZoneTests {
    /// Unset, `TZ` names the file glibc would read anyway, so that `strftime` stops re-reading it on each log line.
    @Test func anUnsetTimeZoneNamesTheLocalFile() {
        #expect(LogTimeZone.value(environment: [:]) == ":/etc/localtime")
        #expect(LogTimeZone.value(environment: ["PATH": "/usr/bin"]) == ":/etc/localtime")
    }

    /// An operator's choice stands, an empty one (UTC to glibc) included.
    @Test func theOperatorsTimeZoneStands() {
        #expect(LogTimeZone.value(environment: ["TZ": "Europe/Berlin"]) == nil)
        #expect(LogTimeZone.value(environment: ["TZ": ""]) == nil)
        #expect(LogTimeZone.value(environment: ["TZ": ":/usr/share/zoneinfo/UTC"]) == nil)
    }
}
