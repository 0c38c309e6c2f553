import CloudfleetCore
import CloudfleetStore
import Foundation
import Logging
import Synchronization

/// Writes audit events for refused authentications of known tokens, at most one per token and kind per
/// ``interval``: the next event carries how many were left out, so a flood cannot fill the disk but nothing
/// goes unnoticed.
final class FailureAuditor: Sendable {
    private struct Window {
        var writtenAt: Date
        var suppressed: Int
    }

    private let windows = Mutex<[String: Window]>([:])
    private let store: any Store
    private let interval: TimeInterval
    private let logger: Logger

    init(store: any Store, interval: TimeInterval = 60, logger: Logger) {
        self.store = store
        self.interval = interval
        self.logger = logger
    }

    /// Records that `action` refused token `tokenID` of `organization`, unless one was written recently.
    func record(
        _ action: AuditAction, tokenID: TokenID, organization: OrganizationID, sourceIP: String?, requestID: String?, reason: String,
        at now: Date
    ) {
        let key = "\(action.rawValue)/\(tokenID.rawValue)"
        let suppressed: Int? = windows.withLock { windows in
            if let window = windows[key], now.timeIntervalSince(window.writtenAt) < interval {
                windows[key]?.suppressed += 1
                return nil
            }
            if windows.count > 100_000 { windows.removeAll() }
            let left = windows[key]?.suppressed ?? 0
            windows[key] = Window(writtenAt: now, suppressed: 0)
            return left
        }
        guard let suppressed else { return }
        var details = ["reason": reason]
        if suppressed > 0 { details["suppressed_since_last"] = String(suppressed) }
        let event = AuditEvent(
            organizationID: organization, occurredAt: now, actor: "token:\(tokenID)", action: action, targetType: "token",
            targetID: tokenID.rawValue, sourceIP: sourceIP, requestID: requestID, outcome: "refused", details: details)
        let store = store
        let logger = logger
        Task {
            do {
                try await store.recordAuditEvent(event)
            } catch {
                logger.warning("could not record a refused authentication", metadata: ["error": "\(error)"])
            }
        }
    }
}
