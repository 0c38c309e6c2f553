import CloudfleetAPI
import HTTPTypes
import Hummingbird
import NIOCore

extension JSONWritable {
    /// A 200 answer with the value's JSON, with the headers Hummingbird's `JSONEncoder` path sets.
    func jsonResponse() -> Response {
        let bytes = jsonBytes
        return Response(status: .ok, headers: .json(length: bytes.count), body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

extension HTTPFields {
    /// `Content-Type` and `Content-Length` of a JSON body of `length` bytes, as Hummingbird's encoder sets them.
    ///
    /// The `Content-Type` field is made once: a literal was checked byte by byte for each answer, and the whole
    /// literal cost an authenticated request almost 1 % of its instructions. Room is made for the three fields that
    /// follow on every answer (`X-Request-ID`, `Date`, `Server`).
    static func json(length: Int) -> HTTPFields {
        var fields = HTTPFields()
        fields.reserveCapacity(5)
        fields.append(jsonContentType)
        fields.append(HTTPField(name: .contentLength, value: String(length)))
        return fields
    }

    private static let jsonContentType = HTTPField(name: .contentType, value: "application/json; charset=utf-8")
}

extension Token: ResponseGenerator {
    public func response(from request: Request, context: some RequestContext) -> Response { jsonResponse() }
}

extension TokenWithSecret: ResponseGenerator {
    public func response(from request: Request, context: some RequestContext) -> Response { jsonResponse() }
}

extension CurrentToken: ResponseGenerator {
    public func response(from request: Request, context: some RequestContext) -> Response { jsonResponse() }
}

extension ListPage: ResponseEncodable {}
extension OrganizationInfo: ResponseEncodable {}
extension AuditEventInfo: ResponseEncodable {}
extension ClusterInfo: ResponseEncodable {}
extension ClusterToken: ResponseEncodable {}
extension WebhookCredentialIssued: ResponseEncodable {}
