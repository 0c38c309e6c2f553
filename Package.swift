// swift-tools-version:6.2
import PackageDescription

/// One list of settings shared by every target (architecture §8).
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

/// The web console's templates and static assets (Sources/CloudfleetServer/Console/Resources).
let consoleResources = [
    "layout.mustache", "sign_in.mustache", "link.mustache", "tokens.mustache", "token_new.mustache", "secret.mustache",
    "confirm.mustache", "users.mustache", "error.mustache", "console.css", "console.js",
]

let package = Package(
    name: "cloudfleet",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "cloudfleet-server", targets: ["cloudfleet-server"]),
        .executable(name: "cloudfleet", targets: ["cloudfleet"]),
        .library(name: "CloudfleetCore", targets: ["CloudfleetCore"]),
        .library(name: "CloudfleetStore", targets: ["CloudfleetStore"]),
        .library(name: "CloudfleetStoreConformance", targets: ["CloudfleetStoreConformance"]),
        .library(name: "CloudfleetServer", targets: ["CloudfleetServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.13.2"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/swift-extras/swift-extras-base64.git", from: "1.2.0"),
    ],
    targets: [
        .target(
            name: "CloudfleetCore",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CloudfleetStore",
            dependencies: ["CloudfleetCore"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CloudfleetStoreSQLite",
            dependencies: [
                "CloudfleetCore", "CloudfleetStore",
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CloudfleetStorePostgres",
            dependencies: [
                "CloudfleetCore", "CloudfleetStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CloudfleetStoreConformance",
            dependencies: ["CloudfleetCore", "CloudfleetStore"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CloudfleetAPI",
            resources: [.embedInCode("openapi.yaml")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CloudfleetServer",
            dependencies: [
                "CloudfleetCore", "CloudfleetStore", "CloudfleetStoreSQLite", "CloudfleetStorePostgres", "CloudfleetAPI",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ExtrasBase64", package: "swift-extras-base64"),
            ],
            // The console's templates and assets are compiled into the binary, like the OpenAPI document.
            resources: consoleResources.map { .embedInCode("Console/Resources/\($0)") },
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "cloudfleet-server",
            dependencies: [
                "CloudfleetServer", "CloudfleetCore", "CloudfleetStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CloudfleetClient",
            dependencies: [
                "CloudfleetCore", "CloudfleetAPI",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CloudfleetCLI",
            dependencies: [
                "CloudfleetClient", "CloudfleetCore", "CloudfleetAPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "cloudfleet",
            dependencies: ["CloudfleetCLI"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CloudfleetCLITests",
            dependencies: [
                "CloudfleetCLI", "CloudfleetClient", "CloudfleetAPI", "CloudfleetCore", "CloudfleetTestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"), .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        // Seeded randomness for the test targets (not shipped).
        .target(name: "CloudfleetTestSupport", path: "Tests/CloudfleetTestSupport", swiftSettings: swiftSettings),
        .testTarget(
            name: "CloudfleetCoreTests",
            dependencies: ["CloudfleetCore", "CloudfleetTestSupport", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CloudfleetStoreSQLiteTests",
            dependencies: ["CloudfleetStoreSQLite", "CloudfleetStoreConformance", .product(name: "SQLiteNIO", package: "sqlite-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CloudfleetStorePostgresTests",
            dependencies: [
                "CloudfleetStorePostgres", "CloudfleetStoreConformance",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CloudfleetServerTests",
            dependencies: [
                "CloudfleetServer", "CloudfleetTestSupport", "CloudfleetCore", "CloudfleetStore", "CloudfleetStoreSQLite", "CloudfleetAPI",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
