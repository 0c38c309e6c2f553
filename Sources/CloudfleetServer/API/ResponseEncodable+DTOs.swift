import CloudfleetAPI
import Hummingbird

extension Token: ResponseEncodable {}
extension TokenWithSecret: ResponseEncodable {}
extension ListPage: ResponseEncodable {}
extension OrganizationInfo: ResponseEncodable {}
extension AuditEventInfo: ResponseEncodable {}
extension ClusterInfo: ResponseEncodable {}
extension ClusterToken: ResponseEncodable {}
extension WebhookCredentialIssued: ResponseEncodable {}
