// swift-tools-version:6.2
import PackageDescription

// One host binary (`gateway`), the C ABI every plugin is built against, the Swift SDK
// for plugin authors, and the plugins themselves, each a `.dynamic` library that the
// host finds beside its binary after `swift build`.
// Our own targets treat every compiler warning as an error (packages we depend on are not
// affected): a warning is a defect, and CI fails on one.
let strict: [SwiftSetting] = [.treatAllWarnings(as: .error)]
let strictC: [CSetting] = [.treatAllWarnings(as: .error)]

let package = Package(
    name: "gateway",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "gateway", targets: ["gateway"]),
        .library(name: "PluginKit", targets: ["PluginKit"]),
        // The host as a library: for the fuzzing harnesses in Fuzz/ (a package of their own).
        .library(name: "GatewayHost", targets: ["Host"]),
        .library(name: "ArrowFormat", type: .dynamic, targets: ["ArrowFormat"]),
        .library(name: "XlsxExport", type: .dynamic, targets: ["XlsxExport"]),
        .library(name: "HttpPager", type: .dynamic, targets: ["HttpPager"]),
        .library(name: "HttpJson", type: .dynamic, targets: ["HttpJson"]),
        .library(name: "HttpWriter", type: .dynamic, targets: ["HttpWriter"]),
        .library(name: "JushuitanConnector", type: .dynamic, targets: ["JushuitanConnector"]),
        // A small real source plugin written with PluginKit; the docs' Swift example.
        .library(name: "SequenceSource", type: .dynamic, targets: ["SequenceSource"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // The shared store of several gateways (store.url): PostgresClient's pool, COPY, transactions.
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // Identity providers' JWTs (auth.jwt): JWKS keys, RS/PS/ES/EdDSA signatures.
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
    ],
    targets: [
        // The C ABI: one header, the whole contract between host and plugins.
        .target(name: "PluginABI", path: "Sources/PluginABI", cSettings: strictC),
        .systemLibrary(
            name: "CSQLite", path: "Sources/CSQLite", pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(
            name: "COpenSSL", path: "Sources/COpenSSL", pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]),
        .target(name: "SQLiteTuning", path: "Sources/SQLiteTuning", cSettings: strictC, linkerSettings: [.linkedLibrary("sqlite3")]),
        .target(name: "CLinuxExtras", path: "Sources/CLinuxExtras", cSettings: strictC),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        // ISA-L's deflate when the machine has it (libisal-dev to build it in), opened at run
        // time: see include/fast_deflate.h.
        .target(name: "CFastDeflate", path: "Sources/CFastDeflate", cSettings: strictC, linkerSettings: [.linkedLibrary("dl")]),
        .target(name: "PluginKit", dependencies: ["PluginABI", "CZlib", "CFastDeflate", "CLinuxExtras"], path: "Sources/PluginKit", swiftSettings: strict),
        .target(
            name: "Host",
            dependencies: [
                "PluginABI", "PluginKit", "CSQLite", "COpenSSL", "SQLiteTuning", "CLinuxExtras",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "JWTKit", package: "jwt-kit"),
            ],
            path: "Sources/Host",
            // The console page and the OpenAPI description travel inside the binary.
            resources: [.embedInCode("APIs/Console/console.html"), .embedInCode("APIs/OpenAPI/openapi.json")],
            swiftSettings: strict),
        .executableTarget(
            name: "gateway",
            dependencies: [
                "Host",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/gateway", swiftSettings: strict),
        .target(name: "ArrowFormat", dependencies: ["PluginKit"], path: "Plugins/ArrowFormat", swiftSettings: strict),
        .target(name: "XlsxExport", dependencies: ["PluginKit", "CZlib"], path: "Plugins/XlsxExport", swiftSettings: strict),
        .target(name: "HttpPager", dependencies: ["PluginKit"], path: "Plugins/HttpPager", swiftSettings: strict),
        .target(name: "HttpJson", dependencies: ["PluginKit", "COpenSSL"], path: "Plugins/HttpJson", swiftSettings: strict),
        .target(name: "HttpWriter", dependencies: ["PluginKit"], path: "Plugins/HttpWriter", swiftSettings: strict),
        .target(name: "JushuitanConnector", dependencies: ["PluginKit"], path: "Plugins/JushuitanConnector", swiftSettings: strict),
        .target(name: "SequenceSource", dependencies: ["PluginKit"], path: "Examples/SequenceSource", swiftSettings: strict),
        // Benchmark harness for bench/xlsx_bench.py (not shipped).
        .executableTarget(name: "xlsx-bench", dependencies: ["Host", "PluginKit"], path: "bench/XlsxBench", swiftSettings: strict),
        // Hummingbird alone, the floor under /healthz in bench/small_requests.py (not shipped).
        .executableTarget(
            name: "bare-hummingbird", dependencies: [.product(name: "Hummingbird", package: "hummingbird")], path: "bench/BareHummingbird",
            swiftSettings: strict),
        .testTarget(
            name: "GatewayTests",
            dependencies: [
                "Host", "PluginKit", "PluginABI", "JushuitanConnector",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            path: "Tests/GatewayTests",
            exclude: ["Fixtures"],
            swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
