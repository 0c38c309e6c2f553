import CloudfleetCore
import CloudfleetStore
import Foundation

/// The shared suite every `Store` backend runs unchanged, each case on a fresh empty, migrated store.
///
/// Use it from a test target as `@Test(arguments: StoreConformance.allCases)`, then `try await case.run(on: store)`.
public enum StoreConformance: String, CaseIterable, Sendable, CustomStringConvertible {
    case migrateIsIdempotent
    case organizationRoundTrip
    case organizationDuplicate
    case tokenRoundTrip
    case tokenMissing
    case tokenDuplicateID
    case tokenDuplicateIDIgnoringCase
    case tokenUpdate
    case tokenUpdateMissingOrOtherOrganization
    case secretReplacement
    case tokenDelete
    case auditEventsWrittenWithChanges
    case failedChangeWritesNoAudit
    case auditPagination
    case tokenPagination
    case paginationStableUnderInserts
    case organizationsIsolated
    case usageWrittenBehind
    case signingKeys
    case signingKeyRotation
    case concurrentCreates
    case concurrentRegenerations
    case deleteRacingRegeneration
    case clusterRoundTrip
    case clusterDuplicateName
    case clusterDelete
    case clusterWebhookCredential
    case clusterPagination
    case tokenNewFieldsRoundTrip
    case secretReplacementWithGracePeriod
    case usageBySlot
    case tokenFilters
    case leakedSecretRevocation
    case tokenCountsByRole
    case organizationPolicy
    case auditFilters
    case standaloneAuditEvent
    case serviceCredentials
    case userRoundTrip
    case userDuplicate
    case userPagination
    case userCountByRole
    case userRoleUpdate
    case ssoSubjectBinding
    case userDelete
    case consoleSessions
    case expiredConsoleRecords
    case signInLinks
    case concurrentSignInLinkConsumption

    public var description: String { rawValue }

    /// Runs this case against `store`, throwing a ``ConformanceFailure`` when the contract is broken.
    public func run(on store: some Store) async throws {
        switch self {
        case .migrateIsIdempotent: try await Self.migrateIsIdempotent(store)
        case .organizationRoundTrip: try await Self.organizationRoundTrip(store)
        case .organizationDuplicate: try await Self.organizationDuplicate(store)
        case .tokenRoundTrip: try await Self.tokenRoundTrip(store)
        case .tokenMissing: try await Self.tokenMissing(store)
        case .tokenDuplicateID: try await Self.tokenDuplicateID(store, lowerCased: false)
        case .tokenDuplicateIDIgnoringCase: try await Self.tokenDuplicateID(store, lowerCased: true)
        case .tokenUpdate: try await Self.tokenUpdate(store)
        case .tokenUpdateMissingOrOtherOrganization: try await Self.tokenUpdateMissingOrOtherOrganization(store)
        case .secretReplacement: try await Self.secretReplacement(store)
        case .tokenDelete: try await Self.tokenDelete(store)
        case .auditEventsWrittenWithChanges: try await Self.auditEventsWrittenWithChanges(store)
        case .failedChangeWritesNoAudit: try await Self.failedChangeWritesNoAudit(store)
        case .auditPagination: try await Self.auditPagination(store)
        case .tokenPagination: try await Self.tokenPagination(store)
        case .paginationStableUnderInserts: try await Self.paginationStableUnderInserts(store)
        case .organizationsIsolated: try await Self.organizationsIsolated(store)
        case .usageWrittenBehind: try await Self.usageWrittenBehind(store)
        case .signingKeys: try await Self.signingKeys(store)
        case .signingKeyRotation: try await Self.signingKeyRotation(store)
        case .concurrentCreates: try await Self.concurrentCreates(store)
        case .concurrentRegenerations: try await Self.concurrentRegenerations(store)
        case .deleteRacingRegeneration: try await Self.deleteRacingRegeneration(store)
        case .clusterRoundTrip: try await Self.clusterRoundTrip(store)
        case .clusterDuplicateName: try await Self.clusterDuplicateName(store)
        case .clusterDelete: try await Self.clusterDelete(store)
        case .clusterWebhookCredential: try await Self.clusterWebhookCredential(store)
        case .clusterPagination: try await Self.clusterPagination(store)
        case .tokenNewFieldsRoundTrip: try await Self.tokenNewFieldsRoundTrip(store)
        case .secretReplacementWithGracePeriod: try await Self.secretReplacementWithGracePeriod(store)
        case .usageBySlot: try await Self.usageBySlot(store)
        case .tokenFilters: try await Self.tokenFilters(store)
        case .leakedSecretRevocation: try await Self.leakedSecretRevocation(store)
        case .tokenCountsByRole: try await Self.tokenCountsByRole(store)
        case .organizationPolicy: try await Self.organizationPolicy(store)
        case .auditFilters: try await Self.auditFilters(store)
        case .standaloneAuditEvent: try await Self.standaloneAuditEvent(store)
        case .serviceCredentials: try await Self.serviceCredentials(store)
        case .userRoundTrip: try await Self.userRoundTrip(store)
        case .userDuplicate: try await Self.userDuplicate(store)
        case .userPagination: try await Self.userPagination(store)
        case .userCountByRole: try await Self.userCountByRole(store)
        case .userRoleUpdate: try await Self.userRoleUpdate(store)
        case .ssoSubjectBinding: try await Self.ssoSubjectBinding(store)
        case .userDelete: try await Self.userDelete(store)
        case .consoleSessions: try await Self.consoleSessions(store)
        case .expiredConsoleRecords: try await Self.expiredConsoleRecords(store)
        case .signInLinks: try await Self.signInLinks(store)
        case .concurrentSignInLinkConsumption: try await Self.concurrentSignInLinkConsumption(store)
        }
    }
}
