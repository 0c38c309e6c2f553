import CloudfleetStoreConformance
import CloudfleetStoreSQLite
import Foundation
import Testing

/// The shared store conformance suite on the SQLite backend, each case on a fresh database file.
@Suite struct SQLiteConformanceTests {
    @Test(arguments: StoreConformance.allCases)
    func conformance(_ testCase: StoreConformance) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cf-sqlite-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try await SQLiteStore.open(path: directory.appendingPathComponent("test.sqlite").path)
        try await store.migrate()
        do {
            try await testCase.run(on: store)
        } catch {
            try await store.close()
            throw error
        }
        try await store.close()
    }
}
