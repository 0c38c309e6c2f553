/// A broken store contract, thrown by a conformance case with what was expected and where.
public struct ConformanceFailure: Error, CustomStringConvertible {
    public let description: String

    init(_ message: String, file: StaticString = #fileID, line: UInt = #line) {
        self.description = "\(message) (\(file):\(line))"
    }
}

func check(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) throws {
    if !condition { throw ConformanceFailure(message(), file: file, line: line) }
}

func checkThrows<E: Error & Equatable>(
    _ expected: E, file: StaticString = #fileID, line: UInt = #line, _ body: () async throws -> Void
) async throws {
    do {
        try await body()
    } catch let error as E where error == expected {
        return
    } catch {
        throw ConformanceFailure("expected \(expected), got \(error)", file: file, line: line)
    }
    throw ConformanceFailure("expected \(expected), got success", file: file, line: line)
}
