import Hummingbird

extension TokenResponse: ResponseEncodable {}
extension TokenWithSecretResponse: ResponseEncodable {}
extension ListResponse: ResponseEncodable {}
extension OrganizationResponse: ResponseEncodable {}
extension AuditEventResponse: ResponseEncodable {}
