// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "ferry",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ferry", targets: ["ferry"]),
        .library(name: "FerryAgent", targets: ["FerryAgent"]),
        .library(name: "FerryTesting", targets: ["FerryTesting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk", from: "0.12.1"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.7.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
    ],
    targets: [
        .target(name: "FerryCore", dependencies: [.product(name: "Logging", package: "swift-log")]),
        .target(
            name: "FerryModels",
            dependencies: [
                "FerryCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .target(
            name: "FerrySandbox",
            dependencies: [
                "FerryCore", .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .target(
            name: "FerryWorkspace",
            dependencies: [
                "FerryCore", "FerrySandbox", .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .target(
            name: "FerryLocal",
            dependencies: [
                "FerryCore", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .target(name: "FerryStore", dependencies: ["FerryCore", .product(name: "GRDB", package: "GRDB.swift")]),
        .target(
            name: "FerryAgent",
            dependencies: [
                "FerryCore", "FerryModels", "FerrySandbox", "FerryWorkspace", "FerryStore", "FerryLocal", "FerryIndex",
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .target(
            name: "FerryIndex",
            dependencies: [
                "FerryCore", "FerryWorkspace",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "FerryAssist",
            dependencies: [
                "FerryCore", "FerryAgent", "FerryIndex", "FerryModels", "FerryStore", "FerryWorkspace",
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The team server's records: tenants and keys, projects, the queue, audit, the webhook outbox, budgets and
        // the dashboard's records, on SQLite (embedded) or PostgreSQL (the run store's PostgreSQL back end too).
        .target(
            name: "FerryServerStore",
            dependencies: [
                "FerryCore", "FerryStore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .target(
            name: "FerryServer",
            dependencies: [
                "FerryCore", "FerryAgent", "FerryAssist", "FerryIndex", "FerryModels", "FerryServerStore", "FerryStore",
                "FerryWorkspace", "FerryLocal", "FerryForge", "FerryEval",
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            resources: [.copy("Resources/openapi.yaml")]
        ),
        // Issues in, pull requests out: the forges' webhooks read and verified, what a project does with them.
        .target(
            name: "FerryForge",
            dependencies: [
                "FerryCore", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        // The web dashboard: server-rendered pages over the API's rules, added to the server by the CLI.
        .target(
            name: "FerryDashboard",
            dependencies: [
                "FerryCore", "FerryServer", "FerryServerStore", "FerryStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            resources: [.copy("Resources/dashboard")]
        ),
        .target(
            name: "FerryEval",
            dependencies: [
                "FerryCore", "FerryAgent", "FerryModels", "FerrySandbox", "FerryStore", "FerryWorkspace",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ]
        ),
        .target(
            name: "FerryTesting",
            dependencies: [
                "FerryCore", "FerrySandbox", "FerryWorkspace",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "ferry",
            dependencies: [
                "FerryAgent", "FerryEval", "FerryIndex", "FerryCore", "FerryModels", "FerryStore",
                "FerryWorkspace", "FerryLocal", "FerryServer", "FerryDashboard", "FerryAssist", "FerryForge",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "ferry-index-bench",
            dependencies: ["FerryIndex", "FerryCore", "FerryWorkspace"],
            path: "bench/IndexBench"
        ),
        .target(
            name: "FerryFuzz", dependencies: ["FerryCore", "FerryModels", "FerryWorkspace"],
            path: "bench/Fuzz/FerryFuzz"),
        .executableTarget(name: "ferry-fuzz", dependencies: ["FerryFuzz"], path: "bench/Fuzz/main"),
        .executableTarget(
            name: "ferry-bench",
            dependencies: [
                "FerryAgent", "FerryTesting", "FerryStore", "FerryModels", "FerryCore", "FerrySandbox",
                "FerryWorkspace",
            ],
            path: "bench/FerryBench"
        ),
        .executableTarget(
            name: "ferry-server-bench",
            dependencies: [
                "FerryCore", "FerryServer", "FerryServerStore", "FerryDashboard", "FerrySandbox", "FerryStore",
                "FerryTesting", .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "bench/ServerBench"
        ),
        .testTarget(name: "FerryCoreTests", dependencies: ["FerryCore"]),
        .testTarget(
            name: "FerryForgeTests",
            dependencies: ["FerryForge", "FerryCore", "FerryTesting", .product(name: "JWTKit", package: "jwt-kit")],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "FerryAssistTests",
            dependencies: [
                "FerryAgent", "FerryAssist", "FerryCore", "FerryIndex", "FerryModels", "FerryTesting",
                .product(name: "MCP", package: "swift-sdk"),
                // Declared so the C shims under FerryTesting's server (swift-numerics) reach this module's build.
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        .testTarget(
            name: "FerryModelsTests",
            dependencies: [
                "FerryCore", "FerryModels", "FerryAgent", "FerryTesting",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "FerrySandboxTests",
            dependencies: [
                "FerryCore", "FerrySandbox", "FerryTesting",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "FerryWorkspaceTests",
            dependencies: [
                "FerryCore", "FerrySandbox", "FerryWorkspace", "FerryTesting",
                // Declared so the C shims under FerryTesting's server (swift-numerics) reach this module's build.
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        .testTarget(
            name: "FerryIndexTests",
            dependencies: [
                "FerryAgent", "FerryCore", "FerryIndex", "FerryModels", "FerrySandbox", "FerryTesting",
                "FerryWorkspace",
            ]
        ),
        .testTarget(
            name: "FerryLocalTests",
            dependencies: [
                "FerryAgent", "FerryCore", "FerryLocal", "FerrySandbox",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "FerryEvalTests",
            dependencies: ["FerryAgent", "FerryCore", "FerryEval", "FerryModels", "FerryTesting", "FerryWorkspace"]
        ),
        .testTarget(
            name: "FerryAgentTests",
            dependencies: [
                "FerryAgent", "FerryCore", "FerryEval", "FerryModels", "FerrySandbox", "FerryStore", "FerryTesting",
                "FerryWorkspace", .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "FerryCLITests",
            dependencies: [
                "FerryCore", "FerrySandbox", "FerryStore", "FerryTesting", "FerryWorkspace",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .testTarget(name: "FerryFuzzTests", dependencies: ["FerryFuzz"]),
        .testTarget(
            name: "FerryServerTests",
            dependencies: [
                "FerryServer", "FerryDashboard", "FerryServerStore", "FerryAgent", "FerryCore", "FerryModels",
                "FerryStore", "FerryTesting", "FerryAssist",
                "FerryLocal", "FerrySandbox", "FerryWorkspace",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
    ]
)
