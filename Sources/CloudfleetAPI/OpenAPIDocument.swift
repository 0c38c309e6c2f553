/// The OpenAPI 3.1 document of the `/v1` API, the source of truth for clients and tests. The YAML file beside
/// this one is compiled into the binary, so the server serves it wherever it is installed.
public enum OpenAPIDocument {
    /// The document's bytes.
    public static var yaml: [UInt8] { PackageResources.openapi_yaml }
}
