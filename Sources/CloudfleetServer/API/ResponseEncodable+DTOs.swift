import CloudfleetAPI
import Hummingbird

extension Token: ResponseEncodable {}
extension TokenWithSecret: ResponseEncodable {}
extension ListPage: ResponseEncodable {}
extension OrganizationInfo: ResponseEncodable {}
extension AuditEventResponse: ResponseEncodable {}
