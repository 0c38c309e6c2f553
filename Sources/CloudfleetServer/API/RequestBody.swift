import Foundation
import Hummingbird

/// Reads JSON request bodies strictly: the content type must be JSON, the body at most the context's upload
/// limit, and errors name the offending field (400 for malformed input, 422 for values that break a rule).
enum RequestBody {
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, context: AppRequestContext) async throws -> T {
        guard let contentType = request.headers[.contentType], MediaType(from: contentType)?.isType(.applicationJson) == true else {
            throw APIError(.unsupportedMediaType, code: "unsupported_media_type", message: "Send the body as application/json.")
        }
        var request = request
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw APIError(decodingError: error)
        }
    }
}

extension APIError {
    init(decodingError error: DecodingError) {
        switch error {
        case .typeMismatch(_, let context) where context.codingPath.isEmpty:
            self = .badRequest("The body must be a JSON object.", code: "invalid_json")
        case .valueNotFound(_, let context) where context.codingPath.isEmpty:
            self = .badRequest("The body must be a JSON object.", code: "invalid_json")
        case .keyNotFound(let key, let context):
            self = .badRequest(
                "Missing field \(Self.path(context.codingPath + [key])).", field: Self.path(context.codingPath + [key]), code: "missing_field")
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            self = .badRequest(
                "Field \(Self.path(context.codingPath)) has the wrong type.", field: Self.path(context.codingPath), code: "invalid_type")
        case .dataCorrupted(let context) where !context.codingPath.isEmpty:
            self = .badRequest(
                "Field \(Self.path(context.codingPath)): \(context.debugDescription)", field: Self.path(context.codingPath), code: "invalid_field")
        default:
            self = .badRequest("The body is not valid JSON.", code: "invalid_json")
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map(\.stringValue).joined(separator: ".")
    }
}

/// Rejects JSON object members a request type does not know, naming the first one.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension KeyedDecodingContainer {
    /// Refuses an explicit `null` for `keys`: absent means "leave as it is", and a null is a mistake the caller
    /// should hear about, not a silent default.
    func rejectNull(_ keys: [Key], codingPath: [any CodingKey]) throws {
        for key in keys where try contains(key) && decodeNil(forKey: key) {
            throw DecodingError.valueNotFound(String.self, .init(codingPath: codingPath + [key], debugDescription: "must not be null"))
        }
    }
}

extension Decoder {
    func rejectUnknownKeys(allowed: Set<String>) throws {
        let container = try container(keyedBy: AnyKey.self)
        if let unknown = container.allKeys.first(where: { !allowed.contains($0.stringValue) }) {
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath + [unknown], debugDescription: "unknown field"))
        }
    }
}
